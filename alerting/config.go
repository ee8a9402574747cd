package alerting

import (
	"time"
)

// Config is the `alerting` section.
type Config struct {
	Rules  []RuleConfig   `yaml:"rules"`
	Notify []NotifyConfig `yaml:"notify"`
}

// RuleConfig is one alarm rule. Exactly one of Thresholds, Rate, Stale,
// Event (or a bool point's State) is its condition.
type RuleConfig struct {
	Name        string          `yaml:"name"` // required, unique
	Match       Match           `yaml:"match"`
	Thresholds  []Threshold     `yaml:"thresholds"`
	Deadband    float64         `yaml:"deadband"`
	OnDelay     time.Duration   `yaml:"on_delay"`
	OffDelay    time.Duration   `yaml:"off_delay"`
	Rate        *Rate           `yaml:"rate"`
	Stale       *Stale          `yaml:"stale"`
	Event       *Event          `yaml:"event"`
	State       *StateCondition `yaml:"state"` // bool points: alarm while the point equals Value
	Severity    string          `yaml:"severity"`
	AutoResolve time.Duration   `yaml:"auto_resolve"`
	Message     string          `yaml:"message"` // optional text shown to the duty officer
}

// Match selects devices/points; empty fields match anything, `*` globs allowed.
type Match struct {
	Kind   string `yaml:"kind"`
	Device string `yaml:"device"`
	Point  string `yaml:"point"`
}

// Threshold is one alarm level; exactly one of Above and Below is set.
type Threshold struct {
	Level    string   `yaml:"level"`
	Above    *float64 `yaml:"above"`
	Below    *float64 `yaml:"below"`
	Severity string   `yaml:"severity"`
}

// Rate fires when a value rises faster than Above per Per.
type Rate struct {
	Above    float64       `yaml:"above"`
	Per      time.Duration `yaml:"per"`
	Severity string        `yaml:"severity"`
}

// Stale fires when a device stops reporting.
type Stale struct {
	After StaleAfter `yaml:"after"`
}

// StaleAfter is either a number of missed intervals ("3") or a duration ("2m").
type StaleAfter struct {
	Intervals int
	Duration  time.Duration
}

// UnmarshalText parses "3" or "2m".
func (s *StaleAfter) UnmarshalText(b []byte) error {
	str := string(b)
	var n int
	if _, err := fmtSscan(str, &n); err == nil && n > 0 {
		*s = StaleAfter{Intervals: n}
		return nil
	}
	d, err := time.ParseDuration(str)
	if err != nil || d <= 0 {
		return errStaleAfter(str)
	}
	*s = StaleAfter{Duration: d}
	return nil
}

// Event fires on matching camera events.
type Event struct {
	Types         []string `yaml:"types"`
	MinConfidence float64  `yaml:"min_confidence"`
}

// StateCondition fires while a boolean point equals Value (a detector's
// fault bit). (Named so because State is an alert's lifecycle state.)
type StateCondition struct {
	Value bool   `yaml:"value"`
	Level string `yaml:"level"` // default "alarm"
}

// NotifyConfig is one duty-desk webhook receiver.
type NotifyConfig struct {
	Name           string        `yaml:"name"`
	URL            string        `yaml:"url"`
	Secret         string        `yaml:"secret"` // "whsec_" + base64; secret
	Timeout        time.Duration `yaml:"timeout"`
	RepeatInterval time.Duration `yaml:"repeat_interval"`
}
