package influx

import (
	"github.com/hazardgw/hazardgw/internal/conf"
)

// MaxBatchSize bounds batch_size: InfluxDB advises batches of about 5000
// lines, and a much larger one risks request size limits and timeouts.
const MaxBatchSize = 100_000

// Validate reports problems of the `influxdb` section at path. It does no
// I/O: whether the server answers is the forwarder's business.
func (c *Config) Validate(path string, p *conf.Problems) {
	at := func(key string) string { return conf.Join(path, key) }
	if u := conf.CheckURL(p, at("url"), c.URL, "http", "https"); u != nil {
		conf.CheckHost(p, at("url"), u, false)
	}
	conf.Required(p, at("bucket"), c.Bucket)
	if c.BatchSize < 0 || c.BatchSize > MaxBatchSize {
		p.Addf(at("batch_size"), "must be between 1 and %d (got %d)", MaxBatchSize, c.BatchSize)
	}
	conf.NotNegative(p, at("flush_interval"), c.FlushInterval)
	conf.NotNegative(p, at("timeout"), c.Timeout)
	conf.NotNegative(p, at("alert_after"), c.AlertAfter)
}
