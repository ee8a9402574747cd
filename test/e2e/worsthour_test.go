package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/internal/testenv"
	"github.com/hazardgw/hazardgw/simulators/dutydesk"
)

// The worst hour of a site: the scenarios in this file are what a duty
// officer would suffer when several things go wrong at once, each checked
// through the real binary with exact counts at the desk and exact rows in
// InfluxDB.

// deskLines lists what the desk received for one device and rule
// (reminders left out) per occurrence, occurrences in the order they
// started, each as "type level severity reason" in order of receipt,
// occurrences separated by "|". Only one occurrence's notifications are
// promised in order; two occurrences are delivered independently.
func (s *alertSite) deskLines(device, rule string) []string {
	byID := map[string][]string{}
	started := map[string]string{}
	for _, d := range s.desk.Deliveries() {
		if d.Alert.Device != device || d.Alert.Rule != rule || d.Type == "alert.reminder" {
			continue
		}
		id := d.Alert.ID
		byID[id] = append(byID[id], strings.TrimSpace(d.Type+" "+d.Alert.Level+" "+d.Alert.Severity+" "+dataOf(s.t, d).Reason))
		started[id] = d.Alert.StartedAt + " " + id
	}
	ids := slices.Collect(maps.Keys(byID))
	slices.SortFunc(ids, func(a, b string) int { return strings.Compare(started[a], started[b]) })
	var out []string
	for i, id := range ids {
		if i > 0 {
			out = append(out, "|")
		}
		out = append(out, byID[id]...)
	}
	return out
}

// alertPoints lists the `alert` points InfluxDB holds for one device and
// rule, oldest first, as "status level severity by reason".
func (s *alertSite) alertPoints(device, rule string) []string {
	s.t.Helper()
	res, err := s.influx.Query("hazard", fmt.Sprintf(`SELECT status, level, severity, "by", reason FROM alert WHERE "device"='%s' AND "rule"='%s' ORDER BY time`, device, rule))
	if err != nil {
		s.t.Fatal(err)
	}
	var out []string
	for _, r := range rowsOf(res) {
		line := fmt.Sprintf("%v %v %v %v %v", r.Value("status"), r.Value("level"), r.Value("severity"), r.Value("by"), r.Value("reason"))
		out = append(out, strings.ReplaceAll(line, " <nil>", ""))
	}
	return out
}

// quiet observes the desk for a while and fails if anything more arrives:
// it checks for the absence of extra notifications, it synchronises
// nothing.
func (s *alertSite) quiet(d time.Duration) {
	s.t.Helper()
	before := len(s.desk.Deliveries())
	time.Sleep(d)
	if after := len(s.desk.Deliveries()); after != before {
		s.t.Errorf("%d more notifications while the site was quiet:\n%s", after-before, strings.Join(s.received()[before:], "\n"))
	}
}

// startWorstSite starts the gateway of a site of n gas detectors polled
// every 200 ms.
func startWorstSite(t *testing.T, n int) (*alertSite, *gatewayProc) {
	t.Helper()
	s := newAlertSite(t, siteOpts{devices: n, interval: 200 * time.Millisecond})
	return s, s.start()
}

// crash kills the gateway with SIGKILL, as a power cut of the process
// would, runs whileDown and starts the gateway again.
func (s *alertSite) crash(g *gatewayProc, whileDown func()) *gatewayProc {
	s.t.Helper()
	g.kill9()
	whileDown()
	return s.start()
}

// waitFiring waits for each device's first alert.firing of rule at the desk.
func (s *alertSite) waitFiring(rule string, devices ...string) {
	s.t.Helper()
	for _, dev := range devices {
		s.waitDesk(30*time.Second, dev+" fires", count(dev, rule, "alert.firing", 1))
	}
}

// ackAlert acknowledges the alert of rule on device as by through the API
// and returns it; an answer other than 200 fails the test.
func (s *alertSite) ackAlert(device, rule, by string) apiAlert {
	s.t.Helper()
	a, ok := s.findAlert(device, rule)
	if !ok {
		s.t.Fatalf("no %s alert of %s to acknowledge", rule, device)
	}
	if code, body := s.call("POST", "/api/v1/alerts/"+a.ID+"/ack", "test-token", `{"by":"`+by+`"}`); code != 200 {
		s.t.Fatalf("ack %s's %s alert by %s: %d %s", device, rule, by, code, body)
	}
	return a
}

// wantDesk checks what the desk received for device and rule (deskLines).
func (s *alertSite) wantDesk(device, rule string, want ...string) {
	s.t.Helper()
	if got := s.deskLines(device, rule); !slices.Equal(got, want) {
		s.t.Errorf("%s %s at the desk:\n%q\nwant:\n%q", device, rule, got, want)
	}
}

// wantPoints waits until InfluxDB holds as many alert points for device
// and rule as want lists, then checks them (alertPoints).
func (s *alertSite) wantPoints(device, rule string, want ...string) {
	s.t.Helper()
	testenv.Eventually(s.t, 60*time.Second, func() bool { return len(s.alertPoints(device, rule)) >= len(want) }, "%s alert points", device)
	if got := s.alertPoints(device, rule); !slices.Equal(got, want) {
		s.t.Errorf("%s alert points:\n%q\nwant:\n%q", device, got, want)
	}
}

