package gateway

import (
	"strings"
	"time"

	"github.com/hazardgw/hazardgw/internal/conf"
)

// Defaults that a zero field of SiteConfig or Config stands for.
const (
	DefaultLanguage        = "zh"
	DefaultTimezone        = "Asia/Shanghai"
	DefaultDataDir         = "./data"
	DefaultSpoolMaxBytes   = conf.ByteSize(1 << 30)
	DefaultListen          = "127.0.0.1:8080"
	DefaultShutdownTimeout = 10 * time.Second
	DefaultLogLevel        = "info"
	DefaultLogFormat       = "text"

	// MinSpoolMaxBytes is the smallest spool_max_bytes accepted: below it a
	// short InfluxDB outage would already drop data.
	MinSpoolMaxBytes = conf.ByteSize(1 << 20)
)

// Validate reports problems of the `site` section at path.
func (c *SiteConfig) Validate(path string, p *conf.Problems) {
	conf.CheckID(p, conf.Join(path, "id"), c.ID)
	if conf.HasControl(c.Name) {
		p.Addf(conf.Join(path, "name"), "must not contain control characters")
	}
	conf.OneOf(p, conf.Join(path, "language"), c.Language, "", "zh", "en")
	if c.Timezone != "" {
		if _, err := time.LoadLocation(c.Timezone); err != nil || c.Timezone == "Local" {
			p.Addf(conf.Join(path, "timezone"), "unknown time zone %q: want an IANA name such as Asia/Shanghai", c.Timezone)
		}
	}
}

// Validate reports problems of the `gateway` section at path. Zero fields
// mean their defaults and are fine.
func (c *Config) Validate(path string, p *conf.Problems) {
	if c.DataDir != "" && strings.TrimSpace(c.DataDir) == "" {
		p.Addf(conf.Join(path, "data_dir"), "must not be blank (omit it for %s)", DefaultDataDir)
	}
	if c.SpoolMaxBytes != 0 && c.SpoolMaxBytes < MinSpoolMaxBytes {
		p.Addf(conf.Join(path, "spool_max_bytes"), "must be at least 1MiB (got %d bytes)", int64(c.SpoolMaxBytes))
	}
	if c.HTTP.Listen != "" {
		conf.CheckListen(p, conf.Join(path, "http.listen"), c.HTTP.Listen)
	}
	if conf.HasControl(c.HTTP.Token) || strings.ContainsAny(c.HTTP.Token, " ") {
		p.Addf(conf.Join(path, "http.token"), "must not contain spaces or control characters")
	}
	conf.NotNegative(p, conf.Join(path, "shutdown_timeout"), c.ShutdownTimeout)
	conf.OneOf(p, conf.Join(path, "log.level"), c.Log.Level, "", "debug", "info", "warn", "error")
	conf.OneOf(p, conf.Join(path, "log.format"), c.Log.Format, "", "text", "json")
}
