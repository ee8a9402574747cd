package alerting

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"time"
)

// condKind is what a rule watches.
type condKind uint8

const (
	condThreshold condKind = iota + 1 // numeric value against limits
	condRate                          // rise of a numeric value over a window
	condBool                          // boolean point equal to a value
	condStale                         // device silent or reported offline
	condEvent                         // camera events
	condMaint                         // a device's maintenance (built in, not configurable)
	condSelf                          // an alarm the gateway raises about itself outside any reading (built in)
	condVoice                         // checkpoint passages without the voice warning at a high fire danger (voice.go)
)

// Severities, most severe first (the four Chinese warning colours).
const (
	SeverityRed    = "red"
	SeverityOrange = "orange"
	SeverityYellow = "yellow"
	SeverityBlue   = "blue"
)

// severityRank orders severities: red 4 … blue 1, unknown 0.
func severityRank(s string) int {
	switch s {
	case SeverityRed:
		return 4
	case SeverityOrange:
		return 3
	case SeverityYellow:
		return 2
	case SeverityBlue:
		return 1
	}
	return 0
}

// Names of the levels of rules that have a single condition.
const (
	levelRate        = "rate" // a rise (rate.above)
	levelFall        = "fall" // a fall (rate.below)
	levelOffline     = "offline"
	levelBadValue    = "bad_value" // a stale device answering with bad values
	levelMaintenance = "maintenance"
	levelRejected    = "rejected"
	levelAlarm       = "alarm" // default level of a state rule
)

// pointOnline is the point name of offline alerts (the device_status field).
const pointOnline = "online"

// level is one alarm level of a rule. Threshold rules have one per
// threshold; rate, state and stale rules have exactly one. Event rules use
// one level whose name is replaced by the event type.
type level struct {
	name     string
	label    string // shown in messages instead of the name
	severity string
	above    bool    // breached at or above limit (else at or below)
	limit    float64 // threshold, rise (rate) or 0.5 (state)
	extreme  int     // 1.. within its direction: higher = further from normal
}

// rule is a compiled RuleConfig.
type rule struct {
	idx     int
	name    string
	message string
	match   Match
	kind    condKind
	levels  []level

	deadband          float64
	onDelay, offDelay time.Duration

	ratePer time.Duration

	staleIntervals int
	staleFor       time.Duration

	eventTypes  []string // empty: any type
	minConf     float64
	autoResolve time.Duration

	stateWant bool

	// latch keeps an alert active after return to normal until reset.
	latch bool
	// chatter is the rule's own chattering setting (zero fields: the
	// alerting level's); the engine fills in the defaults.
	chatter Chatter
}

// Defaults that apply when the configuration leaves a field zero.
const (
	// DefaultAutoResolve is how long an event alert stays active after the
	// last matching event when the rule sets no auto_resolve.
	DefaultAutoResolve = 10 * time.Minute
	// DefaultStaleIntervals is stale.after when neither a count nor a
	// duration is given.
	DefaultStaleIntervals = 3
)

// compileRules checks what the engine itself relies on (Config.Validate in
// config.go reports problems to the user with file positions; this is the
// engine's own guard) and compiles the rules.
func compileRules(cfgs []RuleConfig) ([]*rule, error) {
	var errs []error
	rules := make([]*rule, 0, len(cfgs))
	names := map[string]bool{}
	for i, c := range cfgs {
		r, err := compileRule(i, c)
		if err != nil {
			errs = append(errs, fmt.Errorf("compile rule %q: %w", c.Name, err))
			continue
		}
		if names[r.name] {
			errs = append(errs, fmt.Errorf("compile rule %q: duplicate name", c.Name))
			continue
		}
		names[r.name] = true
		rules = append(rules, r)
	}
	return rules, errors.Join(errs...)
}