// deskVia puts h in front of the duty desk: the gateway, once started,
// notifies h, which may pass the request on to the desk.
func (s *alertSite) deskVia(h http.Handler) {
	s.t.Helper()
	srv := httptest.NewServer(h)
	s.t.Cleanup(srv.Close)
	s.editConfig("url: "+s.desk.URL(), "url: "+srv.URL+"/api/alerts")
}

// TestWorstHourReloadWhileAlarmsActive: four detectors are in alarm, two
// acknowledged, when SIGHUP applies a file that lowers the high-high
// limit and removes GD-103. The untouched acknowledged alarm stays as it
// is (no new notification, still acknowledged); the alarm whose limit
// changed ends visibly (rule_changed) and fires again at the new limit;
// the alarm that the new limit makes worse changes level in its
// occurrence; the removed device's alarm ends visibly instead of lingering
// forever with nobody to clear it.
func TestWorstHourReloadWhileAlarmsActive(t *testing.T) {
	s, g := startWorstSite(t, 4)
	const rule = "combustible-gas"

	s.set(1, 30)
	s.set(2, 55)
	s.set(3, 30)
	s.set(4, 47)
	s.waitFiring(rule, "GD-101", "GD-102", "GD-103", "GD-104")
	for _, dev := range []string{"GD-101", "GD-102"} {
		s.ackAlert(dev, rule, "值班员甲")
		s.waitDesk(30*time.Second, dev+" acknowledged", count(dev, rule, "alert.acknowledged", 1))
	}
	ack101, _ := s.findAlert("GD-101", rule)

	s.cutConfig("        - id: GD-103", "        - id: GD-104")
	s.editConfig("{level: high-high, above: 50, severity: red}", "{level: high-high, above: 45, severity: red}")
	g.sighup()
	g.waitReloaded()

	s.waitDesk(60*time.Second, "GD-102 fires again at the new limit", count("GD-102", rule, "alert.firing", 2))
	s.waitDesk(60*time.Second, "GD-102's old occurrence ends", count("GD-102", rule, "alert.resolved", 1))
	s.waitDesk(60*time.Second, "GD-104 changes to high-high", count("GD-104", rule, "alert.changed", 1))
	s.waitDesk(60*time.Second, "GD-103's alarm ends", count("GD-103", rule, "alert.resolved", 1))
	s.quiet(3 * time.Second)

	// The removed device's alert waits for its acknowledgement, which
	// still works, and then ends.
	a103, ok := s.findAlert("GD-103", rule)
	if !ok || a103.Status != "resolved" || a103.State != "cleared-unacknowledged" {
		t.Fatalf("the removed device's alert: %+v; want resolved, cleared-unacknowledged", a103)
	}
	s.ackAlert("GD-103", rule, "值班员乙")
	s.waitDesk(30*time.Second, "GD-103 acknowledged", count("GD-103", rule, "alert.acknowledged", 1))
	for _, a := range s.alerts("active") {
		if a.Device == "GD-103" {
			t.Errorf("the removed device's alert is still listed after its acknowledgement: %+v", a)
		}
	}

	want := map[string][]string{
		"GD-101": {"alert.firing high yellow", "alert.acknowledged high yellow"},
		"GD-102": {"alert.firing high-high red", "alert.acknowledged high-high red", "alert.resolved high-high red rule_changed", "|", "alert.firing high-high red"},
		"GD-103": {"alert.firing high yellow", "alert.resolved high yellow rule_changed", "alert.acknowledged high yellow rule_changed"},
		"GD-104": {"alert.firing high yellow", "alert.changed high-high red"},
	}
	for dev, w := range want {
		s.wantDesk(dev, rule, w...)
	}
	if a, ok := s.findAlert("GD-101", rule); !ok || a.ID != ack101.ID || !a.Acknowledged || a.Status != "firing" {
		t.Errorf("GD-101 after the reload: %+v; want the same occurrence %s, firing and still acknowledged", a, ack101.ID)
	}
	wantPoints := map[string][]string{
		"GD-101": {"firing high yellow", "acknowledged high yellow 值班员甲"},
		"GD-102": {"firing high-high red", "acknowledged high-high red 值班员甲", "resolved high-high red rule_changed", "firing high-high red"},
		"GD-103": {"firing high yellow", "resolved high yellow rule_changed", "acknowledged high yellow 值班员乙"},
		"GD-104": {"firing high yellow", "changed high-high red"},
	}
	for dev, w := range wantPoints {
		s.wantPoints(dev, rule, w...)
	}
}

