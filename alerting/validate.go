package alerting

import (
	"encoding/base64"
	"slices"
	"strconv"
	"strings"

	"github.com/hazardgw/hazardgw/internal/conf"
)

// SecretPrefix starts every Standard Webhooks secret; base64 of the HMAC
// key follows it.
const SecretPrefix = "whsec_"

// EventTypes are the camera event types an event rule may name.
var EventTypes = []string{"smoke", "fire", "hotspot"}

// Validate reports every problem of the `alerting` section at path. It
// checks what an operator can get wrong; compileRules keeps its own guard
// for what the engine relies on.
func (c *Config) Validate(path string, p *conf.Problems) {
	names := conf.Seen{}
	for i := range c.Rules {
		rp := conf.Index(conf.Join(path, "rules"), i)
		r := &c.Rules[i]
		if conf.CheckID(p, conf.Join(rp, "name"), r.Name) {
			names.Check(p, conf.Join(rp, "name"), "rule name", r.Name)
		}
		validateRule(r, rp, p)
	}
	if d := c.Retention.Duration; d != 0 && d < DefaultRetention {
		p.Addf(conf.Join(path, "retention"), "must be at least 30d: alarm records are kept for 30 days or more (GB 17681); got %s", fmtDur(false, d))
	}
	conf.NotNegative(p, conf.Join(path, "max_shelve"), c.MaxShelve)
	validateChatter(&c.Chatter, conf.Join(path, "chatter"), p)
	receivers := conf.Seen{}
	for i := range c.Notify {
		np := conf.Index(conf.Join(path, "notify"), i)
		n := &c.Notify[i]
		if conf.CheckID(p, conf.Join(np, "name"), n.Name) {
			receivers.Check(p, conf.Join(np, "name"), "notify name", n.Name)
		}
		validateNotify(n, np, p)
	}
	compileDelivery(c.Notify, func(i int, key, msg string) {
		p.Addf(conf.Join(conf.Index(conf.Join(path, "notify"), i), key), "%s", msg)
	})
}

func checkSeverity(p *conf.Problems, path, s string) bool {
	return conf.OneOf(p, path, s, SeverityRed, SeverityOrange, SeverityYellow, SeverityBlue)
}

