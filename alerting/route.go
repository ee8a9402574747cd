package alerting

import (
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hazardgw/hazardgw/internal/conf"
)

// Routing decides which receivers get an alert's notifications; it is
// compiled once from notify[] by compileDelivery, which both Validate (to
// report problems) and New (to keep the result) call.

// policy is one receiver's compiled routing, grouping, escalation and
// budget.
type policy struct {
	match         matcher // nil: every alert
	escOnly       bool    // an escalation target with no match: escalations only
	groupBy       []string
	groupWait     time.Duration
	groupInterval time.Duration
	escalate      []EscalateStep
	giveUp        time.Duration
	rate          RateBudget // N <= 0: no limit
}

// wants reports whether the receiver gets the notifications of a.
func (p *policy) wants(a *Alert) bool {
	if p.escOnly {
		return false
	}
	return p.match == nil || p.match.matches(a)
}

// A matcher is a compiled notify[].match: every term must match.
type matcher []matchTerm

type matchTerm struct {
	key   string
	globs []string
}

// matches reports whether every term matches a. An alert without the
// label a term names (a device with no such tag) does not match it.
func (m matcher) matches(a *Alert) bool {
	for _, t := range m {
		v, ok := alertLabel(a, t.key)
		if !ok || !slices.ContainsFunc(t.globs, func(g string) bool { return globMatch(g, v) }) {
			return false
		}
	}
	return true
}

// Labels of an alert that match and group_by may name besides its tags.
var builtinLabels = []string{"severity", "rule", "kind", "device", "site"}

// alertLabel returns the value of a label of a: a built-in one, or a tag
// of its device.
func alertLabel(a *Alert, key string) (string, bool) {
	switch key {
	case "severity":
		return a.Severity, true
	case "rule":
		return a.Rule, true
	case "kind":
		return a.Kind, true
	case "device":
		return a.Device, true
	case "site":
		return a.Site, true
	}
	v, ok := a.Tags[key]
	return v, ok
}