// TestWorstHourConsolesAndBadRequests: two consoles acknowledge the same
// alarm at once, many times over; acknowledgements of an unknown and of
// an ended occurrence; then every POST endpoint gets malformed, huge and
// non-UTF-8 bodies. The desk gets exactly one alert.acknowledged naming
// one officer, InfluxDB exactly one acknowledged point, every bad request
// a clear 4xx, and the gateway keeps running and alarming.
func TestWorstHourConsolesAndBadRequests(t *testing.T) {
	s, g := startWorstSite(t, 2)
	const rule = "combustible-gas"
	s.set(1, 55)
	s.waitFiring(rule, "GD-101")
	a, _ := s.findAlert("GD-101", rule)

	var wg sync.WaitGroup
	answers := make(chan string, 40)
	for i := range 40 {
		by := []string{"控制室甲", "控制室乙"}[i%2]
		wg.Go(func() {
			code, body := s.call("POST", "/api/v1/alerts/"+a.ID+"/ack", "test-token", `{"by":"`+by+`","comment":"同时确认"}`)
			var got struct {
				AcknowledgedBy string `json:"acknowledged_by"`
			}
			json.Unmarshal(body, &got)
			answers <- fmt.Sprintf("%d %s", code, got.AcknowledgedBy)
		})
	}
	wg.Wait()
	close(answers)
	seen := map[string]int{}
	for ans := range answers {
		seen[ans]++
	}
	if len(seen) != 1 {
		t.Errorf("40 concurrent acknowledgements answered %v; want 40 × 200 naming the one officer who was first", seen)
	}
	s.waitDesk(30*time.Second, "acknowledged", count("GD-101", rule, "alert.acknowledged", 1))

	// Unknown occurrences are 404; an ended one answers as it is.
	for _, id := range []string{"0123456789abcdef0123", strings.Repeat("f", 4000), "..%2F..%2Fetc", "%00"} {
		if code, body := s.call("POST", "/api/v1/alerts/"+id+"/ack", "test-token", `{"by":"x"}`); code != 404 {
			t.Errorf("ack of unknown id %.40q: %d %s; want 404", id, code, body)
		}
	}
	s.set(1, 0)
	s.waitDesk(30*time.Second, "GD-101 resolves", count("GD-101", rule, "alert.resolved", 1))
	for range 3 {
		if code, body := s.call("POST", "/api/v1/alerts/"+a.ID+"/ack", "test-token", `{"by":"迟到的人"}`); code != 200 {
			t.Errorf("ack of an ended occurrence: %d %s; want 200 (idempotent)", code, body)
		}
	}

	// Bad bodies, to every POST endpoint.
	s.set(2, 30)
	s.waitFiring(rule, "GD-102")
	b2, _ := s.findAlert("GD-102", rule)
	paths := []string{"/api/v1/alerts/" + b2.ID + "/ack", "/api/v1/alerts/" + b2.ID + "/shelve", "/api/v1/alerts/" + b2.ID + "/unshelve",
		"/api/v1/alerts/" + b2.ID + "/reset", "/api/v1/devices/GD-102/out-of-service"}
	bodies := map[string]string{
		"not JSON":          `by=张三`,
		"truncated":         `{"by":"张三"`,
		"array":             `[{"by":"张三"}]`,
		"null by":           `{"by":null}`,
		"number by":         `{"by":12}`,
		"unknown field":     `{"by":"张三","rm":"-rf"}`,
		"two objects":       `{"by":"张三"}{"by":"李四"}`,
		"deep":              strings.Repeat("[", 20000) + strings.Repeat("]", 20000),
		"huge":              `{"by":"张三","comment":"` + strings.Repeat("火", 1<<20) + `"}`,
		"long by":           `{"by":"` + strings.Repeat("x", 2000) + `"}`,
		"blank by":          `{"by":" \t\n "}`,
		"non-UTF-8 by":      "{\"by\":\"\xff\xfe\xfd\"}",
		"non-UTF-8 comment": "{\"by\":\"张三\",\"comment\":\"\xc3\x28\"}",
		"NUL by":            `{"by":"\u0000"}`,
	}
	for _, p := range paths {
		for name, body := range bodies {
			code, resp := s.call("POST", p, "test-token", body)
			if code != 400 && code != 413 {
				t.Errorf("POST %s with %s: %d %.200s; want 400 or 413", p, name, code, resp)
			}
		}
	}
	if code, _ := s.call("POST", paths[1], "test-token", `{"by":"张三","for":"-1h"}`); code != 400 {
		t.Errorf("shelve for -1h: %d, want 400", code)
	}
	if code, _ := s.call("POST", paths[1], "test-token", `{"by":"张三","for":"100000h"}`); code != 400 {
		t.Errorf("shelve for 100000h: %d, want 400", code)
	}
	for _, until := range []string{"yesterday", "2001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"} {
		if code, _ := s.call("POST", paths[4], "test-token", `{"by":"张三","until":"`+until+`"}`); code != 400 {
			t.Errorf("out of service until %s: %d, want 400", until, code)
		}
	}

	// Still alive, still alarming, and nothing was done by the bad requests.
	s.set(2, 55)
	s.waitDesk(30*time.Second, "GD-102 changes", count("GD-102", rule, "alert.changed", 1))
	s.quiet(2 * time.Second)
	s.wantDesk("GD-101", rule, "alert.firing high-high red", "alert.acknowledged high-high red", "alert.resolved high-high red")
	s.wantDesk("GD-102", rule, "alert.firing high yellow", "alert.changed high-high red")
	ackBy := strings.TrimPrefix(func() string {
		for k := range seen {
			return k
		}
		return ""
	}(), "200 ")
	s.wantPoints("GD-101", rule, "firing high-high red", "acknowledged high-high red "+ackBy, "resolved high-high red")
	s.wantPoints("GD-102", rule, "firing high yellow", "changed high-high red")
	if strings.Contains(g.out.String(), "panic") {
		t.Errorf("the gateway panicked:\n%s", tail(g.out.String(), 40))
	}
}

// misbehavingDesk stands in front of the duty desk and misbehaves for the
// notifications script picks, by their webhook-id and attempt (1, 2, …).
type misbehavingDesk struct {
	desk   http.Handler
	script func(id, device string, attempt int) string
	mu     sync.Mutex
	tries  map[string]int
}