func validateRule(r *RuleConfig, rp string, p *conf.Problems) {
	at := func(key string) string { return conf.Join(rp, key) }
	conf.CheckGlob(p, conf.Join(at("match"), "kind"), r.Match.Kind)
	conf.CheckGlob(p, conf.Join(at("match"), "device"), r.Match.Device)
	conf.CheckGlob(p, conf.Join(at("match"), "point"), r.Match.Point)

	var conds []string
	if r.Thresholds != nil {
		conds = append(conds, "thresholds")
	}
	if r.Rate != nil {
		conds = append(conds, "rate")
	}
	if r.Stale != nil {
		conds = append(conds, "stale")
	}
	if r.Event != nil {
		conds = append(conds, "event")
	}
	if r.State != nil {
		conds = append(conds, "state")
	}
	if r.VoiceMissed != nil {
		conds = append(conds, "voice_missed")
		if ml := r.VoiceMissed.MinLevel; ml < 1 || ml > 5 {
			p.Addf(conf.Join(at("voice_missed"), "min_level"), "required: the fire danger level (1..5) from which a passage must hear the voice warning (got %d)", ml)
		}
	}
	switch len(conds) {
	case 0:
		p.Addf(rp, "no condition: set one of thresholds, rate, stale, event, state or voice_missed")
	case 1:
	default:
		p.Addf(rp, "more than one condition (%s): a rule has exactly one", strings.Join(conds, ", "))
	}

	if r.Severity != "" {
		checkSeverity(p, at("severity"), r.Severity)
	}
	// Severity: per threshold (or the rule's, as the default of its
	// thresholds), in rate or at the rule for a rate, at the rule otherwise.
	if r.Thresholds != nil {
		validateThresholds(r, at("thresholds"), p)
	}
	if r.Rate != nil {
		if r.Rate.Severity != "" {
			checkSeverity(p, conf.Join(at("rate"), "severity"), r.Rate.Severity)
			if r.Severity != "" && r.Severity != r.Rate.Severity {
				p.Addf(at("severity"), "differs from rate.severity: set it once")
			}
		}
		if r.Rate.Per <= 0 {
			p.Addf(conf.Join(at("rate"), "per"), "required: the window of the rise, a positive duration such as 1m")
		}
		switch a, b := r.Rate.Above, r.Rate.Below; {
		case a == nil && b == nil:
			p.Addf(at("rate"), "set one of above (a rise per `per`, positive) and below (a fall, negative)")
		case a != nil && b != nil:
			p.Addf(at("rate"), "set only one of above and below: one rule watches one direction")
		case a != nil && !(*a > 0):
			p.Addf(conf.Join(at("rate"), "above"), "must be a positive rise per `per`")
		case b != nil && !(*b < 0):
			p.Addf(conf.Join(at("rate"), "below"), "must be a negative change per `per` (a fall, e.g. -30)")
		}
	}
	if r.Event != nil {
		ep := at("event")
		if len(r.Event.Types) == 0 {
			p.Addf(conf.Join(ep, "types"), "required: one or more of %s", strings.Join(EventTypes, ", "))
		}
		seen := conf.Seen{}
		for i, t := range r.Event.Types {
			tp := conf.Index(conf.Join(ep, "types"), i)
			if conf.OneOf(p, tp, t, EventTypes...) {
				seen.Check(p, tp, "event type", t)
			}
		}
		if mc := r.Event.MinConfidence; !(mc >= 0 && mc <= 1) {
			p.Addf(conf.Join(ep, "min_confidence"), "must be between 0 and 1 (got %v)", mc)
		}
	}
	if r.State != nil && r.State.Level != "" {
		conf.CheckID(p, conf.Join(at("state"), "level"), r.State.Level)
	}
	if len(conds) == 1 && r.Thresholds == nil && r.Severity == "" {
		switch {
		case r.Rate == nil:
			p.Addf(at("severity"), "required: red, orange, yellow or blue")
		case r.Rate.Severity == "":
			p.Addf(conf.Join(at("rate"), "severity"), "required (here or on the rule): red, orange, yellow or blue")
		}
	}

	switch r.Close {
	case "", CloseAuto:
		if r.Close == CloseAuto && r.Latch {
			p.Addf(at("close"), "auto contradicts latch: true: set one of them")
		}
	case CloseManual:
	default:
		p.Addf(at("close"), "must be auto (resolve when the condition ends) or manual (stay open until reset), got %q", r.Close)
	}
	if r.Chatter != nil {
		validateChatter(r.Chatter, at("chatter"), p)
	}
	if r.Deadband < 0 {
		p.Addf(at("deadband"), "must not be negative (got %v)", r.Deadband)
	}
	conf.NotNegative(p, at("on_delay"), r.OnDelay)
	conf.NotNegative(p, at("off_delay"), r.OffDelay)
	if conf.NotNegative(p, at("auto_resolve"), r.AutoResolve) && r.AutoResolve > 0 && r.Event == nil && r.VoiceMissed == nil && len(conds) == 1 {
		p.Addf(at("auto_resolve"), "only for event and voice_missed rules: other conditions resolve when the value returns to normal")
	}
}

// validateChatter checks a chatter setting: a count of 1 would call every
// alarm chattering.
func validateChatter(c *Chatter, cp string, p *conf.Problems) {
	if c.Count < 0 || c.Count == 1 {
		p.Addf(conf.Join(cp, "count"), "must be 2 or more (firings within the window that make an alert chattering; 0 for the default %d), got %d", DefaultChatterCount, c.Count)
	}
	conf.NotNegative(p, conf.Join(cp, "window"), c.Window)
}

