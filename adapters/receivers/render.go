package receivers

import (
	"encoding/json"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hazardgw/hazardgw/alerting"
)

// Site is what messages say about the site: its name, the language of
// the words around the alarm texts, and the zone of the times shown.
type Site struct {
	Name     string         // site.name; "" for none
	Language string         // alerting.LangZH (default) or alerting.LangEN
	Location *time.Location // site.timezone; nil: UTC
}

func (s Site) zh() bool { return s.Language != alerting.LangEN }

func (s Site) loc() *time.Location {
	if s.Location == nil {
		return time.UTC
	}
	return s.Location
}

// Types a notification may have beyond those the alerting package names
// (their data is an alert, except alert.group's).
const (
	typeShelved    = "alert.shelved"
	typeUnshelved  = "alert.unshelved"
	typeChattering = "alert.chattering"
	typeGroup      = alerting.TypeGroup
)

// An item is one notification rendered for people: a head line naming the
// severity and what happened, and plain-text lines (escaped when written
// as markdown).
type item struct {
	alert   string // the alert it is about ("" for none): keeps one alert's items together
	rank    int    // severity rank, 4 red … 1 blue, 0 none
	head    string // e.g. "🔴 红色 I级 告警"
	subject string // short: the device, for a title
	lines   []line
	urgent  bool // calls for someone: @-mention
}

type line struct {
	text   string
	strong bool
}