// Behaviours a script returns.
const (
	behaveNormal      = ""
	behaveCloseFirst  = "close before the desk sees it"
	behaveSlow        = "the desk takes it, the answer comes after the client's timeout"
	behaveCloseAfter  = "the desk takes it, the connection closes before the answer"
	behaveGarbage200  = "the desk takes it, the answer is 200 with a garbage, truncated body"
	behaveRedirect    = "302 to a login page that answers GET with 200"
	behaveUnreachable = "connection closed, not seen by the desk"
)

func (m *misbehavingDesk) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Path == "/login" {
		io.WriteString(w, "<html>请登录</html>")
		return
	}
	body, _ := io.ReadAll(r.Body)
	var p struct{ Data struct{ Device string } }
	json.Unmarshal(body, &p)
	id := r.Header.Get("webhook-id")
	m.mu.Lock()
	m.tries[id]++
	n := m.tries[id]
	m.mu.Unlock()
	forward := func() *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		r2 := r.Clone(r.Context())
		r2.Body = io.NopCloser(bytes.NewReader(body))
		m.desk.ServeHTTP(rec, r2)
		return rec
	}
	hangUp := func() {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}
	switch m.script(id, p.Data.Device, n) {
	case behaveCloseFirst, behaveUnreachable:
		hangUp()
	case behaveSlow:
		forward()
		<-r.Context().Done() // the client gave up
	case behaveCloseAfter:
		forward()
		hangUp()
	case behaveGarbage200:
		forward()
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err == nil {
			buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 4096\r\n\r\n<html>\xff\xfe not what you expect")
			buf.Flush()
			conn.Close()
		}
	case behaveRedirect:
		http.Redirect(w, r, "/login", http.StatusFound)
	default:
		rec := forward()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	}
}

func (m *misbehavingDesk) attempts(id string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.tries[id]
}

// TestWorstHourDeskMisbehaves: the duty desk (or what stands in front of
// it) misbehaves in the ways real ones do. GD-101's firing is cut off
// before the desk sees it, then taken with the answer coming after the
// gateway's timeout, then taken with the connection closed before the
// answer, then answered 200 with a garbage truncated body; its change and
// resolution queue behind it. GD-102's firing is redirected to a login
// page (an http→https or SSO proxy): that is not delivery but a final
// refusal, dead-lettered and alarmed (gateway:notify-rejected). GD-103's
// notifications cannot get through until GD-104's firing has: one
// occurrence's trouble never holds back another's. The desk gets every
// notification once, in order per occurrence; no attempt follows a 2xx.
func TestWorstHourDeskMisbehaves(t *testing.T) {
	s := newAlertSite(t, siteOpts{devices: 4, interval: 200 * time.Millisecond})
	const rule = "combustible-gas"
	var firstOf sync.Map // device → webhook-id of its first notification
	proxy := &misbehavingDesk{desk: s.desk.Handler(), tries: map[string]int{}}
	proxy.script = func(id, device string, attempt int) string {
		first, _ := firstOf.LoadOrStore(device, id)
		switch {
		case device == "GD-101" && id == first:
			return []string{behaveCloseFirst, behaveSlow, behaveCloseAfter, behaveGarbage200, behaveNormal}[min(attempt, 5)-1]
		case device == "GD-102" && id == first:
			return behaveRedirect
		case device == "GD-103" && !count("GD-104", rule, "alert.firing", 1)(s.desk.Deliveries()):
			return behaveUnreachable
		}
		return behaveNormal
	}
	s.deskVia(proxy)
	g := s.start()

	s.set(1, 30)
	s.set(2, 30)
	s.set(3, 30)
	testenv.Eventually(t, 30*time.Second, func() bool {
		return s.gasLevel("GD-101") == "firing high" && s.gasLevel("GD-103") == "firing high"
	}, "GD-101 and GD-103 firing")
	s.set(1, 55)
	testenv.Eventually(t, 30*time.Second, func() bool { return s.gasLevel("GD-101") == "firing high-high" }, "GD-101 changed")
	s.set(1, 0)
	s.set(4, 30) // lets GD-103 through once its firing is at the desk
	s.waitDesk(60*time.Second, "GD-101 resolved", count("GD-101", rule, "alert.resolved", 1))
	// GD-102's firing was answered with a redirect: refused for good,
	// dead-lettered and alarmed, never taken for delivery. Its next
	// notification goes through.
	testenv.Eventually(t, 60*time.Second, func() bool {
		_, ok := s.findAlert("gateway", "gateway:notify-rejected")
		return ok
	}, "gateway:notify-rejected")
	s.set(2, 55)
	s.waitDesk(60*time.Second, "GD-102 changed", count("GD-102", rule, "alert.changed", 1))
	s.waitDesk(60*time.Second, "GD-103 firing", count("GD-103", rule, "alert.firing", 1))
	s.waitDesk(60*time.Second, "GD-104 firing", count("GD-104", rule, "alert.firing", 1))
	s.quiet(3 * time.Second)

	want := map[string][]string{
		"GD-101": {"alert.firing high yellow", "alert.changed high-high red", "alert.resolved high-high red"},
		"GD-102": {"alert.changed high-high red"},
		"GD-103": {"alert.firing high yellow"},
		"GD-104": {"alert.firing high yellow"},
	}
	for dev, w := range want {
		s.wantDesk(dev, rule, w...)
	}
	first101, _ := firstOf.Load("GD-101")
	if n := proxy.attempts(first101.(string)); n != 4 {
		t.Errorf("GD-101's firing was attempted %d times; want 4 (the 200 with a garbage body is delivery)", n)
	}
	first102, _ := firstOf.Load("GD-102")
	if n := proxy.attempts(first102.(string)); n != 1 {
		t.Errorf("GD-102's firing was attempted %d times; want 1 (a redirect is a final refusal)", n)
	}
	if !strings.Contains(g.out.String(), "302") {
		t.Errorf("the refused notification's 302 is not in the log")
	}
	for dev, w := range map[string][]string{
		"GD-101": {"firing high yellow", "changed high-high red", "resolved high-high red"},
		"GD-102": {"firing high yellow", "changed high-high red"},
	} {
		s.wantPoints(dev, rule, w...)
	}
}

