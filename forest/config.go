package forest

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/hazardgw/hazardgw/internal/conf"
)

// Config is the `forest` section. Danger rating runs when
// Danger.Station is set; voice warnings go to the declared checkpoints.
type Config struct {
	Danger      DangerConfig      `yaml:"danger"`
	Checkpoints CheckpointsConfig `yaml:"checkpoints"`
}

// DangerConfig is `forest.danger`: where the weather comes from and how it
// is rated.
type DangerConfig struct {
	// Station is the weather station's device id (a Modbus device or an
	// MQTT device); "" turns the rating off.
	Station string `yaml:"station"`
	// Points names the station's points (fields of its measurement).
	Points Points `yaml:"points"`
	// RainMode says what the rain point is: RainDaily (default) or
	// RainCounter.
	RainMode string `yaml:"rain_mode"`
	// DayStart is when the rating day starts, "HH:MM" site local time
	// (site.timezone); default "00:00".
	DayStart string `yaml:"day_start"`
	// Phenology is the correction subtracted from the index, by month
	// (1–12); a month left out is 0.
	Phenology map[int]int `yaml:"phenology"`
	// InitialDryDays is the dry-day count to start from when data_dir has
	// no rating state yet (a new gateway, or a damaged file).
	InitialDryDays int `yaml:"initial_dry_days"`
	// Tables overrides rating tables (a province's variant); a table left
	// out is the national one.
	Tables Tables `yaml:"tables"`
}

// Points are the station's point names.
type Points struct {
	Temperature string `yaml:"temperature"` // air temperature, °C
	Humidity    string `yaml:"humidity"`    // relative humidity, %
	Wind        string `yaml:"wind"`        // wind speed, m/s
	Rain        string `yaml:"rain"`        // rain, mm (see rain_mode)
}

// CheckpointsConfig is `forest.checkpoints`: the voice warnings sent to the
// declared checkpoints (mqtt.devices of kind checkpoint).
type CheckpointsConfig struct {
	// CommandTopic is the topic of a checkpoint's commands; {site} and
	// {checkpoint} are replaced. Default DefaultCommandTopic.
	CommandTopic string `yaml:"command_topic"`
	// Texts are the words spoken per level (1–5); a level left out says
	// DefaultTexts's.
	Texts map[int]string `yaml:"texts"`
}

// Defaults.
const (
	DefaultCommandTopic = "site/{site}/checkpoint/{checkpoint}/command"
	DefaultDayStart     = "00:00"
	// StateFile is the file in data_dir that keeps the rating day and the
	// dry-day count across restarts.
	StateFile = "fire-danger.json"
)

// DefaultTexts are the voice texts per level.
var DefaultTexts = map[int]string{
	1: "当前森林火险等级为一级（低），请注意森林防火",
	2: "当前森林火险等级为二级（较低），进山请注意防火，不要携带火种",
	3: "当前森林火险等级为三级（较高），林区禁止野外用火，请勿携带火种进山",
	4: "当前森林火险等级为四级（高），严禁携带火种进山",
	5: "当前森林火险等级为五级（极高），严禁一切野外用火，严禁携带火种进山",
}

// LevelNames are the names of the levels.
var LevelNames = map[int]string{1: "低", 2: "较低", 3: "较高", 4: "高", 5: "极高"}

// Enabled reports whether the rating runs.
func (c Config) Enabled() bool { return c.Danger.Station != "" }

// parseDayStart reads "HH:MM" as minutes after midnight.
func parseDayStart(s string) (int, error) {
	if s == "" {
		s = DefaultDayStart
	}
	t, err := time.Parse("15:04", s)
	if err != nil || len(s) != 5 {
		return 0, fmt.Errorf("want HH:MM, such as 00:00 or 08:00 (got %q)", s)
	}
	return t.Hour()*60 + t.Minute(), nil
}