// envelope is the webhook body every notification has.
type envelope struct {
	Type      string          `json:"type"`
	Timestamp time.Time       `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// groupAlert is an alert inside an alert.group, with the notification type
// it stands for.
type groupAlert struct {
	alerting.Alert
	Event string `json:"event"`
}

type groupData struct {
	Group  map[string]string
	Alerts []groupAlert
}

// decodeAlert reads an alert's JSON. A field of an unexpected type (a
// time that does not parse, a value given as a string) loses only that
// field, not the notification: what a duty officer needs is still shown.
func decodeAlert(raw []byte) (groupAlert, bool) {
	var a groupAlert
	if json.Unmarshal(raw, &a) == nil {
		return a, true
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return groupAlert{}, false
	}
	str := func(k string) string {
		var s string
		_ = json.Unmarshal(m[k], &s)
		return s
	}
	tm := func(k string) *time.Time {
		var t time.Time
		if json.Unmarshal(m[k], &t) != nil || t.IsZero() {
			return nil
		}
		return &t
	}
	a.ID, a.Rule, a.Status, a.Level, a.Severity = str("id"), str("rule"), str("status"), str("level"), str("severity")
	a.Site, a.Device, a.Label, a.Kind, a.Point, a.Unit = str("site"), str("device"), str("label"), str("kind"), str("point"), str("unit")
	a.Message, a.AcknowledgedBy, a.Comment, a.Event = str("message"), str("acknowledged_by"), str("comment"), str("event")
	_ = json.Unmarshal(m["value"], &a.Value)
	var lim float64
	if json.Unmarshal(m["threshold"], &lim) == nil && m["threshold"] != nil {
		a.Threshold = &lim
	}
	if t := tm("started_at"); t != nil {
		a.StartedAt = *t
	}
	if t := tm("changed_at"); t != nil {
		a.ChangedAt = *t
	}
	a.ResolvedAt, a.AcknowledgedAt = tm("resolved_at"), tm("acknowledged_at")
	return a, true
}

// decodeGroup reads an alert.group's data, alert by alert.
func decodeGroup(raw []byte) (groupData, bool) {
	var g struct {
		Group  map[string]json.RawMessage `json:"group"`
		Alerts []json.RawMessage          `json:"alerts"`
	}
	if json.Unmarshal(raw, &g) != nil {
		return groupData{}, false
	}
	out := groupData{Group: map[string]string{}}
	for k, v := range g.Group {
		var s string
		if json.Unmarshal(v, &s) != nil {
			s = string(v)
		}
		out.Group[k] = s
	}
	for _, r := range g.Alerts {
		if a, ok := decodeAlert(r); ok {
			out.Alerts = append(out.Alerts, a)
		}
	}
	return out, true
}

// severityRank orders severities: red 4 … blue 1, unknown 0.
func severityRank(s string) int {
	switch s {
	case alerting.SeverityRed:
		return 4
	case alerting.SeverityOrange:
		return 3
	case alerting.SeverityYellow:
		return 2
	case alerting.SeverityBlue:
		return 1
	}
	return 0
}

// severityWords names a severity by its colour and class, as Chinese
// duty officers say it (红色 I级 … 蓝色 IV级), with a coloured mark.
func severityWords(zh bool, s string) string {
	switch s {
	case alerting.SeverityRed:
		return pick(zh, "🔴 红色 I级", "🔴 RED (I)")
	case alerting.SeverityOrange:
		return pick(zh, "🟠 橙色 II级", "🟠 ORANGE (II)")
	case alerting.SeverityYellow:
		return pick(zh, "🟡 黄色 III级", "🟡 YELLOW (III)")
	case alerting.SeverityBlue:
		return pick(zh, "🔵 蓝色 IV级", "🔵 BLUE (IV)")
	}
	return ""
}

func pick(zh bool, a, b string) string {
	if zh {
		return a
	}
	return b
}

// eventWords says what a notification type means; urgent types call for
// someone to act.
func eventWords(zh bool, typ string) (words string, urgent bool) {
	switch typ {
	case alerting.TypeFiring:
		return pick(zh, "告警", "ALARM"), true
	case alerting.TypeChanged:
		return pick(zh, "告警变化", "ALARM CHANGED"), true
	case alerting.TypeReminder:
		return pick(zh, "未确认提醒", "REMINDER: not acknowledged"), true
	case alerting.TypeResolved:
		return pick(zh, "已恢复", "RESOLVED"), false
	case alerting.TypeAcknowledged:
		return pick(zh, "已确认", "ACKNOWLEDGED"), false
	case typeShelved:
		return pick(zh, "已搁置", "SHELVED"), false
	case typeUnshelved:
		return pick(zh, "搁置结束", "UNSHELVED"), true
	case typeChattering:
		return pick(zh, "频繁波动", "CHATTERING"), true
	case alerting.TypeLatched:
		return pick(zh, "已锁存，待复位", "LATCHED: reset needed"), false
	case alerting.TypeSuppressed:
		return pick(zh, "维护中，告警暂停", "MAINTENANCE: alarms suppressed"), false
	case alerting.TypeUnsuppressed:
		return pick(zh, "维护结束", "MAINTENANCE ENDED"), false
	case alerting.TypeHeartbeat:
		return pick(zh, "网关心跳", "GATEWAY HEARTBEAT"), false
	case typeGroup:
		return pick(zh, "分组告警", "ALARM GROUP"), true
	case alerting.TypeEscalated:
		return pick(zh, "升级通知", "ESCALATED"), true
	}
	return strings.TrimPrefix(typ, "alert."), false
}

// renderItem turns one notification body into an item. It never fails: a
// body it cannot read is still shown, as what it is.
func renderItem(site Site, body []byte) item {
	zh := site.zh()
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return item{head: pick(zh, "⚪ 无法解析的通知", "⚪ unreadable notification"),
			lines: []line{{text: clip(string(body), 500)}}}
	}
	words, urgent := eventWords(zh, env.Type)
	switch env.Type {
	case alerting.TypeHeartbeat:
		var hb alerting.Heartbeat
		if json.Unmarshal(env.Data, &hb) != nil {
			break
		}
		return heartbeatItem(site, words, env.Timestamp, &hb)
	case typeGroup:
		g, ok := decodeGroup(env.Data)
		if !ok {
			break
		}
		return groupItem(site, words, env.Timestamp, &g)
	default:
		ga, ok := decodeAlert(env.Data)
		a := &ga.Alert
		if !ok || a.ID == "" && a.Message == "" {
			break
		}
		it := alertItem(site, env.Type, a, env.Timestamp)
		it.urgent = urgent && (env.Type != typeUnshelved || a.Status == alerting.StatusFiring)
		return it
	}
	return item{head: "⚪ " + words, lines: []line{{text: localTime(site, env.Timestamp)}}}
}

// alertItem renders a notification about one alert: what happened at
// which severity, the device, the alarm's message (the rule's instruction
// leads it), value and limit, local time, and who acknowledged.
func alertItem(site Site, typ string, a *alerting.Alert, ts time.Time) item {
	zh := site.zh()
	words, _ := eventWords(zh, typ)
	sev := severityWords(zh, a.Severity)
	mark := sev
	if typ == alerting.TypeResolved || typ == alerting.TypeUnsuppressed {
		mark = "✅ " + strings.TrimLeft(strings.TrimPrefix(sev, firstRune(sev)), " ")
	}
	it := item{alert: a.ID, rank: severityRank(a.Severity), head: strings.TrimSpace(mark + " " + words)}
	dev := firstNonEmpty(a.Label, a.Device)
	it.subject = dev
	if dev != "" {
		it.lines = append(it.lines, line{text: dev, strong: true})
	}
	msg := stripSite(a.Message, site.Name)
	if typ == alerting.TypeReminder { // the head says so already
		msg = strings.TrimPrefix(strings.TrimPrefix(msg, "【未确认提醒】"), "Reminder, not acknowledged: ")
	}
	if msg != "" {
		it.lines = append(it.lines, line{text: msg})
	}
	var facts []string
	if a.Threshold != nil && typ != alerting.TypeResolved {
		facts = append(facts, pick(zh, "当前 ", "value ")+num(a.Value)+unit(a.Unit)+pick(zh, "，限值 ", ", limit ")+num(*a.Threshold)+unit(a.Unit))
	}
	when := a.StartedAt
	switch typ {
	case alerting.TypeResolved:
		if a.ResolvedAt != nil {
			when = *a.ResolvedAt
		}
	case alerting.TypeAcknowledged:
		if a.AcknowledgedAt != nil {
			when = *a.AcknowledgedAt
		}
	case alerting.TypeFiring:
	default:
		if !ts.IsZero() {
			when = ts
		}
	}
	if !when.IsZero() {
		facts = append(facts, pick(zh, "时间 ", "at ")+localTime(site, when))
	}
	if len(facts) > 0 {
		it.lines = append(it.lines, line{text: strings.Join(facts, pick(zh, "；", "; "))})
	}
	if typ == alerting.TypeAcknowledged || a.AcknowledgedBy != "" && typ != alerting.TypeFiring {
		if by := a.AcknowledgedBy; by != "" {
			s := pick(zh, "确认人 ", "acknowledged by ") + by
			if a.Comment != "" {
				s += pick(zh, "：", ": ") + a.Comment
			}
			it.lines = append(it.lines, line{text: s})
		}
	}
	return it
}

// heartbeatItem summarises the gateway's status.
func heartbeatItem(site Site, words string, ts time.Time, hb *alerting.Heartbeat) item {
	zh := site.zh()
	var counts []string
	for _, s := range []string{alerting.SeverityRed, alerting.SeverityOrange, alerting.SeverityYellow, alerting.SeverityBlue} {
		if n := hb.Active[s]; n > 0 {
			counts = append(counts, strings.TrimSpace(severityWords(zh, s))+" "+strconv.Itoa(n))
		}
	}
	s := pick(zh, "网关在线；未结束告警 ", "gateway up; open alerts ") + strconv.Itoa(hb.Open) +
		pick(zh, " 条，未确认 ", ", unacknowledged ") + strconv.Itoa(hb.Unack)
	if zh {
		s += " 条"
	}
	lines := []line{{text: s}}
	if len(counts) > 0 {
		lines = append(lines, line{text: pick(zh, "活动告警：", "active: ") + strings.Join(counts, pick(zh, "，", ", "))})
	}
	lines = append(lines, line{text: pick(zh, "时间 ", "at ") + localTime(site, ts)})
	return item{head: "💚 " + words, subject: firstNonEmpty(hb.Name, hb.Site), lines: lines}
}

// groupItem lists the alerts of an alert.group, most severe first.
func groupItem(site Site, words string, ts time.Time, g *groupData) item {
	zh := site.zh()
	it := item{head: words}
	var keys []string
	for k := range g.Group {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var by []string
	for _, k := range keys {
		by = append(by, k+"="+g.Group[k])
	}
	if len(by) > 0 {
		it.subject = strings.Join(by, " ")
	}
	as := make([]groupAlert, len(g.Alerts))
	copy(as, g.Alerts)
	sort.SliceStable(as, func(i, j int) bool { return severityRank(as[i].Severity) > severityRank(as[j].Severity) })
	for _, a := range as {
		it.rank = max(it.rank, severityRank(a.Severity))
		ev, urgent := eventWords(zh, a.Event)
		it.urgent = it.urgent || urgent
		s := strings.TrimSpace(severityWords(zh, a.Severity) + " " + ev + " " + firstNonEmpty(stripSite(a.Message, site.Name), a.Label, a.Device))
		it.lines = append(it.lines, line{text: s})
	}
	n := strconv.Itoa(len(g.Alerts))
	it.head = strings.TrimSpace(severityWords(zh, severityOf(it.rank)) + " " + words + " · " + n + pick(zh, " 条", " alerts"))
	if it.subject != "" {
		it.lines = append([]line{{text: it.subject, strong: true}}, it.lines...)
	}
	it.lines = append(it.lines, line{text: pick(zh, "时间 ", "at ") + localTime(site, ts)})
	return it
}

func severityOf(rank int) string {
	switch rank {
	case 4:
		return alerting.SeverityRed
	case 3:
		return alerting.SeverityOrange
	case 2:
		return alerting.SeverityYellow
	case 1:
		return alerting.SeverityBlue
	}
	return ""
}

// order sorts items: what calls for action (firing, changed, reminder…)
// before what does not (resolved, acknowledged…), each most severe first;
// one alert's items stay together, in the order they were made, ranked by
// the most pressing of them.
func order(items []item) []item {
	type run struct {
		rank   int
		urgent bool
		items  []item
	}
	var runs []*run
	byAlert := map[string]*run{}
	for _, it := range items {
		r := byAlert[it.alert]
		if r == nil || it.alert == "" {
			r = &run{}
			runs = append(runs, r)
			if it.alert != "" {
				byAlert[it.alert] = r
			}
		}
		r.items = append(r.items, it)
		r.rank = max(r.rank, it.rank)
		r.urgent = r.urgent || it.urgent
	}
	sort.SliceStable(runs, func(i, j int) bool {
		if runs[i].urgent != runs[j].urgent {
			return runs[i].urgent
		}
		return runs[i].rank > runs[j].rank
	})
	out := make([]item, 0, len(items))
	for _, r := range runs {
		out = append(out, r.items...)
	}
	return out
}

// localTime writes t in the site's zone, month to second: a duty officer
// reads it at a glance; the zone is the site's, as on the wall clock.
func localTime(site Site, t time.Time) string {
	if t.IsZero() {
		return "?"
	}
	return t.In(site.loc()).Format("2006-01-02 15:04:05")
}

// stripSite drops the "【site】" or "[site] " the alarm message starts
// with: the message title already names the site.
func stripSite(msg, site string) string {
	if site == "" {
		return msg
	}
	for _, p := range []string{"【" + site + "】", "[" + site + "] "} {
		if s, ok := strings.CutPrefix(msg, p); ok {
			return s
		}
	}
	return msg
}

func num(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	if math.Abs(v) < 1e15 {
		return strconv.FormatFloat(math.Round(v*1000)/1000, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', 6, 64)
}

func unit(u string) string {
	if u == "" {
		return ""
	}
	return " " + u
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func firstRune(s string) string {
	_, n := utf8.DecodeRuneInString(s)
	return s[:n]
}

// clip cuts s to at most n bytes on a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const ell = "…"
	if n < len(ell) {
		return ""
	}
	cut := n - len(ell)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ell
}