// lossyLink is a Modbus TCP proxy that drops one request in three: it
// closes the connection instead of forwarding it, as a flaky radio or
// serial server does.
type lossyLink struct {
	ln      net.Listener
	backend string
	n       atomic.Int64
	served  atomic.Int64 // requests answered
}

func newLossyLink(t *testing.T, backend string) *lossyLink {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &lossyLink{ln: ln, backend: backend}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { l.serve(c) })
		}
	})
	return l
}

func (l *lossyLink) serve(c net.Conn) {
	defer c.Close()
	b, err := net.Dial("tcp", l.backend)
	if err != nil {
		return
	}
	defer b.Close()
	frame := func(r io.Reader) ([]byte, error) {
		h := make([]byte, 6)
		if _, err := io.ReadFull(r, h); err != nil {
			return nil, err
		}
		rest := make([]byte, int(h[4])<<8|int(h[5]))
		if _, err := io.ReadFull(r, rest); err != nil {
			return nil, err
		}
		return append(h, rest...), nil
	}
	for {
		req, err := frame(c)
		if err != nil {
			return
		}
		if l.n.Add(1)%3 == 0 {
			return // dropped: the connection goes down with the request
		}
		if _, err := b.Write(req); err != nil {
			return
		}
		resp, err := frame(b)
		if err != nil {
			return
		}
		if _, err := c.Write(resp); err != nil {
			return
		}
		l.served.Add(1)
	}
}

// occurrences groups the desk's notifications for one device and rule by
// occurrence id: id → types in order of receipt.
func (s *alertSite) occurrences(device, rule string) map[string][]string {
	out := map[string][]string{}
	for _, d := range s.desk.Deliveries() {
		if d.Alert.Device == device && d.Alert.Rule == rule {
			out[d.Alert.ID] = append(out[d.Alert.ID], d.Type)
		}
	}
	return out
}

// pointOccurrences groups the `alert` points in InfluxDB for one device
// and rule by occurrence id: id → "alert."+status in time order.
func (s *alertSite) pointOccurrences(device, rule string) map[string][]string {
	s.t.Helper()
	res, err := s.influx.Query("hazard", fmt.Sprintf(`SELECT status, id FROM alert WHERE "device"='%s' AND "rule"='%s' ORDER BY time`, device, rule))
	if err != nil {
		s.t.Fatal(err)
	}
	out := map[string][]string{}
	for _, r := range rowsOf(res) {
		id := fmt.Sprint(r.Value("id"))
		out[id] = append(out[id], "alert."+fmt.Sprint(r.Value("status")))
	}
	return out
}

// sameNotified reports whether desk is what an occurrence with these
// alert points notifies: all of them, or, for a chattering occurrence
// (whose swings are points but not notifications), alert.chattering and
// then the state it settled in.
func sameNotified(desk, points []string) bool {
	if len(points) > 0 && points[0] == "alert.chattering" {
		return slices.Equal(desk, []string{"alert.chattering", points[len(points)-1]})
	}
	return slices.Equal(desk, points)
}

