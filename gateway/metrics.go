package gateway

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hazardgw/hazardgw/gateway/spool"
)

// Collector exports the pipeline's, the spool's and the forwarder's
// counters to Prometheus. It reads them at scrape time, so the data path
// pays nothing for metrics.
type Collector struct {
	pipe  *Pipeline
	spool *spool.Spool
	fwd   *Forwarder
	now   func() time.Time
}

// NewCollector returns a collector for the given stages.
func NewCollector(p *Pipeline, sp *spool.Spool, f *Forwarder) *Collector {
	return &Collector{pipe: p, spool: sp, fwd: f, now: time.Now}
}

var (
	descAccepted = prometheus.NewDesc("hazardgw_points_accepted_total", "Points committed to the spool.", nil, nil)
	descInvalid  = prometheus.NewDesc("hazardgw_points_invalid_total", "Points refused before the spool (no measurement, no fields, NaN or infinite value).", nil, nil)
	descCommits  = prometheus.NewDesc("hazardgw_spool_commits_total", "Spool transactions (each fsync'd; one commits many points).", nil, nil)
	descCommitEr = prometheus.NewDesc("hazardgw_spool_commit_errors_total", "Spool transactions that failed.", nil, nil)
	descDropped  = prometheus.NewDesc("hazardgw_points_dropped_total", "Oldest points dropped because the spool reached spool_max_bytes.", nil, nil)
	descLost     = prometheus.NewDesc("hazardgw_points_lost_total", "Polled points (Modbus, the gateway's own reports) lost because their spool commit failed: a full or failing disk. MQTT messages are not lost that way: they stay with the broker and are retried.", nil, nil)
	descWritten  = prometheus.NewDesc("hazardgw_points_written_total", "Points stored in InfluxDB.", nil, nil)
	descDead     = prometheus.NewDesc("hazardgw_points_dead_lettered_total", "Points InfluxDB rejected for good, moved to the dead-letter bucket.", nil, nil)
	descRetries  = prometheus.NewDesc("hazardgw_sink_retries_total", "Failed InfluxDB writes that were retried.", nil, nil)
	descFailing  = prometheus.NewDesc("hazardgw_sink_failing", "1 while the last InfluxDB write failed.", nil, nil)
	descDepth    = prometheus.NewDesc("hazardgw_spool_points", "Points waiting in the spool.", nil, nil)
	descBytes    = prometheus.NewDesc("hazardgw_spool_bytes", "Size of the points waiting in the spool, as counted against spool_max_bytes.", nil, nil)
	descAge      = prometheus.NewDesc("hazardgw_spool_oldest_age_seconds", "Age of the oldest point waiting in the spool (0 when empty).", nil, nil)
	descDeadNow  = prometheus.NewDesc("hazardgw_spool_dead_letters", "Points in the dead-letter bucket.", nil, nil)
)

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descAccepted, descInvalid, descCommits, descCommitEr, descDropped, descLost,
		descWritten, descDead, descRetries, descFailing, descDepth, descBytes, descAge, descDeadNow} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ps, ss, fs := c.pipe.Stats(), c.spool.Stats(), c.fwd.Stats()
	counter := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	counter(descAccepted, ps.Accepted)
	counter(descInvalid, ps.Invalid)
	counter(descCommits, ps.Commits)
	counter(descCommitEr, ps.CommitErr)
	counter(descDropped, ss.Dropped)
	counter(descLost, ps.Lost)
	counter(descWritten, fs.Written)
	counter(descDead, fs.DeadLettered)
	counter(descRetries, fs.Retries)
	failing := 0.0
	if fs.Failing {
		failing = 1
	}
	gauge(descFailing, failing)
	gauge(descDepth, float64(ss.Count))
	gauge(descBytes, float64(ss.Bytes))
	age := 0.0
	if !ss.Oldest.IsZero() {
		age = max(0, c.now().Sub(ss.Oldest).Seconds())
	}
	gauge(descAge, age)
	gauge(descDeadNow, float64(ss.DeadCount))
}
