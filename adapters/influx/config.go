package influx

import "time"

// Config is the `influxdb` section.
type Config struct {
	URL           string        `yaml:"url"`            // required, http:// or https://
	Token         string        `yaml:"token"`          // secret; 1.8: "user:password" or empty
	Org           string        `yaml:"org"`            // empty for 1.8
	Bucket        string        `yaml:"bucket"`         // required; 1.8: "db/rp"
	BatchSize     int           `yaml:"batch_size"`     // default 5000
	FlushInterval time.Duration `yaml:"flush_interval"` // default 1s
	Timeout       time.Duration `yaml:"timeout"`        // per write request, default 10s
	// AlertAfter is how long points may wait with nothing written before
	// the built-in alarm gateway:influxdb-unreachable fires; default 5m.
	AlertAfter time.Duration `yaml:"alert_after"`
}
