package alerting

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hazardgw/hazardgw/gateway"
	"github.com/hazardgw/hazardgw/gateway/spool"
	"github.com/hazardgw/hazardgw/internal/testenv"
)

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, cond func() bool, what string) {
	t.Helper()
	testenv.Eventually(t, timeout, cond, "%s", what)
}

// recorder is a fake Notifier: it records messages and can fail them.
type recorder struct {
	mu   sync.Mutex
	got  []Message
	fail func(m Message, attempt int) error
	seen map[string]int
}

func (r *recorder) Notify(ctx context.Context, m Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil {
		r.seen = map[string]int{}
	}
	r.seen[m.ID]++
	if r.fail != nil {
		if err := r.fail(m, r.seen[m.ID]); err != nil {
			return err
		}
	}
	r.got = append(r.got, m)
	return nil
}

// count counts the notifications received about rule.
func (r *recorder) count(rule string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.got {
		var p payload
		if json.Unmarshal(m.Body, &p) == nil && p.Data != nil && p.Data.Rule == rule {
			n++
		}
	}
	return n
}

func (r *recorder) types() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, m := range r.got {
		out = append(out, m.Type)
	}
	return out
}

type running struct {
	e      *Engine
	cancel context.CancelFunc
	done   chan error
}

func startEngine(t *testing.T, path string, rules []RuleConfig, n Notifier, acc gateway.Acceptor) *running {
	t.Helper()
	e, err := New(Config{Rules: rules, Notify: []NotifyConfig{{Name: "desk"}}}, Options{
		Site: "s", Path: path, Devices: testDevices, Notifiers: map[string]Notifier{"desk": n},
		RetryDelay: 10 * time.Millisecond, Tick: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{e: e, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- e.Run(ctx, acc) }()
	t.Cleanup(r.stop)
	return r
}

func (r *running) stop() {
	r.cancel()
	<-r.done
	r.done <- nil // stop is idempotent
}

func gasPt(dev string, v float64) gateway.Point {
	return gateway.Point{Measurement: "gas_detector", Tags: []gateway.Tag{{Key: "device", Value: dev}},
		Fields: []gateway.Field{gateway.Float("ch4", v)}, Time: time.Now()}
}

func TestRunDeliversInOrderRetriesAndDeadLetters(t *testing.T) {
	rec := &recorder{fail: func(m Message, attempt int) error {
		switch {
		case m.Type == TypeChanged:
			return fmt.Errorf("receiver answered 400: %w", gateway.ErrPermanent)
		case m.Type == TypeFiring && attempt < 3:
			return errors.New("connection refused")
		}
		return nil
	}}
	r := startEngine(t, filepath.Join(t.TempDir(), "alerts.db"), quietRules, rec, nil)
	for _, v := range []float64{30, 60, 0} {
		r.e.Observe([]gateway.Point{gasPt("GD-101", v)})
	}
	waitFor(t, 10*time.Second, func() bool { return len(rec.types()) == 2 }, "two deliveries")
	eq(t, "delivered", rec.types(), []string{TypeFiring, TypeResolved})
	st := r.e.Stats()
	if st.DeadLettered != 1 || st.NotifyErrors != 2 || st.Delivered != 2 || st.Notifications != 3 {
		t.Errorf("stats %+v", st)
	}
}

func TestRunRedeliversAfterRestartWithSameID(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.db")
	down := &recorder{fail: func(Message, int) error { return errors.New("connection refused") }}
	r := startEngine(t, path, quietRules, down, nil)
	r.e.Observe([]gateway.Point{gasPt("GD-101", 30)})
	waitFor(t, 10*time.Second, func() bool { return r.e.Stats().NotifyErrors > 0 }, "a failed attempt")
	r.stop()
	ids := func(rec *recorder) []string {
		var out []string
		for id := range rec.seen {
			out = append(out, id)
		}
		return out
	}
	up := &recorder{}
	r2 := startEngine(t, path, quietRules, up, nil)
	waitFor(t, 10*time.Second, func() bool { return len(up.types()) == 1 }, "redelivery")
	eq(t, "same webhook-id after restart", ids(up), ids(down))
	r2.e.Observe([]gateway.Point{gasPt("GD-101", 31)}) // still active: no re-fire
	r2.e.Observe([]gateway.Point{gasPt("GD-101", 0)})
	waitFor(t, 10*time.Second, func() bool { return len(up.types()) == 2 }, "resolution")
	eq(t, "after restart", up.types(), []string{TypeFiring, TypeResolved})
}

// TestRunWithPipeline wires the engine to a real pipeline as its observer
// and acceptor: Observe is called from the committer, alert points come
// back through Accept from the engine's own goroutine, and nothing
// deadlocks even with a one-slot queue under load.
func TestRunWithPipeline(t *testing.T) {
	dir := t.TempDir()
	sp, err := spool.Open(filepath.Join(dir, "spool.db"), spool.Options{MaxBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	rec := &recorder{}
	// Breaches come as fast as the pipeline takes them: no chattering here.
	e, err := New(Config{Rules: quietRules, Notify: []NotifyConfig{{Name: "desk"}}, Chatter: Chatter{Count: 1000}}, Options{
		Site: "s", Path: filepath.Join(dir, "alerts.db"), Notifiers: map[string]Notifier{"desk": rec}, Queue: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	pipe := gateway.NewPipeline(sp, gateway.PipelineOptions{}, nil, e)
	pctx, stopPipe := context.WithCancel(context.Background())
	ectx, stopEngine := context.WithCancel(context.Background())
	pdone, edone := make(chan error, 1), make(chan error, 1)
	go func() { edone <- e.Run(ectx, pipe) }()
	go func() { pdone <- pipe.Run(pctx) }()

	var wg sync.WaitGroup
	for dev := range 4 {
		wg.Go(func() {
			for i := range 200 {
				v := 0.0
				if i%20 >= 10 {
					v = 60 // a breach every 20 polls: firing, then resolved
				}
				if err := pipe.Accept(context.Background(), []gateway.Point{gasPt(fmt.Sprintf("GD-%d", dev), v)}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	const transitions = 4 * (10 + 9) // 10 breaches, the last one not resolved
	// (the 40 alarms also raise gateway:alarm-flood: counted apart)
	waitFor(t, 30*time.Second, func() bool { return len(rec.types())-rec.count(AlarmFloodRule) == transitions }, "every transition notified")
	waitFor(t, 30*time.Second, func() bool {
		entries, err := sp.Read(100000)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, en := range entries {
			if bytes.HasPrefix(en.Line, []byte("alert,")) && !bytes.Contains(en.Line, []byte(AlarmFloodRule)) {
				n++
			}
		}
		return n == transitions
	}, "every alert point in the spool")
	stopPipe()
	<-pdone
	stopEngine()
	if err := <-edone; err != nil {
		t.Fatal(err)
	}
	if st := e.Stats(); st.LostAtStop != 0 || st.Transitions != int64(transitions+rec.count(AlarmFloodRule)) {
		t.Errorf("stats %+v", st)
	}
}

func TestObserveWaitsWhenFullAndNeverDrops(t *testing.T) {
	rec := &recorder{}
	e, err := New(Config{Rules: quietRules, Notify: []NotifyConfig{{Name: "desk"}}}, Options{
		Path: filepath.Join(t.TempDir(), "alerts.db"), Notifiers: map[string]Notifier{"desk": rec}, Queue: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	observed := make(chan struct{})
	go func() {
		e.Observe([]gateway.Point{gasPt("GD-101", 30)})
		e.Observe([]gateway.Point{gasPt("GD-102", 30)}) // queue full: waits
		close(observed)
	}()
	waitFor(t, 10*time.Second, func() bool { return e.Stats().QueueWaits == 1 }, "Observe to wait")
	select {
	case <-observed:
		t.Fatal("Observe returned with the queue full")
	default:
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx, nil) }()
	<-observed
	waitFor(t, 10*time.Second, func() bool { return len(rec.types()) == 2 }, "both alerts")
	cancel()
	<-done
	e.Observe([]gateway.Point{gasPt("GD-101", 0)}) // after Run: dropped, counted, does not block
	if st := e.Stats(); st.LostAtStop != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestAPI(t *testing.T) {
	s := newSyncEngine(t, "", quietRules, 0)
	do := s.serveAPI()
	code, body := do("GET", "/api/v1/alerts", "")
	if code != 200 || strings.TrimSpace(body) != "[]" {
		t.Fatalf("empty list: %d %s", code, body)
	}
	s.poll("GD-101", 57)
	s.poll("GD-102", 30)
	code, body = do("GET", "/api/v1/alerts?state=active", "")
	var list []Alert
	if err := json.Unmarshal([]byte(body), &list); err != nil || code != 200 || len(list) != 2 {
		t.Fatalf("list: %d %s", code, body)
	}
	if list[0].Device != "GD-102" || list[1].Level != "high-high" || list[1].Label == "" {
		t.Errorf("newest first: %+v", list)
	}
	id := list[1].ID
	for _, tc := range []struct {
		method, path, body string
		code               int
	}{
		{"GET", "/api/v1/alerts?state=bogus", "", 400},
		{"POST", "/api/v1/alerts/" + id + "/ack", "{not json", 400},
		{"POST", "/api/v1/alerts/" + id + "/ack", "", 400},
		{"POST", "/api/v1/alerts/" + id + "/ack", `{"by":"张三"}}`, 400},            // trailing garbage
		{"POST", "/api/v1/alerts/" + id + "/ack", `{"by":"张三"} {"by":"李四"}`, 400}, // two objects
		{"POST", "/api/v1/alerts/" + id + "/ack", `{"by":"张三"} x`, 400},
		{"POST", "/api/v1/alerts/" + id + "/ack", `{"by":"张三","comment":"` + strings.Repeat("x", 70<<10) + `"}`, 413},
		{"POST", "/api/v1/alerts/nope/ack", `{"by":"张三"}`, 404},
		{"POST", "/api/v1/alerts/" + id + "/ack", `{"by":"张三","comment":"on my way"}`, 200},
		{"POST", "/api/v1/alerts/" + id + "/ack", `{"by":"李四"}`, 200}, // idempotent
	} {
		if code, body := do(tc.method, tc.path, tc.body); code != tc.code {
			t.Errorf("%s %s %q: %d %s, want %d", tc.method, tc.path, tc.body, code, body, tc.code)
		}
	}
	_, body = do("GET", "/api/v1/alerts", "")
	_ = json.Unmarshal([]byte(body), &list)
	if list[1].State != StateActiveAcked || list[1].AcknowledgedBy != "张三" {
		t.Errorf("acked alert %+v", list[1])
	}
	if n := strings.Count(strings.Join(s.notes(), ","), TypeAcknowledged); n != 1 {
		t.Errorf("%d acknowledged notifications", n)
	}
}

// TestAPILimit: ?limit=N lists only the N newest, so that a console can ask
// for the recent past without fetching the whole retention period.
func TestAPILimit(t *testing.T) {
	s := newSyncEngine(t, "", quietRules, 0)
	s.poll("GD-101", 57)
	s.poll("GD-102", 30)
	do := s.serveAPI()
	for _, tc := range []struct {
		query   string
		code    int
		devices string
	}{
		{"?state=all&limit=1", 200, "GD-102"},
		{"?limit=2", 200, "GD-102,GD-101"},
		{"?state=all&limit=50", 200, "GD-102,GD-101"},
		{"?state=all", 200, "GD-102,GD-101"},
		{"?limit=0", 400, ""},
		{"?limit=-3", 400, ""},
		{"?limit=x", 400, ""},
	} {
		code, body := do("GET", "/api/v1/alerts"+tc.query, "")
		if code != tc.code {
			t.Errorf("%s: %d %s, want %d", tc.query, code, body, tc.code)
			continue
		}
		if tc.code != 200 {
			continue
		}
		var list []Alert
		if err := json.Unmarshal([]byte(body), &list); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, a := range list {
			got = append(got, a.Device)
		}
		if strings.Join(got, ",") != tc.devices {
			t.Errorf("%s: %v, want %s", tc.query, got, tc.devices)
		}
	}
}

func TestCollector(t *testing.T) {
	s := newSyncEngine(t, "", quietRules, 0)
	s.poll("GD-101", 30)
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.e.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			got[mf.GetName()] += v
			for _, l := range m.GetLabel() {
				if l.GetName() == "severity" {
					got[mf.GetName()+"{"+l.GetValue()+"}"] = v
				}
			}
		}
	}
	list, err := s.e.Alerts(false)
	if err != nil || len(list) != 1 {
		t.Fatalf("alerts %v %v", list, err)
	}
	sev := list[0].Severity
	if got["hazardgw_alerts_open"] != 1 || got["hazardgw_alert_outbox_notifications"] != 1 || got["hazardgw_alert_transitions_total"] != 1 ||
		got["hazardgw_alerts_active"] != 1 || got["hazardgw_alerts_active{"+sev+"}"] != 1 || got["hazardgw_alarm_rate_10m"] != 1 {
		t.Errorf("metrics %v", got)
	}
	// Cleared but not acknowledged: still open, no longer active.
	s.poll("GD-101", 0)
	if st := s.e.Stats(); st.Open != 1 || st.Active[sev] != 0 {
		t.Errorf("after clearing: open %d, active %v", st.Open, st.Active)
	}
	if problems, err := testutil.CollectAndLint(s.e.Collector()); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", err, problems)
	}
}

func TestRunNotifyRejectedGoesToTheOthers(t *testing.T) {
	var refuse atomic.Bool
	refuse.Store(true)
	desk := &recorder{fail: func(m Message, attempt int) error {
		if refuse.Load() {
			return fmt.Errorf("receiver answered 401 Unauthorized: %w", gateway.ErrPermanent)
		}
		return nil
	}}
	sms := &recorder{}
	e, err := New(Config{Rules: quietRules, Notify: []NotifyConfig{{Name: "desk"}, {Name: "sms"}}}, Options{
		Site: "s", Path: filepath.Join(t.TempDir(), "alerts.db"), Devices: testDevices,
		Notifiers:  map[string]Notifier{"desk": desk, "sms": sms},
		RetryDelay: 10 * time.Millisecond, Tick: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Go(t, func(ctx context.Context) error { return e.Run(ctx, nil) })
	e.Observe([]gateway.Point{gasPt("GD-101", 60)})
	waitFor(t, 10*time.Second, func() bool { return len(sms.types()) == 2 }, "the gas alarm and notify-rejected at sms")
	sms.mu.Lock()
	body := string(sms.got[1].Body)
	sms.mu.Unlock()
	if !strings.Contains(body, `"rule":"gateway:notify-rejected"`) || !strings.Contains(body, `"point":"desk"`) ||
		!strings.Contains(body, "401 Unauthorized") {
		t.Fatalf("notify-rejected %s", body)
	}
	if got := desk.types(); len(got) != 0 {
		t.Fatalf("the refusing receiver was sent %q", got)
	}
	// The desk is fixed: its next notification is taken, and the alert resolves at sms.
	refuse.Store(false)
	e.Observe([]gateway.Point{gasPt("GD-101", 0)})
	waitFor(t, 10*time.Second, func() bool { return len(sms.types()) == 4 }, "resolved at sms")
	eq(t, "sms", sms.types(), []string{TypeFiring, TypeFiring, TypeResolved, TypeResolved})
	eq(t, "desk", desk.types(), []string{TypeResolved})
}

func TestRunHeartbeat(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	desk := &recorder{fail: func(m Message, attempt int) error {
		if down.Load() {
			return errors.New("connection refused")
		}
		return nil
	}}
	e, err := New(Config{Rules: quietRules, Notify: []NotifyConfig{{Name: "desk", HeartbeatInterval: 30 * time.Millisecond}}}, Options{
		Site: "s", SiteName: "某石化", Path: filepath.Join(t.TempDir(), "alerts.db"), Devices: testDevices,
		Notifiers: map[string]Notifier{"desk": desk}, RetryDelay: 10 * time.Millisecond, Tick: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Go(t, func(ctx context.Context) error { return e.Run(ctx, nil) })
	// While the desk is down, heartbeats do not pile up: one waits.
	time.Sleep(300 * time.Millisecond)
	desk.mu.Lock()
	tried := len(desk.seen)
	desk.mu.Unlock()
	if tried != 1 {
		t.Fatalf("%d different heartbeats tried while the desk was down, want 1", tried)
	}
	e.Observe([]gateway.Point{gasPt("GD-101", 60)})
	down.Store(false)
	waitFor(t, 10*time.Second, func() bool {
		n := 0
		for _, typ := range desk.types() {
			if typ == TypeHeartbeat {
				n++
			}
		}
		return n >= 3
	}, "three heartbeats")
	desk.mu.Lock()
	defer desk.mu.Unlock()
	last := desk.got[len(desk.got)-1]
	for i := len(desk.got) - 1; i >= 0 && desk.got[i].Type != TypeHeartbeat; i-- {
		last = desk.got[i-1]
	}
	var hb struct {
		Type string
		Data Heartbeat
	}
	if err := json.Unmarshal(last.Body, &hb); err != nil {
		t.Fatal(err)
	}
	if hb.Type != TypeHeartbeat || hb.Data.Site != "s" || hb.Data.Active[SeverityRed] != 1 || hb.Data.Unack != 1 {
		t.Fatalf("heartbeat %s", last.Body)
	}
}
