package gateway

import (
	"time"

	"github.com/hazardgw/hazardgw/internal/conf"
)

// SiteConfig is the `site` section.
type SiteConfig struct {
	ID       string `yaml:"id"`       // required; tag `site` on every series
	Name     string `yaml:"name"`     // free text
	Language string `yaml:"language"` // "zh" (default) or "en"
}

// Config is the `gateway` section.
type Config struct {
	DataDir       string        `yaml:"data_dir"`        // default "./data"
	SpoolMaxBytes conf.ByteSize `yaml:"spool_max_bytes"` // default 1GiB
	HTTP          HTTPConfig    `yaml:"http"`
	// ShutdownTimeout bounds the final flush on SIGTERM. Default 10s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	Log             LogConfig     `yaml:"log"`
}

// HTTPConfig is `gateway.http`.
type HTTPConfig struct {
	Listen string `yaml:"listen"` // host:port, default 127.0.0.1:8080
	Token  string `yaml:"token"`  // bearer token for /api/v1/*; secret
}

// LogConfig is `gateway.log`.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug | info (default) | warn | error
	Format string `yaml:"format"` // text (default) | json
}