func compileRule(idx int, c RuleConfig) (*rule, error) {
	if c.Name == "" {
		return nil, errors.New("missing name")
	}
	for _, p := range []string{c.Match.Kind, c.Match.Device, c.Match.Point} {
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("match pattern %q: %w", p, err)
		}
	}
	r := &rule{
		idx: idx, name: c.Name, message: c.Message, match: c.Match,
		deadband: c.Deadband, onDelay: c.OnDelay, offDelay: c.OffDelay,
		latch: c.Latch || c.Close == CloseManual,
	}
	if c.Chatter != nil {
		r.chatter = *c.Chatter
	}
	if r.deadband < 0 {
		return nil, errors.New("negative deadband")
	}
	n := 0
	if len(c.Thresholds) > 0 {
		n++
		r.kind = condThreshold
		for _, t := range c.Thresholds {
			l := level{name: t.Level, label: t.Label, severity: firstNonEmpty(t.Severity, c.Severity, SeverityYellow)}
			switch {
			case t.Above != nil && t.Below == nil:
				l.above, l.limit = true, *t.Above
			case t.Below != nil && t.Above == nil:
				l.limit = *t.Below
			default:
				return nil, fmt.Errorf("threshold %q: want exactly one of above and below", t.Level)
			}
			if l.name == "" {
				return nil, errors.New("threshold without level")
			}
			r.levels = append(r.levels, l)
		}
		rankExtremes(r.levels)
	}
	if c.Rate != nil {
		n++
		r.kind = condRate
		if c.Rate.Per <= 0 {
			return nil, errors.New("rate.per must be positive")
		}
		r.ratePer = c.Rate.Per
		l := level{name: levelRate, severity: firstNonEmpty(c.Rate.Severity, c.Severity, SeverityOrange), extreme: 1}
		switch {
		case c.Rate.Above != nil && c.Rate.Below == nil && *c.Rate.Above > 0:
			l.above, l.limit = true, *c.Rate.Above
		case c.Rate.Below != nil && c.Rate.Above == nil && *c.Rate.Below < 0:
			l.name, l.limit = levelFall, *c.Rate.Below
		default:
			return nil, errors.New("rate: want exactly one of above (a positive rise) and below (a negative fall)")
		}
		r.levels = []level{l}
	}
	if c.State != nil {
		n++
		r.kind = condBool
		r.stateWant = c.State.Value
		// A detector fault is routed like a second-level alarm (二级报警).
		r.levels = []level{{name: firstNonEmpty(c.State.Level, levelAlarm),
			severity: firstNonEmpty(c.Severity, SeverityRed), above: true, limit: 0.5, extreme: 1}}
	}
	if c.Stale != nil {
		n++
		r.kind = condStale
		r.staleIntervals, r.staleFor = c.Stale.After.Intervals, c.Stale.After.Duration
		if r.staleIntervals <= 0 && r.staleFor <= 0 {
			r.staleIntervals = DefaultStaleIntervals
		}
		// Offline (index staleOffline) ranks above bad_value (staleBadValue):
		// a device that stops answering is worse than one answering badly.
		sev := firstNonEmpty(c.Severity, SeverityOrange)
		r.levels = []level{{name: levelOffline, severity: sev, above: true, limit: 0.5, extreme: 2},
			{name: levelBadValue, severity: sev, above: true, limit: 0.5, extreme: 1}}
	}
	if c.Event != nil {
		n++
		r.kind = condEvent
		r.eventTypes = slices.Clone(c.Event.Types)
		r.minConf = c.Event.MinConfidence
		r.autoResolve = c.AutoResolve
		if r.autoResolve <= 0 {
			r.autoResolve = DefaultAutoResolve
		}
		r.levels = []level{{name: "event", severity: firstNonEmpty(c.Severity, SeverityRed),
			above: true, limit: c.Event.MinConfidence, extreme: 1}}
	}
	if c.VoiceMissed != nil {
		n++
		if c.VoiceMissed.MinLevel < 1 || c.VoiceMissed.MinLevel > 5 {
			return nil, fmt.Errorf("voice_missed.min_level %d: want 1..5", c.VoiceMissed.MinLevel)
		}
		compileVoice(r, c)
	}
	if n != 1 {
		return nil, fmt.Errorf("want exactly one condition (thresholds, rate, state, stale, event or voice_missed), have %d", n)
	}
	return r, nil
}

// rankExtremes numbers the levels of each direction from the one closest
// to normal (1) to the most extreme: ascending limits for `above`,
// descending for `below`.
func rankExtremes(ls []level) {
	for i := range ls {
		ls[i].extreme = 1
		for j := range ls {
			if i == j || ls[i].above != ls[j].above {
				continue
			}
			if ls[i].above && ls[j].limit < ls[i].limit || !ls[i].above && ls[j].limit > ls[i].limit ||
				ls[j].limit == ls[i].limit && j < i {
				ls[i].extreme++
			}
		}
	}
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// globMatch reports whether s matches pattern; an empty pattern matches
// anything. Patterns were checked when the rule was compiled.
func globMatch(pattern, s string) bool {
	if pattern == "" || pattern == "*" {
		return true
	}
	ok, _ := path.Match(pattern, s)
	return ok
}

// matchesDevice reports whether the rule applies to a device of this kind.
func (r *rule) matchesDevice(kind, device string) bool {
	return globMatch(r.match.Kind, kind) && globMatch(r.match.Device, device)
}

// matches reports whether the rule applies to this series. Stale rules
// ignore the point: they are about devices.
func (r *rule) matches(kind, device, point string) bool {
	if !r.matchesDevice(kind, device) {
		return false
	}
	return r.kind == condStale || globMatch(r.match.Point, point)
}

// more reports whether level a is worse than level b: more severe, or as
// severe and further from normal.
func (r *rule) more(a, b int) bool {
	la, lb := r.levels[a], r.levels[b]
	if sa, sb := severityRank(la.severity), severityRank(lb.severity); sa != sb {
		return sa > sb
	}
	if la.extreme != lb.extreme {
		return la.extreme > lb.extreme
	}
	return a > b
}

// up reports whether moving from level cur to level target (-1 = normal)
// is a worsening, which waits for on_delay; anything else waits for off_delay.
func (r *rule) up(cur, target int) bool {
	if target < 0 {
		return false
	}
	return cur < 0 || r.more(target, cur)
}