func validateThresholds(r *RuleConfig, tsp string, p *conf.Problems) {
	if len(r.Thresholds) == 0 {
		p.Addf(tsp, "at least one threshold: {level: high, above: 25, severity: yellow}")
	}
	validateSeverityOrder(r, tsp, p)
	levels := conf.Seen{}
	limits := conf.Seen{}
	for i := range r.Thresholds {
		t := &r.Thresholds[i]
		tp := conf.Index(tsp, i)
		if conf.CheckID(p, conf.Join(tp, "level"), t.Level) {
			levels.Check(p, conf.Join(tp, "level"), "level", t.Level)
		}
		switch {
		case (t.Above == nil) == (t.Below == nil):
			p.Addf(tp, "set exactly one of above and below")
		case t.Above != nil:
			limits.Check(p, conf.Join(tp, "above"), "limit", "above "+strconv.FormatFloat(*t.Above, 'g', -1, 64))
		default:
			limits.Check(p, conf.Join(tp, "below"), "limit", "below "+strconv.FormatFloat(*t.Below, 'g', -1, 64))
		}
		if conf.HasControl(t.Label) {
			p.Addf(conf.Join(tp, "label"), "must not contain control characters")
		}
		switch {
		case t.Severity != "":
			checkSeverity(p, conf.Join(tp, "severity"), t.Severity)
		case r.Severity == "":
			p.Addf(conf.Join(tp, "severity"), "required: red, orange, yellow or blue (or set severity on the rule)")
		}
	}
}

// Receiver types (notify[].type).
const (
	NotifyWebhook  = "webhook"
	NotifyDingTalk = "dingtalk"
	NotifyWeCom    = "wecom"
	NotifyFeishu   = "feishu"
	NotifyHTTP     = "http"
)

// NotifyType returns the receiver's type, NotifyWebhook when unset.
func (n *NotifyConfig) NotifyType() string {
	if n.Type == "" {
		return NotifyWebhook
	}
	return n.Type
}

// validateNotify checks what every receiver shares, and a webhook's
// secret. The URL, secret and request rules of the other types belong to
// their adapter (adapters/receivers.Check), which cmd/hazardgw runs with
// the rest of the file's checks.
func validateNotify(n *NotifyConfig, np string, p *conf.Problems) {
	at := func(key string) string { return conf.Join(np, key) }
	if n.Type != "" && !conf.OneOf(p, at("type"), n.Type, NotifyWebhook, NotifyDingTalk, NotifyWeCom, NotifyFeishu, NotifyHTTP) {
		return
	}
	conf.NotNegative(p, at("timeout"), n.Timeout)
	conf.NotNegative(p, at("repeat_interval"), n.RepeatInterval)
	conf.NotNegative(p, at("heartbeat_interval"), n.HeartbeatInterval)
	if n.NotifyType() != NotifyWebhook {
		return
	}
	for _, f := range []struct {
		key string
		set bool
	}{
		{"mobiles", len(n.Mobiles) > 0}, {"at_all", n.AtAll}, {"card", n.Card != nil}, {"method", n.Method != ""},
		{"headers", len(n.Headers) > 0}, {"body", n.Body != ""}, {"success", len(n.Success) > 0},
	} {
		if f.set {
			p.Addf(at(f.key), "not used by a webhook receiver (set type: dingtalk, wecom, feishu or http)")
		}
	}
	if u := conf.CheckURL(p, at("url"), n.URL, "https", "http"); u != nil {
		conf.CheckHost(p, at("url"), u, false)
	}
	// Never print the secret, not even a part of it.
	switch key, ok := strings.CutPrefix(n.Secret, SecretPrefix); {
	case n.Secret == "":
		p.Addf(at("secret"), `required: the Standard Webhooks secret, "whsec_" followed by base64`)
	case !ok:
		p.Addf(at("secret"), `must start with "whsec_" (value not shown)`)
	case !validBase64Key(key):
		p.Addf(at("secret"), `the part after "whsec_" must be non-empty valid base64 (value not shown)`)
	}
}

// validBase64Key reports whether s decodes, with or without padding, to a
// non-empty key.
func validBase64Key(s string) bool {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) > 0 {
			return true
		}
	}
	return false
}

// Series describes what one configured source can produce, so that rules
// can be checked against the site: a device kind (the measurement), a
// device id ("" when devices are learnt from traffic: then a glob or empty
// device matches, a literal one does not) and its points (nil when any
// field may come).
type Series struct {
	Kind   string
	Device string
	Points []string
	// Tags are the device's configured tags (alerts carry them).
	Tags map[string]string
}