// groupKey returns the group of a under group_by: a stable key and the
// labels that name it (a label a lacks is "").
func groupKey(a *Alert, by []string) (string, map[string]string) {
	labels := make(map[string]string, len(by))
	var b strings.Builder
	for i, k := range by {
		v, _ := alertLabel(a, k)
		labels[k] = v
		if i > 0 {
			b.WriteByte(0x1f)
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(v)
	}
	return b.String(), labels
}

// compileDelivery compiles the delivery settings of every receiver,
// reporting each problem through add (i the receiver's index, key the
// setting, e.g. "match.severity").
func compileDelivery(cfgs []NotifyConfig, add func(i int, key, msg string)) []policy {
	names := map[string]int{}
	for i, n := range cfgs {
		if _, dup := names[n.Name]; !dup {
			names[n.Name] = i
		}
	}
	target := map[string]bool{}
	for _, n := range cfgs {
		for _, s := range n.Escalate {
			target[s.To] = true
		}
	}
	out := make([]policy, len(cfgs))
	for i := range cfgs {
		n := &cfgs[i]
		p := &out[i]
		p.match = compileMatch(n.Match, func(key, msg string) { add(i, conf.Join("match", key), msg) })
		p.escOnly = len(n.Match) == 0 && target[n.Name]
		seen := map[string]bool{}
		for j, k := range n.GroupBy {
			switch {
			case strings.TrimSpace(k) == "":
				add(i, conf.Index("group_by", j), "empty label: name a device tag (area …) or rule, severity, site, kind, device")
			case seen[k]:
				add(i, conf.Index("group_by", j), fmt.Sprintf("%q listed twice", k))
			}
			seen[k] = true
		}
		p.groupBy = n.GroupBy
		p.groupWait = orDefault(n.GroupWait, DefaultGroupWait)
		p.groupInterval = orDefault(n.GroupInterval, DefaultGroupInterval)
		for key, d := range map[string]time.Duration{"group_wait": n.GroupWait, "group_interval": n.GroupInterval, "give_up_after": n.GiveUpAfter} {
			if d < 0 {
				add(i, key, "must not be negative")
			}
		}
		p.giveUp = orDefault(n.GiveUpAfter, DefaultGiveUpAfter)
		p.rate = n.Rate
		if p.rate.N == 0 {
			p.rate = DefaultRates[n.Type]
		}
		if p.rate.N > 0 && p.rate.Per <= 0 {
			add(i, "rate", "the period must be positive, e.g. 20/1m")
			p.rate = RateBudget{}
		}
		for j, s := range n.Escalate {
			sp := conf.Index("escalate", j)
			if s.After <= 0 {
				add(i, conf.Join(sp, "after"), "required: how long an alert stays unacknowledged before this step, e.g. 5m")
			}
			switch _, ok := names[s.To]; {
			case s.To == "":
				add(i, conf.Join(sp, "to"), "required: the name of another receiver")
			case s.To == n.Name:
				add(i, conf.Join(sp, "to"), fmt.Sprintf("%q escalates to itself", s.To))
			case !ok:
				add(i, conf.Join(sp, "to"), fmt.Sprintf("no receiver named %q in notify", s.To))
			}
		}
		p.escalate = n.Escalate
	}
	// An escalation cycle (a → b → a) is a mistake even though escalations
	// are not escalated again: the chain would not mean what it says.
	for i, n := range cfgs {
		if path := escalationCycle(cfgs, names, i); path != nil && path[0] == n.Name {
			add(i, "escalate", "escalation cycle: "+strings.Join(path, " → "))
		}
	}
	return out
}

// escalationCycle returns a cycle of escalations through receiver i (as
// names, first and last the same), or nil.
func escalationCycle(cfgs []NotifyConfig, names map[string]int, i int) []string {
	var walk func(j int, path []string) []string
	walk = func(j int, path []string) []string {
		for _, s := range cfgs[j].Escalate {
			k, ok := names[s.To]
			if !ok || s.To == cfgs[j].Name {
				continue
			}
			if k == i {
				return append(slices.Clone(path), s.To)
			}
			if slices.Contains(path, s.To) {
				continue // a cycle not through i: reported at its own receivers
			}
			if c := walk(k, append(path, s.To)); c != nil {
				return c
			}
		}
		return nil
	}
	return walk(i, []string{cfgs[i].Name})
}

// compileMatch checks and compiles one notify[].match.
func compileMatch(m map[string]conf.Strings, add func(key, msg string)) matcher {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make(matcher, 0, len(keys))
	for _, k := range keys {
		globs := m[k]
		if strings.TrimSpace(k) == "" {
			add(k, "empty key: use severity, rule, kind, device, site or a device tag")
			continue
		}
		if len(globs) == 0 {
			add(k, "no values: give a pattern or a list of patterns")
			continue
		}
		for _, g := range globs {
			if _, err := path.Match(g, ""); err != nil {
				add(k, fmt.Sprintf("invalid pattern %q: %v", g, err))
				continue
			}
			if k == "severity" && !strings.ContainsAny(g, `*?[\`) &&
				!slices.Contains([]string{SeverityRed, SeverityOrange, SeverityYellow, SeverityBlue}, g) {
				add(k, fmt.Sprintf("unknown severity %q: red, orange, yellow or blue", g))
			}
		}
		out = append(out, matchTerm{key: k, globs: slices.Clone(globs)})
	}
	return out
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// checkRoutes reports notify[].match and group_by keys that name a tag no
// configured device has: a match on it lets the receiver get nothing (a
// typo such as zone for area would silence it), a group_by on it puts
// every alert in one group.
func (c *Config) checkRoutes(path string, site []Series, p *conf.Problems) {
	known := map[string]bool{}
	for _, s := range site {
		for k := range s.Tags {
			known[k] = true
		}
	}
	tags := make([]string, 0, len(known))
	for k := range known {
		tags = append(tags, k)
	}
	sort.Strings(tags)
	have := "no device has tags"
	if len(tags) > 0 {
		have = "device tags: " + strings.Join(tags, ", ")
	}
	for i, n := range c.Notify {
		np := conf.Index(conf.Join(path, "notify"), i)
		for k := range n.Match {
			if !slices.Contains(builtinLabels, k) && !known[k] && strings.TrimSpace(k) != "" {
				p.Addf(conf.Join(conf.Join(np, "match"), k), "no configured device has tag %q: receiver %q would get no alert (%s)", k, n.Name, have)
			}
		}
		for j, k := range n.GroupBy {
			if !slices.Contains(builtinLabels, k) && !known[k] && strings.TrimSpace(k) != "" {
				p.Warnf(conf.Index(conf.Join(np, "group_by"), j), "no configured device has tag %q: every alert falls in one group (%s)", k, have)
			}
		}
	}
}
