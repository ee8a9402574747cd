package alerting

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hazardgw/hazardgw/internal/conf"
)

// Config is the `alerting` section.
type Config struct {
	Rules  []RuleConfig   `yaml:"rules"`
	Notify []NotifyConfig `yaml:"notify"`
	// Retention is how long ended alerts stay in alerts.db and the API
	// (default and minimum 30 days: GB 17681 asks for 30 days of records).
	Retention Period `yaml:"retention"`
	// MaxShelve is the longest a duty officer may shelve an alert for
	// (default DefaultMaxShelve, 8h): shelving is always time-limited.
	MaxShelve time.Duration `yaml:"max_shelve"`
	// Chatter says when an alert is chattering (fires Count times within
	// Window); a rule's own chatter overrides it.
	Chatter Chatter `yaml:"chatter"`
}

// Chatter is the chattering detection of an alert: one that fires Count
// times (default 3) within Window (default 1m) is chattering until it has
// stayed in one state for Window.
type Chatter struct {
	Count  int           `yaml:"count"`
	Window time.Duration `yaml:"window"`
}

// Defaults of the alarm management settings.
const (
	DefaultMaxShelve     = 8 * time.Hour
	DefaultChatterCount  = 3
	DefaultChatterWindow = time.Minute
	// MaxOutOfService bounds how far ahead a device may be put out of
	// service: a device out for longer belongs out of the configuration.
	MaxOutOfService = 31 * 24 * time.Hour
)

// Close values of a rule: CloseAuto (default) resolves an alert when its
// condition returns to normal; CloseManual keeps it active until a duty
// officer resets it (the same as latch: true).
const (
	CloseAuto   = "auto"
	CloseManual = "manual"
)

// DefaultRetention is Config.Retention when it is not set, and its minimum.
const DefaultRetention = 30 * 24 * time.Hour

// Period is a duration that may also be written in days ("30d", "90d").
type Period struct{ time.Duration }

// UnmarshalText parses "30d" or a Go duration ("720h").
func (p *Period) UnmarshalText(b []byte) error {
	s := string(b)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days <= 0 || days > 100*365 {
			return fmt.Errorf("invalid period %q: want days such as 30d or a duration such as 720h", s)
		}
		p.Duration = time.Duration(days) * 24 * time.Hour
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid period %q: want days such as 30d or a duration such as 720h", s)
	}
	p.Duration = d
	return nil
}

// RuleConfig is one alarm rule. Exactly one of Thresholds, Rate, Stale,
// Event, VoiceMissed (or a bool point's State) is its condition.
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
	State       *StateCondition `yaml:"state"`        // bool points: alarm while the point equals Value
	VoiceMissed *VoiceMissed    `yaml:"voice_missed"` // checkpoint passages without the voice warning (voice.go)
	Severity    string          `yaml:"severity"`
	AutoResolve time.Duration   `yaml:"auto_resolve"`
	Message     string          `yaml:"message"` // optional text shown to the duty officer
	// Latch keeps the alert active after its condition returned to normal
	// until a duty officer resets it (POST /api/v1/alerts/{id}/reset).
	Latch bool `yaml:"latch"`
	// Close is CloseAuto (default) or CloseManual, which means Latch: a
	// camera incident stays open until it is reset.
	Close string `yaml:"close"`
	// Chatter overrides alerting.chatter for this rule's alerts.
	Chatter *Chatter `yaml:"chatter"`
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
	Label    string   `yaml:"label"` // the level's name in messages, e.g. 一级报警
}