// TestWorstHourFlappingLossyLinkKill9: GD-101 swings across its first
// limit every 700 ms while the Modbus link drops one request in three and
// GD-102 stays at its red level; the gateway is killed with SIGKILL in the
// middle and started again. Afterwards the desk holds exactly what the
// gateway recorded as `alert` points in InfluxDB — the same occurrences,
// the same notifications in the same order (a chattering occurrence: its
// alert.chattering and the state it settled in), none twice — GD-102 is one occurrence that never resolved nor
// fired twice, GD-101 ends resolved, and the lossy link (never three
// failures in a row) never made a device look offline.
func TestWorstHourFlappingLossyLinkKill9(t *testing.T) {
	s := newAlertSite(t, siteOpts{devices: 2, interval: 200 * time.Millisecond})
	link := newLossyLink(t, strings.TrimPrefix(s.modbusURL(), "tcp://"))
	s.editConfig("url: "+s.modbusURL(), "url: tcp://"+link.ln.Addr().String())
	s.editConfig("      deadband: 2\n", "      deadband: 2\n      chatter: {count: 3, window: 5s}\n")
	const rule = "combustible-gas"
	g := s.start()
	s.set(2, 55)
	s.waitFiring(rule, "GD-102")

	flap := func(cycles int) {
		for i := range cycles {
			s.set(1, []float64{30, 20}[i%2])
			time.Sleep(700 * time.Millisecond)
		}
	}
	flap(8)
	g = s.crash(g, func() { flap(3) })
	flap(8)
	s.set(1, 0)
	testenv.Eventually(t, 60*time.Second, func() bool {
		for _, a := range s.alerts("active") {
			if a.Device == "GD-101" && a.Status == "firing" {
				return false
			}
		}
		return true
	}, "GD-101 back to normal")
	s.waitDesk(60*time.Second, "GD-101's last notification is a resolve", func(ds []dutydesk.Delivery) bool {
		for i := len(ds) - 1; i >= 0; i-- {
			if ds[i].Alert.Device == "GD-101" {
				return ds[i].Type == "alert.resolved"
			}
		}
		return false
	})
	g.stop(30 * time.Second) // everything delivered and written
	for _, dev := range []string{"GD-101", "GD-102"} {
		desk := s.occurrences(dev, rule)
		n := 0
		for _, types := range desk {
			n += len(types)
		}
		testenv.Eventually(t, 30*time.Second, func() bool {
			return s.influx.Count("hazard", "alert", fmt.Sprintf(`"device"='%s' AND "rule"='%s'`, dev, rule)) >= n
		}, "%s: %d alert points", dev, n)
		points := s.pointOccurrences(dev, rule)
		if !maps.EqualFunc(desk, points, sameNotified) {
			t.Errorf("%s: the desk's notifications are not the alert points in InfluxDB:\ndesk   %v\npoints %v", dev, desk, points)
		}
		t.Logf("%s: %d occurrences at the desk", dev, len(desk))
	}
	if got := s.occurrences("GD-102", rule); len(got) != 1 || !slices.Equal(slices.Collect(maps.Values(got))[0], []string{"alert.firing"}) {
		t.Errorf("GD-102 at the desk: %v; want one occurrence, fired once, never resolved", got)
	}
	if n := len(s.occurrences("GD-101", rule)); n == 0 {
		t.Errorf("GD-101 never alarmed while it flapped")
	}
	for _, dev := range []string{"GD-101", "GD-102"} {
		if got := s.occurrences(dev, "device-offline"); len(got) != 0 {
			t.Errorf("%s looked offline on a link that never failed three polls in a row: %v", dev, got)
		}
	}
	if st := s.desk.Stats(); st.BadSignature != 0 {
		t.Errorf("desk stats %+v", st)
	}
	t.Logf("link: %d requests, %d answered; desk: %+v", link.n.Load(), link.served.Load(), s.desk.Stats())
}

// modbusURL is the Modbus link's url in the site's config.
func (s *alertSite) modbusURL() string {
	s.t.Helper()
	b, err := os.ReadFile(s.config)
	if err != nil {
		s.t.Fatal(err)
	}
	m := regexp.MustCompile(`url: (tcp://\S+)`).FindSubmatch(b)
	if m == nil {
		s.t.Fatalf("no modbus url in %s", b)
	}
	return string(m[1])
}

// try does an API request as a console would, reporting a failed
// connection (the gateway restarting) as code 0 instead of failing.
func (s *alertSite) try(method, path, body string) (int, []byte) {
	req, err := http.NewRequest(method, s.api+path, strings.NewReader(body))
	if err != nil {
		s.t.Error(err)
		return 0, nil
	}
	req.Header.Set("Authorization", "Bearer test-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestWorstHourActionsAcrossReload: two consoles keep acknowledging three
// alarms while SIGHUP restarts the gateway on a changed file, and a
// shelving runs out while it restarts. Every acknowledgement answered 200
// is on record and names the officer the answers named; each alarm is
// acknowledged once at the desk; the shelving ends with exactly one
// alert.unshelved and the alarm is unacknowledged again.
func TestWorstHourActionsAcrossReload(t *testing.T) {
	s, g := startWorstSite(t, 4)
	const rule = "combustible-gas"
	for u := 1; u <= 4; u++ {
		s.set(u, 30)
	}
	s.waitFiring(rule, "GD-101", "GD-102", "GD-103", "GD-104")
	ids := map[string]string{}
	for _, dev := range []string{"GD-101", "GD-102", "GD-103", "GD-104"} {
		a, _ := s.findAlert(dev, rule)
		ids[dev] = a.ID
	}
	if code, body := s.call("POST", "/api/v1/alerts/"+ids["GD-104"]+"/shelve", "test-token", `{"by":"班长","reason":"检修","for":"3s"}`); code != 200 {
		t.Fatalf("shelve: %d %s", code, body)
	}

	// The consoles start acknowledging as the gateway starts draining.
	s.editConfig("timeout: 2s", "timeout: 3s")
	g.sighup()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	answered := map[string]map[string]int{} // device → acknowledged_by of 200 answers → count
	codes := map[int]int{}
	for c, by := range []string{"控制室甲", "控制室乙"} {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				dev := []string{"GD-101", "GD-102", "GD-103"}[(i+c)%3]
				code, body := s.try("POST", "/api/v1/alerts/"+ids[dev]+"/ack", `{"by":"`+by+`"}`)
				var got struct {
					AcknowledgedBy string `json:"acknowledged_by"`
				}
				json.Unmarshal(body, &got)
				mu.Lock()
				codes[code]++
				if code == 200 {
					if answered[dev] == nil {
						answered[dev] = map[string]int{}
					}
					answered[dev][got.AcknowledgedBy]++
				}
				mu.Unlock()
				time.Sleep(time.Duration(5+5*c) * time.Millisecond)
			}
		})
	}
	g.waitReloaded()
	s.waitDesk(60*time.Second, "GD-104 unshelved", count("GD-104", rule, "alert.unshelved", 1))
	testenv.Eventually(t, 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(answered) == 3 && codes[200] > 60
	}, "acknowledgements answered after the reload")
	close(stop)
	wg.Wait()
	for _, dev := range []string{"GD-101", "GD-102", "GD-103"} {
		s.waitDesk(30*time.Second, dev+" acknowledged", count(dev, rule, "alert.acknowledged", 1))
	}
	s.quiet(2 * time.Second)
	t.Logf("answers: %v", codes)
	for code, n := range codes {
		if code != 200 && code != 0 && code != 503 {
			t.Errorf("%d answers %d; want 200, or 503 / no connection while the gateway restarts", n, code)
		}
	}
	for _, dev := range []string{"GD-101", "GD-102", "GD-103"} {
		if len(answered[dev]) != 1 {
			t.Errorf("%s: the 200 answers named %v; want one officer, the first", dev, answered[dev])
		}
		var by string
		for k := range answered[dev] {
			by = k
		}
		s.wantDesk(dev, rule, "alert.firing high yellow", "alert.acknowledged high yellow")
		s.wantPoints(dev, rule, "firing high yellow", "acknowledged high yellow "+by)
	}
	s.wantDesk("GD-104", rule, "alert.firing high yellow", "alert.shelved high yellow", "alert.unshelved high yellow")
	if a, _ := s.findAlert("GD-104", rule); a.ID != ids["GD-104"] || a.State != "active-unacknowledged" {
		t.Errorf("GD-104 after its shelving ran out: %+v; want the same occurrence, active-unacknowledged", a)
	}
}

