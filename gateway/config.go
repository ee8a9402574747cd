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
	// Timezone is the IANA zone of the site's local time (default
	// Asia/Shanghai): day boundaries of the fire danger rating and the
	// times shown to duty officers in messages and the console.
	Timezone string `yaml:"timezone"`
}

// Location returns the site's time zone; Validate has checked the name.
func (c SiteConfig) Location() *time.Location {
	name := c.Timezone
	if name == "" {
		name = DefaultTimezone
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return time.FixedZone("CST", 8*3600)
	}
	return loc
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