// Rate fires when the least-squares slope of the good readings of the last
// Per, scaled to Per, is at or above Above (a rise) or at or below Below (a
// fall, negative). Exactly one of Above and Below is set.
type Rate struct {
	Above    *float64      `yaml:"above"`
	Below    *float64      `yaml:"below"`
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

// NotifyConfig is one receiver of notifications: a duty-desk webhook
// (the default), a DingTalk, WeCom or Feishu group robot, or a templated
// HTTP request for an SMS or voice gateway.
type NotifyConfig struct {
	Name string `yaml:"name"`
	// Type is the kind of receiver: webhook (default, Standard Webhooks),
	// dingtalk, wecom, feishu or http. It sets the default rate budget.
	Type   string `yaml:"type"`
	URL    string `yaml:"url"`
	Secret string `yaml:"secret"` // webhook: "whsec_" + base64; dingtalk: "SEC…"; feishu: the bot's key; secret
	// Mobiles are @-mentioned in DingTalk and WeCom messages that call for
	// action (firing, changed, reminder…), so that their phones ring.
	Mobiles []string `yaml:"mobiles"`
	// AtAll mentions everyone in the group (DingTalk, WeCom, Feishu) in
	// messages that call for action.
	AtAll bool `yaml:"at_all"`
	// Card sends Feishu messages as interactive cards (nil: true) rather
	// than plain text.
	Card *bool `yaml:"card"`
	// Method, Headers and Body are the request of an http receiver: Go
	// templates over the notification (Body and Headers' values; Method is
	// plain). Success lists the status codes that mean delivered (empty:
	// any 2xx).
	Method         string            `yaml:"method"`
	Headers        map[string]string `yaml:"headers"`
	Body           string            `yaml:"body"`
	Success        []int             `yaml:"success"`
	Timeout        time.Duration     `yaml:"timeout"`
	RepeatInterval time.Duration     `yaml:"repeat_interval"`
	// HeartbeatInterval, when set, sends a signed alert.heartbeat with a
	// status summary at this interval, so that the receiver can tell a
	// gateway that has gone silent. Default 0: off.
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
	// Match picks the alerts this receiver gets: keys severity, rule,
	// kind, device, site or a device tag (area …), values a glob or a
	// list of globs; every key must match. Empty: every alert, unless the
	// receiver is only an escalation target.
	Match map[string]conf.Strings `yaml:"match"`
	// GroupBy sends the notifications of alerts that share these labels
	// (tags, rule, severity, site, kind, device) within GroupWait /
	// GroupInterval as one alert.group notification. Empty: no grouping.
	GroupBy       []string      `yaml:"group_by"`
	GroupWait     time.Duration `yaml:"group_wait"`     // default DefaultGroupWait
	GroupInterval time.Duration `yaml:"group_interval"` // default DefaultGroupInterval
	// Escalate also sends an occurrence that stays active and
	// unacknowledged to other receivers, each step After its start.
	Escalate []EscalateStep `yaml:"escalate"`
	// GiveUpAfter dead-letters a notification still failing this long
	// after its first attempt. Default DefaultGiveUpAfter.
	GiveUpAfter time.Duration `yaml:"give_up_after"`
	// Rate is the receiver's budget, "20/1m"; "none" for no limit.
	// Default by Type: DefaultRates.
	Rate RateBudget `yaml:"rate"`
}

// EscalateStep is one step of notify[].escalate.
type EscalateStep struct {
	After time.Duration `yaml:"after"`
	To    string        `yaml:"to"`
}

// Delivery defaults.
const (
	DefaultGroupWait     = 10 * time.Second
	DefaultGroupInterval = time.Minute
	DefaultGiveUpAfter   = 24 * time.Hour
)

// DefaultRates are the rate budgets of receiver types that have one (what
// the IM platforms allow a robot); other types are not limited unless
// notify[].rate says so.
var DefaultRates = map[string]RateBudget{
	"dingtalk": {N: 20, Per: time.Minute},
	"wecom":    {N: 20, Per: time.Minute},
	"feishu":   {N: 100, Per: time.Minute},
}

// RateBudget is a number of messages per period ("20/1m"). The zero value
// means the receiver type's default; N < 0 ("none") means no limit.
type RateBudget struct {
	N   int
	Per time.Duration
}

// UnmarshalText parses "20/1m", "5/10s" or "none".
func (r *RateBudget) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "none" || s == "unlimited" {
		*r = RateBudget{N: -1}
		return nil
	}
	n, per, ok := strings.Cut(s, "/")
	cnt, err := strconv.Atoi(strings.TrimSpace(n))
	d, derr := time.ParseDuration(strings.TrimSpace(per))
	if !ok || err != nil || derr != nil || cnt <= 0 || d <= 0 || cnt > 1000000 {
		return fmt.Errorf("invalid rate %q: want messages per period such as 20/1m, or none", s)
	}
	*r = RateBudget{N: cnt, Per: d}
	return nil
}

// String renders the budget as it is written, e.g. 20/1m0s.
func (r RateBudget) String() string {
	switch {
	case r.N < 0:
		return "none"
	case r.N == 0:
		return ""
	}
	return strconv.Itoa(r.N) + "/" + r.Per.String()
}

// Short renders the budget with its period shortened: 20/1m.
func (r RateBudget) Short() string {
	s := r.String()
	for _, suf := range []string{"m0s", "h0m"} {
		if strings.HasSuffix(s, suf) {
			s = s[:len(s)-2]
		}
	}
	return s
}