// TestWorstHourRemindersWhileDeskDown: an alarm stays active and
// unacknowledged while the desk is down for many reminder intervals. When
// the desk is back it gets the reminder that is due, not one for every
// interval it missed: a burst of identical reminders is noise on the
// desk's worst hour.
func TestWorstHourRemindersWhileDeskDown(t *testing.T) {
	const repeat = time.Second
	s := newAlertSite(t, siteOpts{devices: 1, interval: 200 * time.Millisecond, repeat: repeat})
	s.start()
	const rule = "combustible-gas"
	s.set(1, 55)
	s.waitFiring(rule, "GD-101")
	s.waitDesk(30*time.Second, "a first reminder", count("GD-101", rule, "alert.reminder", 1))
	if err := s.desk.RefuseFor(8 * time.Second); err != nil {
		t.Fatal(err)
	}
	before := len(s.history("GD-101", rule, true))
	downAt := time.Now()
	s.waitDesk(60*time.Second, "reminders again after the outage", count("GD-101", rule, "alert.reminder", before))
	back := time.Now()
	// Watch two reminder intervals after the outage.
	time.Sleep(2 * repeat)
	n := len(s.history("GD-101", rule, true)) - before
	t.Logf("down %v; %d reminders arrived within %v of the desk's return", back.Sub(downAt).Round(time.Second), n, time.Since(back).Round(time.Second))
	if n > 4 {
		t.Errorf("%d reminders arrived within two intervals of the desk's return; want the one due and the next ones (at most 4), not one per missed interval", n)
	}
	s.ackAlert("GD-101", rule, "值班员")
	s.waitDesk(30*time.Second, "acknowledged", count("GD-101", rule, "alert.acknowledged", 1))
	s.quiet(2 * repeat) // no reminder after the acknowledgement
}

// TestWorstHourInfluxDownKill9: InfluxDB is down while alarms fire,
// change, are acknowledged and resolve, and the gateway is killed with
// SIGKILL in the middle. The desk is not held back by the database; once
// InfluxDB is back it holds exactly the alert points of what the desk
// received, each once, in order.
func TestWorstHourInfluxDownKill9(t *testing.T) {
	s, g := startWorstSite(t, 2)
	const rule = "combustible-gas"
	s.influx.Stop()
	s.set(1, 30)
	s.waitDesk(30*time.Second, "GD-101 fires with InfluxDB down", count("GD-101", rule, "alert.firing", 1))
	s.set(1, 55)
	s.set(2, 55)
	s.waitDesk(30*time.Second, "GD-101 changes", count("GD-101", rule, "alert.changed", 1))
	s.waitDesk(30*time.Second, "GD-102 fires", count("GD-102", rule, "alert.firing", 1))
	s.ackAlert("GD-101", rule, "值班员丙")
	g = s.crash(g, func() { s.set(1, 0) })
	s.waitDesk(30*time.Second, "GD-101 resolves after the restart", count("GD-101", rule, "alert.resolved", 1))
	s.set(2, 0)
	s.waitDesk(30*time.Second, "GD-102 resolves", count("GD-102", rule, "alert.resolved", 1))
	s.influx.Start()
	for dev, want := range map[string][]string{
		"GD-101": {"firing high yellow", "changed high-high red", "acknowledged high-high red 值班员丙", "resolved high-high red"},
		"GD-102": {"firing high-high red", "resolved high-high red"},
	} {
		s.wantPoints(dev, rule, want...)
		desk := s.occurrences(dev, rule)
		if points := s.pointOccurrences(dev, rule); !maps.EqualFunc(desk, points, sameNotified) {
			t.Errorf("%s: desk %v, points %v", dev, desk, points)
		}
	}
	g.stop(30 * time.Second)
	// Nothing more was written at the drain.
	for dev, n := range map[string]int{"GD-101": 4, "GD-102": 2} {
		if got := len(s.alertPoints(dev, rule)); got != n {
			t.Errorf("%s: %d alert points after the drain, want %d", dev, got, n)
		}
	}
}