// Validate reports the problems of the `forest` section at path. That the
// station and its points exist is checked against the sources by the
// caller (CheckStation).
func (c *Config) Validate(path string, p *conf.Problems) {
	dp := conf.Join(path, "danger")
	d := &c.Danger
	at := func(key string) string { return conf.Join(dp, key) }
	if d.Station == "" {
		if d.Points != (Points{}) || d.Tables.set() || len(d.Phenology) > 0 {
			p.Addf(at("station"), "required when forest.danger is configured: the weather station's device id")
		}
	} else {
		conf.CheckID(p, at("station"), d.Station)
		pp := at("points")
		for _, f := range []struct{ key, v string }{
			{"temperature", d.Points.Temperature}, {"humidity", d.Points.Humidity},
			{"wind", d.Points.Wind}, {"rain", d.Points.Rain},
		} {
			if f.v == "" {
				p.Addf(conf.Join(pp, f.key), "required: the station's point (field) name")
				continue
			}
			conf.CheckName(p, conf.Join(pp, f.key), f.v)
		}
	}
	conf.OneOf(p, at("rain_mode"), d.RainMode, "", RainDaily, RainCounter)
	if _, err := parseDayStart(d.DayStart); err != nil {
		p.Addf(at("day_start"), "%v", err)
	}
	for _, m := range slices.Sorted(maps.Keys(d.Phenology)) {
		v := d.Phenology[m]
		if m < 1 || m > 12 {
			p.Addf(at("phenology"), "month %d: want 1..12", m)
		}
		if v < -100 || v > 100 {
			p.Addf(at("phenology"), "month %d: correction %d out of range -100..100", m, v)
		}
	}
	if d.InitialDryDays < 0 || d.InitialDryDays > maxDryDays {
		p.Addf(at("initial_dry_days"), "must be between 0 and %d (got %d)", maxDryDays, d.InitialDryDays)
	}
	tp := at("tables")
	for _, t := range []struct {
		key   string
		bands []Band
		step  float64
	}{
		{"temperature", d.Tables.Temperature, TemperatureStep}, {"humidity", d.Tables.Humidity, HumidityStep},
		{"dry_days", d.Tables.DryDays, DryDaysStep}, {"wind", d.Tables.Wind, WindStep},
	} {
		if err := checkBands(t.bands, t.step); err != nil {
			p.Addf(conf.Join(tp, t.key), "%v", err)
		}
	}
	if err := checkLevels(d.Tables.Levels); err != nil {
		p.Addf(conf.Join(tp, "levels"), "%v", err)
	}

	cp := conf.Join(path, "checkpoints")
	if t := c.Checkpoints.CommandTopic; t != "" {
		switch {
		case strings.ContainsAny(t, "+#") || conf.HasControl(t):
			p.Addf(conf.Join(cp, "command_topic"), "must be a topic to publish to: no wildcards (+, #) or control characters")
		case !strings.Contains(t, "{checkpoint}"):
			p.Addf(conf.Join(cp, "command_topic"), "must contain {checkpoint}: every checkpoint has its own command topic")
		}
	}
	for _, lvl := range slices.Sorted(maps.Keys(c.Checkpoints.Texts)) {
		text := c.Checkpoints.Texts[lvl]
		switch {
		case lvl < 1 || lvl > 5:
			p.Addf(conf.Join(cp, "texts"), "level %d: want 1..5", lvl)
		case strings.TrimSpace(text) == "" || conf.HasControl(text):
			p.Addf(conf.Join(cp, "texts"), "level %d: the text must be words to speak, without control characters", lvl)
		}
	}
}

func (t Tables) set() bool {
	return len(t.Temperature)+len(t.Humidity)+len(t.DryDays)+len(t.Wind)+len(t.Levels) > 0
}

// compile turns a valid configuration into the rater and the voice texts.
func (c Config) compile(loc *time.Location) (*rater, map[int]string, error) {
	start, err := parseDayStart(c.Danger.DayStart)
	if err != nil {
		return nil, nil, fmt.Errorf("forest.danger.day_start: %w", err)
	}
	if loc == nil {
		loc = time.UTC
	}
	r := &rater{tables: c.Danger.Tables.withDefaults(), loc: loc, dayStart: start, rainMode: c.Danger.RainMode}
	if r.rainMode == "" {
		r.rainMode = RainDaily
	}
	for m, v := range c.Danger.Phenology {
		if m >= 1 && m <= 12 {
			r.phenology[m] = v
		}
	}
	texts := map[int]string{}
	for l, s := range DefaultTexts {
		texts[l] = s
	}
	for l, s := range c.Checkpoints.Texts {
		texts[l] = s
	}
	return r, texts, nil
}
