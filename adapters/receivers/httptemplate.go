package receivers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"text/template"
	"time"
	"unicode/utf8"

	"github.com/hazardgw/hazardgw/alerting"
)

// TemplateData is what the templates of an http receiver (url, headers'
// values, body) see for one notification.
type TemplateData struct {
	ID        string    // the notification's id, the same on every retry (for gateways that dedup)
	Type      string    // alert.firing, alert.resolved, …
	Timestamp time.Time // when the notification was made (UTC)
	// Alert is the alert it is about; for an alert.group, the most severe
	// of its alerts; the zero Alert for a heartbeat.
	Alert  alerting.Alert
	Alerts []alerting.Alert // an alert.group's alerts, most severe first; else just Alert
	Site   string           // site.name
	// Title and Text are the notification in words, as a group chat gets
	// it in plain text: Title a short line (severity, event, device), Text
	// the whole message.
	Title string
	Text  string
	Time  string // Timestamp in the site's local time, "2006-01-02 15:04:05"
}

// templateFuncs are the functions templates may call besides the
// built-in ones (urlquery, js, printf, len…).
var templateFuncs = template.FuncMap{
	// json writes v as JSON: {{json .Text}} is a quoted, escaped string for
	// a JSON body.
	"json": func(v any) (string, error) {
		b, err := marshal(v)
		return string(b), err
	},
	// trunc cuts s to at most n characters (SMS segments count characters).
	"trunc": func(n int, s string) string {
		if utf8.RuneCountInString(s) <= n {
			return s
		}
		r := []rune(s)
		if n <= 1 {
			return string(r[:max(n, 0)])
		}
		return string(r[:n-1]) + "…"
	},
}

// httpTemplate is a templated request for an SMS or voice gateway.
type httpTemplate struct {
	method  string
	url     *template.Template
	headers map[string]*template.Template
	names   []string // header names, sorted
	body    *template.Template
	success []int // empty: any 2xx
	site    Site
}

func parseTemplate(name, text string) (*template.Template, error) {
	return template.New(name).Option("missingkey=error").Funcs(templateFuncs).Parse(text)
}

// data builds the templates' view of a notification.
func (h *httpTemplate) data(m alerting.Message) TemplateData {
	d := TemplateData{ID: m.ID, Type: m.Type, Site: h.site.Name}
	var env envelope
	if json.Unmarshal(m.Body, &env) == nil {
		d.Type, d.Timestamp = firstNonEmpty(env.Type, m.Type), env.Timestamp.UTC()
		switch env.Type {
		case typeGroup:
			if g, ok := decodeGroup(env.Data); ok {
				for _, a := range g.Alerts {
					d.Alerts = append(d.Alerts, a.Alert)
				}
				slices.SortStableFunc(d.Alerts, func(a, b alerting.Alert) int { return severityRank(b.Severity) - severityRank(a.Severity) })
			}
		case alerting.TypeHeartbeat:
		default:
			if a, ok := decodeAlert(env.Data); ok {
				d.Alerts = []alerting.Alert{a.Alert}
			}
		}
	}
	if len(d.Alerts) > 0 {
		d.Alert = d.Alerts[0]
	}
	r := layout(h.site, feishuText, []item{renderItem(h.site, m.Body)}, nil)
	d.Title, d.Text = r.title, r.text
	d.Time = localTime(h.site, d.Timestamp)
	return d
}

// maxRendered bounds what one template may write: an SMS or voice request
// is small, and a runaway range must not fill memory.
const maxRendered = 64 << 10

type limitedBuffer struct{ bytes.Buffer }

var errTooLarge = errors.New("writes more than 64 KiB")

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > maxRendered {
		return 0, errTooLarge
	}
	return b.Buffer.Write(p)
}

func execute(t *template.Template, d *TemplateData) (string, error) {
	var b limitedBuffer
	if err := t.Execute(&b, d); err != nil {
		return "", err
	}
	return b.String(), nil
}

func (h *httpTemplate) prepare(ms []alerting.Message) (signer, error) {
	if len(ms) != 1 {
		return nil, fmt.Errorf("an http receiver sends one notification at a time, got %d", len(ms))
	}
	d := h.data(ms[0])
	a, err := h.request(&d)
	if err != nil {
		return nil, err
	}
	return func(time.Time) (attempt, error) { return a, nil }, nil
}

// request executes the templates for d. Errors name the template (url,
// headers.X, body), never the values.
func (h *httpTemplate) request(d *TemplateData) (attempt, error) {
	u, err := execute(h.url, d)
	if err != nil {
		return attempt{}, fmt.Errorf("url template: %w", err)
	}
	a := attempt{method: h.method, url: strings.TrimSpace(u), header: http.Header{}}
	for _, k := range h.names {
		v, err := execute(h.headers[k], d)
		if err != nil {
			return attempt{}, fmt.Errorf("headers.%s template: %w", k, err)
		}
		if strings.ContainsAny(v, "\r\n") {
			return attempt{}, fmt.Errorf("headers.%s template: the value has a line break", k)
		}
		a.header.Set(k, v)
	}
	if h.body != nil {
		b, err := execute(h.body, d)
		if err != nil {
			return attempt{}, fmt.Errorf("body template: %w", err)
		}
		a.body = []byte(b)
	}
	return a, nil
}

// verdict: a listed status (any 2xx when none are listed) is delivery; 429
// and 5xx were retried before; anything else is final.
func (h *httpTemplate) verdict(status int, _ []byte) error {
	if len(h.success) == 0 && status/100 == 2 || slices.Contains(h.success, status) {
		return nil
	}
	return &RefusedError{Status: status}
}

// sampleMessage is a notification to try templates on when they are
// compiled, so that a misspelt field fails `check`, not an alarm.
func sampleMessage() alerting.Message {
	limit := 50.0
	started := time.Date(2026, 11, 22, 9, 0, 1, 0, time.UTC)
	a := alerting.Alert{ID: "0123456789abcdef0123", Key: "combustible-gas/GD-101/ch4", Rule: "combustible-gas",
		Status: alerting.StatusFiring, State: alerting.StateActiveUnacked, Level: "high-high", Severity: alerting.SeverityRed,
		Site: "site", Device: "GD-101", Label: "1号储罐区东侧可燃气体探测器", Kind: "gas_detector", Point: "ch4",
		Value: 57.3, Unit: "%LEL", Threshold: &limit, StartedAt: started, ChangedAt: started,
		Message: "1号储罐区东侧可燃气体探测器 甲烷 57.3 %LEL，超过二级报警值 50 %LEL"}
	body, _ := marshal(map[string]any{"type": alerting.TypeFiring, "timestamp": started.Add(time.Second), "data": a})
	return alerting.Message{ID: "msg_0123456789abcdef0123_1", Type: alerting.TypeFiring, AlertID: a.ID, Body: body}
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