// TestWorstHourGatewayClockBehind: after a power cut the edge box's clock
// is an hour behind (its RTC lost time, NTP not reachable yet). The desk
// refuses signatures whose timestamp is more than five minutes off its
// own clock — which its answers' Date header tells. The alarm still
// reaches the desk, signed with the desk's time, instead of being
// dead-lettered as a refusal.
func TestWorstHourGatewayClockBehind(t *testing.T) {
	ahead := func() time.Time { return time.Now().Add(time.Hour) }
	s := newAlertSite(t, siteOpts{devices: 1, interval: 200 * time.Millisecond})
	skewed := newDeskWith(t, dutydesk.Options{Secret: deskSecret, Now: ahead})
	s.deskVia(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", ahead().UTC().Format(http.TimeFormat))
		skewed.Handler().ServeHTTP(w, r)
	}))
	s.desk = skewed
	g := s.start()
	const rule = "combustible-gas"
	s.set(1, 55)
	s.waitFiring(rule, "GD-101")
	s.set(1, 0)
	s.waitDesk(30*time.Second, "GD-101 resolves", count("GD-101", rule, "alert.resolved", 1))
	s.wantDesk("GD-101", rule, "alert.firing high-high red", "alert.resolved high-high red")
	if strings.Contains(g.out.String(), "dead-lettered") {
		t.Errorf("a notification was dead-lettered:\n%s", tail(g.out.String(), 20))
	}
}

// TestWorstHourReloadRemovesDeviceInMaintenance: GD-102 is being
// calibrated (its alarms suppressed) when SIGHUP applies a file without
// it. Its maintenance ends visibly (alert.unsuppressed) instead of being
// listed for ever for a device nobody polls; GD-101 carries on.
func TestWorstHourReloadRemovesDeviceInMaintenance(t *testing.T) {
	s := newAlertSite(t, siteOpts{devices: 2, interval: 200 * time.Millisecond, quality: true})
	g := s.start()
	const maint = "gateway:maintenance"
	s.setBits(2, false, true)
	s.waitDesk(30*time.Second, "GD-102 suppressed", count("GD-102", maint, "alert.suppressed", 1))

	s.cutConfig("        - id: GD-102", "alerting:")
	g.sighup()
	s.waitDesk(60*time.Second, "GD-102's maintenance ends", count("GD-102", maint, "alert.unsuppressed", 1))
	s.set(1, 30)
	s.waitDesk(30*time.Second, "GD-101 still alarms", count("GD-101", "combustible-gas", "alert.firing", 1))
	s.quiet(2 * time.Second)
	s.wantDesk("GD-102", maint, "alert.suppressed maintenance blue", "alert.unsuppressed maintenance blue")
	for _, a := range s.alerts("active") {
		if a.Device == "GD-102" {
			t.Errorf("the removed device is still listed: %+v", a)
		}
	}
}

// TestWorstHourReloadStorm: an operator edits the file three times and
// sends SIGHUP after each edit in quick succession while an alarm is
// active and acknowledged. The gateway ends up running the last file, the
// alarm stays one occurrence, acknowledged, and the desk gets nothing
// twice.
func TestWorstHourReloadStorm(t *testing.T) {
	s, g := startWorstSite(t, 1)
	const rule = "combustible-gas"
	s.set(1, 55)
	s.waitFiring(rule, "GD-101")
	s.ackAlert("GD-101", rule, "值班员")
	s.waitDesk(30*time.Second, "acknowledged", count("GD-101", rule, "alert.acknowledged", 1))
	for _, timeout := range []string{"3s", "4s", "5s"} {
		b, err := os.ReadFile(s.config)
		if err != nil {
			t.Fatal(err)
		}
		next := regexp.MustCompile(`timeout: \ds\n      repeat`).ReplaceAllString(string(b), "timeout: "+timeout+"\n      repeat")
		if err := os.WriteFile(s.config, []byte(next), 0o644); err != nil {
			t.Fatal(err)
		}
		g.sighup()
		time.Sleep(20 * time.Millisecond) // an operator's pace, not a synchronisation
	}
	// The last file is the one running: one more SIGHUP finds it unchanged.
	testenv.Eventually(t, 60*time.Second, func() bool {
		if strings.Count(g.out.String(), "hazardgw started") < 2 {
			return false
		}
		g.cmd.Process.Signal(syscall.SIGHUP)
		return strings.Contains(g.out.String(), "config unchanged")
	}, "the last file running")
	if n := strings.Count(g.out.String(), "config changed; reloading"); n > 3 {
		t.Errorf("%d reloads: a probing SIGHUP found the running configuration other than the last file", n)
	}
	s.set(1, 0)
	s.waitDesk(30*time.Second, "GD-101 resolves", count("GD-101", rule, "alert.resolved", 1))
	s.quiet(2 * time.Second)
	s.wantDesk("GD-101", rule, "alert.firing high-high red", "alert.acknowledged high-high red", "alert.resolved high-high red")
	if st := s.desk.Stats(); st.Duplicates != 0 {
		t.Logf("redeliveries (same webhook-id): %d", st.Duplicates)
	}
	select {
	case <-g.exited:
		t.Fatalf("the gateway exited: %v", g.err)
	default:
	}
}