// CheckSite reports rules that can never fire at this site: a rule whose
// match has no glob and matches none of the series is an error naming the
// rule (a typo such as kind: gas-detector would leave the alarm silent
// forever); a rule with a glob that matches nothing is a warning.
func (c *Config) CheckSite(path string, site []Series, p *conf.Problems) {
	c.checkRoutes(path, site, p)
	for i := range c.Rules {
		r := &c.Rules[i]
		if r.Name == SpoolFullRule {
			continue
		}
		stale := r.Stale != nil
		if slices.ContainsFunc(site, func(s Series) bool { return seriesMatches(r.Match, s, stale) }) {
			continue
		}
		mp := conf.Join(conf.Index(conf.Join(path, "rules"), i), "match")
		what := describeMatch(r.Match, stale)
		if isGlob(r.Match.Kind) || isGlob(r.Match.Device) || !stale && isGlob(r.Match.Point) {
			p.Warnf(mp, "rule %q matches no configured device, kind or point (%s); it cannot fire until one appears", r.Name, what)
			continue
		}
		p.Addf(mp, "rule %q matches no configured device, kind or point (%s): check the spelling", r.Name, what)
	}
}

func isGlob(s string) bool { return strings.ContainsAny(s, `*?[\`) }

func seriesMatches(m Match, s Series, stale bool) bool {
	if !globMatch(m.Kind, s.Kind) {
		return false
	}
	switch {
	case s.Device != "" && !globMatch(m.Device, s.Device):
		return false
	case s.Device == "" && m.Device != "" && !isGlob(m.Device):
		// Devices learnt from traffic are unknown here: a device named
		// literally must be configured (Modbus) or declared (mqtt.devices).
		return false
	}
	if stale || m.Point == "" || s.Points == nil {
		return true
	}
	return slices.ContainsFunc(s.Points, func(pt string) bool { return globMatch(m.Point, pt) })
}

func describeMatch(m Match, stale bool) string {
	var parts []string
	if m.Kind != "" {
		parts = append(parts, "kind "+strconv.Quote(m.Kind))
	}
	if m.Device != "" {
		parts = append(parts, "device "+strconv.Quote(m.Device))
	}
	if m.Point != "" && !stale {
		parts = append(parts, "point "+strconv.Quote(m.Point))
	}
	if len(parts) == 0 {
		return "anything"
	}
	return strings.Join(parts, ", ")
}

// validateSeverityOrder reports thresholds whose severity falls as the
// alarm gets worse: in one direction, a limit further from normal must be
// at least as severe as every limit nearer to normal (red above 25 and
// yellow above 50 would announce the worse reading as the milder alarm).
func validateSeverityOrder(r *RuleConfig, tsp string, p *conf.Problems) {
	type th struct {
		i     int
		above bool
		limit float64
		rank  int
	}
	var ts []th
	for i, t := range r.Thresholds {
		sev := firstNonEmpty(t.Severity, r.Severity)
		if severityRank(sev) == 0 {
			continue
		}
		switch {
		case t.Above != nil && t.Below == nil:
			ts = append(ts, th{i, true, *t.Above, severityRank(sev)})
		case t.Below != nil && t.Above == nil:
			ts = append(ts, th{i, false, *t.Below, severityRank(sev)})
		}
	}
	for _, a := range ts {
		for _, b := range ts {
			worse := a.above == b.above && (a.above && b.limit > a.limit || !a.above && b.limit < a.limit)
			if worse && b.rank < a.rank {
				ta, tb := r.Thresholds[a.i], r.Thresholds[b.i]
				p.Addf(conf.Index(tsp, b.i), "severity %s of level %q is lower than %s of level %q, which is nearer to normal: severity must not fall as the alarm gets worse",
					firstNonEmpty(tb.Severity, r.Severity), tb.Level, firstNonEmpty(ta.Severity, r.Severity), ta.Level)
			}
		}
	}
}
