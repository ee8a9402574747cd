package main

import (
	"time"

	"github.com/hazardgw/hazardgw/forest"
	"github.com/hazardgw/hazardgw/internal/conf"
)

// ForestConfig is the `forest:` section's camera settings: how camera
// events of a fire-lookout network are put together into incidents and
// fire positions (they configure the alert engine, alerting.Options).
type ForestConfig struct {
	// TriangulateWindow is how far apart in event time two located
	// cameras' bearings may be to be intersected into a fire position.
	// Default alerting.DefaultTriangulateWindow.
	TriangulateWindow time.Duration `yaml:"triangulate_window"`
	// MaxEventAge is how old a camera event may be when it arrives and
	// still be news; an older one alarms saying it is late. Default
	// alerting.DefaultMaxEventAge.
	MaxEventAge time.Duration `yaml:"max_event_age"`

	// Danger and Checkpoints are the fire danger rating and the
	// checkpoints' voice warnings (package forest).
	Danger      forest.DangerConfig      `yaml:"danger"`
	Checkpoints forest.CheckpointsConfig `yaml:"checkpoints"`
}

// Rating is the configuration of the fire danger rating.
func (c ForestConfig) Rating() forest.Config {
	return forest.Config{Danger: c.Danger, Checkpoints: c.Checkpoints}
}

// Enabled reports whether the fire danger rating runs.
func (c ForestConfig) Enabled() bool { return c.Rating().Enabled() }

// Validate reports negative durations (zero means the default) and the
// problems of the rating's settings.
func (c ForestConfig) Validate(path string, p *conf.Problems) {
	r := c.Rating()
	r.Validate(path, p)
	conf.NotNegative(p, conf.Join(path, "triangulate_window"), c.TriangulateWindow)
	conf.NotNegative(p, conf.Join(path, "max_event_age"), c.MaxEventAge)
}
