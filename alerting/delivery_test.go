package alerting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	bolt "go.etcd.io/bbolt"

	"github.com/hazardgw/hazardgw/gateway"
	"github.com/hazardgw/hazardgw/internal/conf"
	"github.com/hazardgw/hazardgw/internal/testenv"
)

// harness drives an engine with an injected clock: evaluation and ticks
// run synchronously, and each receiver's delivery loop runs only when a
// test starts it.
type harness struct {
	t     *testing.T
	e     *Engine
	clock *fakeClock
	path  string
	cfg   Config
	opts  Options
}

var areaDevices = []Device{
	{ID: "GA-1", Kind: "gas_detector", Units: map[string]string{"ch4": "%LEL"}, Tags: map[string]string{"area": "tank-farm-A"}},
	{ID: "GA-2", Kind: "gas_detector", Units: map[string]string{"ch4": "%LEL"}, Tags: map[string]string{"area": "tank-farm-A"}},
	{ID: "GA-3", Kind: "gas_detector", Units: map[string]string{"ch4": "%LEL"}, Tags: map[string]string{"area": "tank-farm-A"}},
	{ID: "GB-1", Kind: "gas_detector", Units: map[string]string{"ch4": "%LEL"}, Tags: map[string]string{"area": "loading-B"}},
	{ID: "GD-101", Kind: "gas_detector", Units: map[string]string{"ch4": "%LEL"}},
	{ID: "GD-102", Kind: "gas_detector", Units: map[string]string{"ch4": "%LEL"}},
}

func newHarness(t *testing.T, notify []NotifyConfig, notifiers map[string]Notifier, tweak func(*Options)) *harness {
	t.Helper()
	h := &harness{t: t, clock: testenv.NewClock(t0), path: filepath.Join(t.TempDir(), "alerts.db")}
	for _, n := range notify {
		if notifiers[n.Name] == nil {
			notifiers[n.Name] = NotifierFunc(func(context.Context, Message) error { return nil })
		}
	}
	h.cfg = Config{Rules: quietRules, Notify: notify}
	h.opts = Options{Site: "qz", Path: h.path, Devices: areaDevices, Now: h.clock.Now, Notifiers: notifiers,
		RetryDelay: 10 * time.Millisecond, Concurrency: 1}
	if tweak != nil {
		tweak(&h.opts)
	}
	h.open()
	return h
}

func (h *harness) open() {
	h.t.Helper()
	e, err := New(h.cfg, h.opts)
	if err != nil {
		h.t.Fatal(err)
	}
	e.acc = gateway.AcceptFunc(nil)
	if err := e.Open(); err != nil {
		h.t.Fatal(err)
	}
	h.e = e
	h.t.Cleanup(h.close)
}

func (h *harness) close() { closeStore(h.e) }

// restart closes the store and opens it again with a new engine.
func (h *harness) restart() {
	h.close()
	h.open()
}

func (h *harness) gas(dev string, v float64) {
	h.t.Helper()
	h.e.Observe([]gateway.Point{{Measurement: "gas_detector", Tags: []gateway.Tag{{Key: "device", Value: dev}},
		Fields: []gateway.Field{gateway.Float("ch4", v)}, Time: h.clock.Now()}})
	h.e.evaluate(<-h.e.queue)
}

// at moves the clock to t0+d and ticks.
func (h *harness) at(d time.Duration) {
	h.clock.Set(t0.Add(d))
	h.e.tick()
}

func (h *harness) outbox(receiver string) []outMsg {
	h.t.Helper()
	return outboxOf(h.t, h.e, receiver)
}

// put commits notifications straight into a receiver's outbox.
func (h *harness) put(receiver string, ms ...outMsg) {
	h.t.Helper()
	cs := &changeSet{}
	for _, m := range ms {
		if m.Created.IsZero() {
			m.Created = h.clock.Now()
		}
		cs.msgs = append(cs.msgs, queued{receiver: receiver, msg: m})
	}
	if err := h.e.st.commit(cs); err != nil {
		h.t.Fatal(err)
	}
}

// advance moves the clock on and wakes the delivery loops.
func (h *harness) advance(d time.Duration) {
	h.clock.Add(d)
	for _, rc := range h.e.receivers {
		wake(rc.wake)
	}
}

// failures waits until n failed sends have been settled (so that their
// backoffs count from the clock's present time).
func (h *harness) failures(n int) {
	h.t.Helper()
	waitFor(h.t, 10*time.Second, func() bool { return h.e.Stats().NotifyErrors >= int64(n) }, fmt.Sprintf("%d failed sends", n))
}

// deliver runs the receiver's delivery loop until the test ends.
func (h *harness) deliver(name string) *receiver {
	h.t.Helper()
	var rc *receiver
	for _, r := range h.e.receivers {
		if r.name == name {
			rc = r
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.e.deliverLoop(ctx, rc) }()
	h.t.Cleanup(func() { cancel(); <-done })
	wake(rc.wake)
	return rc
}

func note(alert, typ, sev string, n int) outMsg {
	return outMsg{ID: fmt.Sprintf("msg_%s_%d", alert, n), Type: typ, AlertID: alert, Severity: sev,
		Body: json.RawMessage(fmt.Sprintf(`{"type":%q,"data":{"id":%q,"severity":%q}}`, typ, alert, sev))}
}

// sink records what a receiver took, and fails what fail says.
type sink struct {
	mu      sync.Mutex
	got     []string   // message ids in the order taken
	batches [][]string // NotifyBatch calls
	tries   map[string]int
	fail    func(m Message) error
}

func (s *sink) Notify(ctx context.Context, m Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tries == nil {
		s.tries = map[string]int{}
	}
	s.tries[m.ID]++
	if s.fail != nil {
		if err := s.fail(m); err != nil {
			return err
		}
	}
	s.got = append(s.got, m.ID)
	return nil
}

func (s *sink) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.got)
}

func (s *sink) attempts(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tries[id]
}

// batchSink is a sink that is also a BatchNotifier.
type batchSink struct{ sink }

func (s *batchSink) NotifyBatch(ctx context.Context, ms []Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for _, m := range ms {
		ids = append(ids, m.ID)
	}
	s.batches = append(s.batches, ids)
	s.got = append(s.got, ids...)
	return nil
}

func TestDeliveryMostSevereFirstInOrderWithinOccurrence(t *testing.T) {
	desk := &sink{}
	h := newHarness(t, []NotifyConfig{{Name: "desk"}}, map[string]Notifier{"desk": desk}, nil)
	h.put("desk",
		note("A", TypeFiring, SeverityYellow, 1),
		outMsg{ID: "msg_heartbeat", Type: TypeHeartbeat, Body: json.RawMessage(`{}`)},
		note("B", TypeFiring, SeverityOrange, 1),
		note("C", TypeFiring, SeverityRed, 1),
		note("A", TypeResolved, SeverityYellow, 2),
		note("D", TypeFiring, SeverityBlue, 1),
		note("B", TypeResolved, SeverityOrange, 2),
		// E turns red: the whole occurrence is as urgent as red, in order.
		note("E", TypeFiring, SeverityYellow, 1),
		note("E", TypeChanged, SeverityRed, 2),
	)
	h.deliver("desk")
	waitFor(t, 10*time.Second, func() bool { return len(desk.ids()) == 9 }, "every notification")
	eq(t, "order", desk.ids(), []string{"msg_C_1", "msg_E_1", "msg_E_2", "msg_B_1", "msg_B_2", "msg_A_1", "msg_A_2", "msg_D_1", "msg_heartbeat"})
	waitFor(t, 10*time.Second, func() bool { return len(h.outbox("desk")) == 0 }, "an empty outbox")
}

func TestDeliveryRetryingOccurrenceHoldsBackNoOther(t *testing.T) {
	for _, conc := range []int{1, 4} {
		t.Run(fmt.Sprintf("concurrency %d", conc), func(t *testing.T) {
			desk := &sink{fail: func(m Message) error {
				if m.AlertID == "X" {
					return errors.New("receiver answered 500 Internal Server Error")
				}
				return nil
			}}
			h := newHarness(t, []NotifyConfig{{Name: "desk"}}, map[string]Notifier{"desk": desk},
				func(o *Options) { o.Concurrency = conc })
			h.put("desk", note("X", TypeFiring, SeverityRed, 1), note("X", TypeResolved, SeverityRed, 2))
			h.deliver("desk")
			waitFor(t, 10*time.Second, func() bool { return desk.attempts("msg_X_1") >= 1 }, "X tried")
			// Later notifications of other occurrences, one less severe.
			h.put("desk", note("Y", TypeFiring, SeverityYellow, 1), note("Z", TypeFiring, SeverityRed, 1), note("Y", TypeResolved, SeverityYellow, 2))
			waitFor(t, 10*time.Second, func() bool { return len(desk.ids()) == 3 }, "the other occurrences")
			got := desk.ids()
			if conc == 1 {
				eq(t, "delivered", got, []string{"msg_Z_1", "msg_Y_1", "msg_Y_2"})
			} else if slices.Index(got, "msg_Y_1") > slices.Index(got, "msg_Y_2") || !slices.Contains(got, "msg_Z_1") {
				t.Fatalf("delivered %q", got)
			}
			// X is retried as its backoff ends, in order: its resolution is never sent first.
			before := desk.attempts("msg_X_1")
			h.failures(before)
			h.advance(time.Second)
			waitFor(t, 10*time.Second, func() bool { return desk.attempts("msg_X_1") > before }, "X retried")
			if n := desk.attempts("msg_X_2"); n != 0 {
				t.Fatalf("X's resolution tried %d times before its firing was delivered", n)
			}
			if got := len(h.outbox("desk")); got != 2 {
				t.Fatalf("outbox holds %d, want X's two", got)
			}
		})
	}
}

func TestDeliveryGiveUpAfter(t *testing.T) {
	desk := &sink{fail: func(m Message) error {
		if m.AlertID == "X" {
			return errors.New("receiver answered 503 Service Unavailable")
		}
		return nil
	}}
	sms := &sink{}
	h := newHarness(t, []NotifyConfig{{Name: "desk", GiveUpAfter: time.Hour}, {Name: "sms"}},
		map[string]Notifier{"desk": desk, "sms": sms}, nil)
	h.put("desk", note("X", TypeFiring, SeverityRed, 1))
	h.deliver("desk")
	h.deliver("sms")
	h.failures(1)
	for i, d := range []time.Duration{time.Minute, 58 * time.Minute} {
		h.advance(d)
		h.failures(i + 2)
		if st := h.e.Stats(); st.DeadLettered != 0 {
			t.Fatalf("dead-lettered before give_up_after: %+v", st)
		}
	}
	h.advance(2 * time.Minute)
	h.failures(4)
	waitFor(t, 10*time.Second, func() bool { return h.e.Stats().DeadLettered == 1 }, "X dead-lettered")
	waitFor(t, 10*time.Second, func() bool { return len(sms.ids()) == 1 }, "notify-rejected at sms")
	_, dead, _, err := h.e.st.depth()
	if err != nil || dead["desk"] != 1 || len(h.outbox("desk")) != 0 {
		t.Fatalf("dead %v outbox %d err %v", dead, len(h.outbox("desk")), err)
	}
	h.e.mu.Lock()
	a := h.e.rejected["desk"]
	h.e.mu.Unlock()
	if a == nil || !strings.Contains(a.Cause, "gave up after 1 h") || !strings.Contains(a.Cause, "503") {
		t.Fatalf("notify-rejected %+v", a)
	}
}

// groupOf decodes an alert.group body.
type groupMsg struct {
	Type string
	Data struct {
		Group  map[string]string
		Alerts []struct {
			Event  string
			Device string
			Tags   map[string]string
		}
	}
}

func decodeGroups(t *testing.T, ms []outMsg) []groupMsg {
	t.Helper()
	var out []groupMsg
	for _, m := range ms {
		if m.Type != TypeGroup {
			t.Fatalf("not a group: %s %s", m.Type, m.Body)
		}
		var g groupMsg
		if err := json.Unmarshal(m.Body, &g); err != nil {
			t.Fatalf("%v: %s", err, m.Body)
		}
		out = append(out, g)
	}
	return out
}

func (g groupMsg) members() []string {
	var out []string
	for _, a := range g.Data.Alerts {
		out = append(out, a.Device+" "+a.Event)
	}
	return out
}

func TestGroupingWindows(t *testing.T) {
	h := newHarness(t, []NotifyConfig{{Name: "desk", GroupBy: []string{"area"}}, {Name: "sms"}}, map[string]Notifier{}, nil)
	h.gas("GA-1", 60)
	h.gas("GA-2", 30)
	h.gas("GB-1", 60)
	h.at(5 * time.Second)
	if got := h.outbox("desk"); len(got) != 0 {
		t.Fatalf("sent within group_wait: %v", got)
	}
	if g, err := h.e.st.grouped(); err != nil || g["desk"] != 3 {
		t.Fatalf("group members %v %v", g, err)
	}
	if problems, err := testutil.CollectAndLint(h.e.Collector()); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", err, problems)
	}
	if n := testutil.CollectAndCount(h.e.Collector(), "hazardgw_alert_group_members"); n != 2 {
		t.Errorf("group_members series: %d, want one per receiver", n)
	}
	if got := h.outbox("sms"); len(got) != 3 {
		t.Fatalf("a receiver without group_by got %d notifications, want 3", len(got))
	}
	h.at(10 * time.Second)
	gs := decodeGroups(t, h.outbox("desk"))
	if len(gs) != 2 {
		t.Fatalf("%d groups, want 2", len(gs))
	}
	slices.SortFunc(gs, func(a, b groupMsg) int { return strings.Compare(a.Data.Group["area"], b.Data.Group["area"]) })
	eq(t, "loading-B", gs[0].members(), []string{"GB-1 alert.firing"})
	eq(t, "tank-farm-A", gs[1].members(), []string{"GA-1 alert.firing", "GA-2 alert.firing"})
	if gs[1].Data.Alerts[0].Tags["area"] != "tank-farm-A" {
		t.Errorf("members carry their tags: %+v", gs[1].Data.Alerts[0])
	}
	// Within group_interval of the last send, the group waits.
	h.clock.Set(t0.Add(12 * time.Second))
	h.gas("GA-3", 60)
	h.gas("GA-1", 0)
	h.at(30 * time.Second)
	if got := h.outbox("desk"); len(got) != 2 {
		t.Fatalf("sent within group_interval: %d", len(got))
	}
	h.at(70 * time.Second)
	all := decodeGroups(t, h.outbox("desk"))
	if len(all) != 3 {
		t.Fatalf("%d groups, want 3", len(all))
	}
	eq(t, "the next interval", all[2].members(), []string{"GA-3 alert.firing", "GA-1 alert.resolved"})
	// Members in a window survive a restart, and go out once.
	h.clock.Set(t0.Add(80 * time.Second))
	h.gas("GB-1", 0)
	h.restart()
	h.at(85 * time.Second)
	if got := h.outbox("desk"); len(got) != 3 {
		t.Fatalf("sent early after restart: %d", len(got))
	}
	h.at(90 * time.Second)
	h.at(91 * time.Second)
	all = decodeGroups(t, h.outbox("desk"))
	if len(all) != 4 {
		t.Fatalf("%d groups after restart, want 4", len(all))
	}
	eq(t, "after restart", all[3].members(), []string{"GB-1 alert.resolved"})
}

func TestGroupDue(t *testing.T) {
	w, iv := 10*time.Second, time.Minute
	for _, c := range []struct {
		name        string
		first, last time.Duration // from t0; -1: zero
		want        time.Duration // -1: none
	}{
		{"new group waits group_wait", 0, -1, 10 * time.Second},
		{"sent recently: group_interval after", 30 * time.Second, 0, time.Minute},
		{"sent long ago: group_wait", 5 * time.Minute, 0, 5*time.Minute + 10*time.Second},
		{"nothing waits", -1, 0, -1},
	} {
		t.Run(c.name, func(t *testing.T) {
			at := func(d time.Duration) time.Time {
				if d < 0 {
					return time.Time{}
				}
				return t0.Add(d)
			}
			g := groupState{First: at(c.first), Last: at(c.last)}
			if got := g.due(w, iv); !got.Equal(at(c.want)) {
				t.Fatalf("due %v, want %v", got, at(c.want))
			}
		})
	}
}

func TestEscalation(t *testing.T) {
	notify := []NotifyConfig{
		{Name: "desk", Escalate: []EscalateStep{{After: 5 * time.Minute, To: "sms-duty"}, {After: 15 * time.Minute, To: "chief"}}},
		{Name: "sms-duty"}, {Name: "chief"},
		{Name: "red-only", Match: map[string]conf.Strings{"severity": {"red"}}},
	}
	h := newHarness(t, notify, map[string]Notifier{}, nil)
	h.gas("GD-101", 60)
	h.gas("GD-102", 30)
	if n := len(h.outbox("sms-duty")) + len(h.outbox("chief")); n != 0 {
		t.Fatalf("escalation targets got %d notifications at once; they get escalations only", n)
	}
	if got := h.outbox("red-only"); len(got) != 1 || got[0].Severity != SeverityRed {
		t.Fatalf("red-only got %v", got)
	}
	h.at(4*time.Minute + 59*time.Second)
	if n := len(h.outbox("sms-duty")); n != 0 {
		t.Fatalf("escalated early: %d", n)
	}
	h.at(5 * time.Minute)
	sms := h.outbox("sms-duty")
	if len(sms) != 2 || sms[0].Type != TypeEscalated {
		t.Fatalf("sms-duty %v", sms)
	}
	var p struct {
		Data Alert
	}
	if err := json.Unmarshal(sms[0].Body, &p); err != nil || !strings.Contains(p.Data.Message, "升级通知") || p.Data.Device == "" {
		t.Fatalf("escalation body %s", sms[0].Body)
	}
	h.at(6 * time.Minute)
	h.restart()
	h.at(7 * time.Minute)
	if n := len(h.outbox("sms-duty")); n != 2 {
		t.Fatalf("a step taken again (after a restart): %d", n)
	}
	// GD-101 is acknowledged: its second step is not taken.
	var id101 string
	alerts, _ := h.e.Alerts(false)
	for _, a := range alerts {
		if a.Device == "GD-101" {
			id101 = a.ID
		}
	}
	if _, err := h.e.Ack(id101, "张工", ""); err != nil {
		t.Fatal(err)
	}
	h.at(15 * time.Minute)
	chief := h.outbox("chief")
	if len(chief) != 1 || chief[0].AlertID == id101 {
		t.Fatalf("chief %v (acknowledged %s)", chief, id101)
	}
	// A step that fell due while the gateway was down is taken at start, once.
	h.clock.Set(t0.Add(20 * time.Minute))
	h.gas("GD-101", 0)
	h.gas("GD-101", 60) // a new occurrence
	h.close()
	h.clock.Set(t0.Add(50 * time.Minute))
	h.open()
	h.e.tick()
	h.e.tick()
	if a, b := len(h.outbox("sms-duty")), len(h.outbox("chief")); a != 3 || b != 2 {
		t.Fatalf("after downtime: sms-duty %d (want 3), chief %d (want 2)", a, b)
	}
}

func TestEscalationDue(t *testing.T) {
	a := &Alert{State: StateActiveUnacked, StartedAt: t0}
	for _, c := range []struct {
		name  string
		state State
		taken bool
		at    time.Duration
		want  bool
	}{
		{"before", StateActiveUnacked, false, 4 * time.Minute, false},
		{"at", StateActiveUnacked, false, 5 * time.Minute, true},
		{"taken", StateActiveUnacked, true, 9 * time.Minute, false},
		{"acknowledged", StateActiveAcked, false, 9 * time.Minute, false},
		{"cleared", StateClearedUnacked, false, 9 * time.Minute, false},
	} {
		a.State = c.state
		if got := escalationDue(a, c.taken, 5*time.Minute, t0.Add(c.at)); got != c.want {
			t.Errorf("%s: %v", c.name, got)
		}
	}
}

func TestRateBudgetMergesWhatWaits(t *testing.T) {
	desk := &batchSink{}
	h := newHarness(t, []NotifyConfig{{Name: "desk", Rate: RateBudget{N: 2, Per: time.Minute}}}, map[string]Notifier{"desk": desk}, nil)
	h.put("desk", note("A", TypeFiring, SeverityRed, 1), note("B", TypeFiring, SeverityYellow, 1),
		note("A", TypeResolved, SeverityRed, 2), note("C", TypeFiring, SeverityOrange, 1), note("D", TypeFiring, SeverityBlue, 1))
	h.deliver("desk")
	waitFor(t, 10*time.Second, func() bool { return len(desk.ids()) == 5 }, "all five, in two messages")
	desk.mu.Lock()
	eq(t, "merged", desk.batches[0], []string{"msg_A_2", "msg_C_1", "msg_B_1", "msg_D_1"})
	if len(desk.batches) != 1 {
		t.Errorf("batches %v", desk.batches)
	}
	desk.mu.Unlock()
	eq(t, "order", desk.ids(), []string{"msg_A_1", "msg_A_2", "msg_C_1", "msg_B_1", "msg_D_1"})
	// The budget is spent: what comes waits for it, and is never dropped.
	h.put("desk", note("E", TypeFiring, SeverityRed, 1), note("F", TypeFiring, SeverityRed, 1))
	time.Sleep(50 * time.Millisecond) // an expectation over a window: nothing is sent
	if n := len(desk.ids()); n != 5 {
		t.Fatalf("sent beyond the budget: %d", n)
	}
	h.advance(30 * time.Second)
	waitFor(t, 10*time.Second, func() bool { return len(desk.ids()) == 7 }, "E and F merged once the budget allows")
	desk.mu.Lock()
	eq(t, "second merge", desk.batches[1], []string{"msg_E_1", "msg_F_1"})
	desk.mu.Unlock()
}

func TestRateBudgetWithoutBatchWaits(t *testing.T) {
	desk := &sink{}
	h := newHarness(t, []NotifyConfig{{Name: "desk", Type: "dingtalk"}}, map[string]Notifier{"desk": desk}, nil)
	var ms []outMsg
	for i := range 25 {
		ms = append(ms, note(fmt.Sprintf("A%02d", i), TypeFiring, SeverityRed, 1))
	}
	h.put("desk", ms...)
	h.deliver("desk")
	waitFor(t, 10*time.Second, func() bool { return len(desk.ids()) == 20 }, "the default dingtalk budget of 20")
	time.Sleep(50 * time.Millisecond)
	if n := len(desk.ids()); n != 20 {
		t.Fatalf("sent beyond the budget: %d", n)
	}
	h.advance(15 * time.Second) // 5 more
	waitFor(t, 10*time.Second, func() bool { return len(desk.ids()) == 25 }, "the rest as the budget refills")
	if !slices.IsSorted(desk.ids()) {
		t.Errorf("not oldest first: %v", desk.ids())
	}
}

func TestBudget(t *testing.T) {
	b := newBudget(RateBudget{N: 2, Per: time.Minute}, t0)
	if !b.limited() || b.avail(t0) != 2 || b.lastOne(t0) {
		t.Fatalf("full budget: %+v", b)
	}
	b.take(t0)
	if !b.lastOne(t0) {
		t.Fatal("one left is the last one")
	}
	b.take(t0)
	if b.avail(t0) >= 1 {
		t.Fatal("spent")
	}
	if at := b.readyAt(t0); at.Before(t0.Add(30*time.Second)) || at.After(t0.Add(31*time.Second)) {
		t.Fatalf("ready at %v", at)
	}
	if b.avail(t0.Add(time.Hour)) != 2 {
		t.Fatal("refills to its size, no more")
	}
	if u := newBudget(RateBudget{N: -1}, t0); u.limited() || u.lastOne(t0) {
		t.Fatal("none is unlimited")
	}
}

func TestSchedStaysBoundedWhileReceiverIsDown(t *testing.T) {
	desk := &sink{fail: func(Message) error { return errors.New("connection refused") }}
	h := newHarness(t, []NotifyConfig{{Name: "desk"}}, map[string]Notifier{"desk": desk}, func(o *Options) { o.Concurrency = 4 })
	const n = 10000
	ms := make([]outMsg, n)
	for i := range ms {
		ms[i] = note(fmt.Sprintf("X%05d", i), TypeFiring, SeverityRed, 1)
	}
	h.put("desk", ms...)
	rc := h.deliver("desk")
	for i := range 30 {
		h.advance(time.Minute)
		h.failures(i + 4)
	}
	if p := rc.peak.Load(); p > maxBackoffs+int64(4)+downAfter || p == 0 {
		t.Fatalf("scheduler held %d entries", p)
	}
	desk.mu.Lock()
	tried := len(desk.tries)
	desk.mu.Unlock()
	if tried > 1000 {
		t.Fatalf("%d notifications tried while the receiver is down: it should be probed, not flooded", tried)
	}
	outbox, _, _, err := h.e.st.depth()
	if err != nil || outbox["desk"] != n {
		t.Fatalf("outbox %v %v", outbox, err)
	}
}

func TestSchedBackoffsBounded(t *testing.T) {
	s := newSched(4, time.Second, budget{})
	for i := range 5000 {
		o := fmt.Sprintf("X%d", i)
		s.start([]string{o})
		s.retry([]string{o}, t0.Add(time.Duration(i)*time.Millisecond))
	}
	if len(s.backoff) > maxBackoffs || len(s.failed) > downAfter || len(s.inflight) != 0 {
		t.Fatalf("backoff %d failed %d inflight %d", len(s.backoff), len(s.failed), len(s.inflight))
	}
	if !s.down() || s.slots(t0) != 0 {
		t.Fatal("many different occurrences failing: the receiver is down")
	}
	s.delivered([]string{"X4999"})
	if s.down() || s.slots(t0) != 4 || s.skip("X4998", t0) || len(s.backoff) != 0 {
		t.Fatal("a delivery ends the outage: what failed during it is tried again at once")
	}
	// One occurrence the receiver keeps refusing, while others are taken.
	s.start([]string{"X"})
	s.retry([]string{"X"}, t0)
	s.delivered([]string{"Y"})
	if !s.skip("X", t0) || s.skip("X", t0.Add(time.Second)) {
		t.Fatal("a refused occurrence backs off on its own")
	}
	s.start([]string{"X"})
	s.retry([]string{"X"}, t0.Add(time.Second))
	if !s.skip("X", t0.Add(2*time.Second)) || s.skip("X", t0.Add(3*time.Second)) {
		t.Fatal("its backoff doubles")
	}
}

func TestCompileDelivery(t *testing.T) {
	for _, c := range []struct {
		name   string
		notify []NotifyConfig
		want   []string
	}{
		{"fine", []NotifyConfig{{Name: "a", Match: map[string]conf.Strings{"severity": {"red", "orange"}, "area": {"tank-*"}},
			GroupBy: []string{"area"}, Escalate: []EscalateStep{{After: time.Minute, To: "b"}}}, {Name: "b"}}, nil},
		{"bad severity", []NotifyConfig{{Name: "a", Match: map[string]conf.Strings{"severity": {"crimson"}}}},
			[]string{`0 match.severity: unknown severity "crimson"`}},
		{"bad glob", []NotifyConfig{{Name: "a", Match: map[string]conf.Strings{"device": {"GD-["}}}},
			[]string{`0 match.device: invalid pattern "GD-["`}},
		{"no values", []NotifyConfig{{Name: "a", Match: map[string]conf.Strings{"area": {}}}}, []string{"0 match.area: no values"}},
		{"self", []NotifyConfig{{Name: "a", Escalate: []EscalateStep{{After: time.Minute, To: "a"}}}},
			[]string{`0 escalate[0].to: "a" escalates to itself`}},
		{"unknown", []NotifyConfig{{Name: "a", Escalate: []EscalateStep{{To: "nobody"}}}},
			[]string{"0 escalate[0].after: required", `0 escalate[0].to: no receiver named "nobody"`}},
		{"cycle", []NotifyConfig{{Name: "a", Escalate: []EscalateStep{{After: time.Minute, To: "b"}}},
			{Name: "b", Escalate: []EscalateStep{{After: time.Minute, To: "a"}}}},
			[]string{"0 escalate: escalation cycle: a → b → a", "1 escalate: escalation cycle: b → a → b"}},
		{"group_by", []NotifyConfig{{Name: "a", GroupBy: []string{"area", "", "area"}}},
			[]string{"0 group_by[1]: empty label", `0 group_by[2]: "area" listed twice`}},
		{"negative", []NotifyConfig{{Name: "a", GiveUpAfter: -time.Second}}, []string{"0 give_up_after: must not be negative"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			compileDelivery(c.notify, func(i int, key, msg string) { got = append(got, fmt.Sprintf("%d %s: %s", i, key, msg)) })
			if len(got) != len(c.want) {
				t.Fatalf("got %q, want %q", got, c.want)
			}
			slices.Sort(got)
			for i := range got {
				if !strings.HasPrefix(got[i], c.want[i]) {
					t.Errorf("got %q, want prefix %q", got[i], c.want[i])
				}
			}
		})
	}
}

func TestRouting(t *testing.T) {
	a := &Alert{Severity: SeverityOrange, Rule: "combustible-gas", Kind: "gas_detector", Device: "GD-101", Site: "qz",
		Tags: map[string]string{"area": "tank-farm-A"}}
	for _, c := range []struct {
		match map[string]conf.Strings
		want  bool
	}{
		{nil, true},
		{map[string]conf.Strings{"severity": {"red", "orange"}}, true},
		{map[string]conf.Strings{"severity": {"red"}}, false},
		{map[string]conf.Strings{"area": {"*"}}, true},
		{map[string]conf.Strings{"zone": {"*"}}, false}, // the device has no such tag
		{map[string]conf.Strings{"area": {"tank-*"}, "rule": {"combustible-gas"}, "device": {"GD-1*"}}, true},
		{map[string]conf.Strings{"area": {"tank-*"}, "kind": {"fire_detection"}}, false},
		{map[string]conf.Strings{"site": {"qz"}}, true},
	} {
		p := policy{match: compileMatch(c.match, func(k, m string) { t.Fatal(k, m) })}
		if got := p.wants(a); got != c.want {
			t.Errorf("%v: %v", c.match, got)
		}
	}
	if (&policy{escOnly: true}).wants(a) {
		t.Error("an escalation target without match got an alert")
	}
}

func TestRateBudgetText(t *testing.T) {
	for in, want := range map[string]string{"20/1m": "20/1m0s", "5/10s": "5/10s", "none": "none"} {
		var r RateBudget
		if err := r.UnmarshalText([]byte(in)); err != nil || r.String() != want {
			t.Errorf("%s: %v %v", in, r, err)
		}
	}
	for _, in := range []string{"", "20", "0/1m", "-1/1m", "20/0s", "x/1m", "20/fast"} {
		var r RateBudget
		if err := r.UnmarshalText([]byte(in)); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func BenchmarkGroupBody1000(b *testing.B) {
	a := Alert{ID: "0123456789abcdef0123", Rule: "combustible-gas", Status: StatusFiring, State: StateActiveUnacked,
		Level: "high-high", Severity: SeverityRed, Site: "qz", Device: "GD-101", Kind: "gas_detector", Point: "ch4",
		Value: 57.3, Unit: "%LEL", StartedAt: t0, ChangedAt: t0, Tags: map[string]string{"area": "tank-farm-A"},
		Message: "1号储罐区东侧可燃气体探测器 甲烷 57.3 %LEL，超过二级报警值 50 %LEL"}
	members := make([]outMsg, 1000)
	for i := range members {
		a.Device = fmt.Sprintf("GD-%04d", i)
		body, err := encodePayload(TypeFiring, t0, &a)
		if err != nil {
			b.Fatal(err)
		}
		members[i] = outMsg{Type: TypeFiring, Body: body, Severity: SeverityRed}
	}
	labels := map[string]string{"area": "tank-farm-A"}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := groupBody(t0, labels, members); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzRateBudget: notify[].rate never panics, and what it accepts is a
// positive budget or none, written back as it reads.
func FuzzRateBudget(f *testing.F) {
	for _, s := range []string{"20/1m", "none", "5/10s", "0/1m", "1/0s", "x", "9999999999/1h", "20/-1m"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var r RateBudget
		if err := r.UnmarshalText([]byte(s)); err != nil {
			return
		}
		if r.N == 0 || r.N > 0 && r.Per <= 0 {
			t.Fatalf("%q accepted as %+v", s, r)
		}
		var back RateBudget
		if err := back.UnmarshalText([]byte(r.String())); err != nil || back != r {
			t.Fatalf("%q → %q → %+v %v", s, r.String(), back, err)
		}
	})
}

// FuzzGroupBody: whatever a member's body holds, a group is valid JSON or
// an error, never a panic.
func FuzzGroupBody(f *testing.F) {
	f.Add(`{"type":"alert.firing","timestamp":"2026-11-22T09:00:00Z","data":{"id":"a"}}`, "alert.firing")
	f.Add(`{"data":{}}`, "x")
	f.Add(`{"type":"x","data":"str"}`, `"`)
	f.Fuzz(func(t *testing.T, body, typ string) {
		b, _, err := groupBody(t0, map[string]string{"area": "A"}, []outMsg{{Type: typ, Body: []byte(body)}})
		if err == nil && !json.Valid(b) {
			t.Fatalf("invalid group %s", b)
		}
	})
}

// TestOutboxOfOlderStoreIsIndexed: an alerts.db written before the outbox
// had its indexes is indexed at open, and delivered by the same rules.
func TestOutboxOfOlderStoreIsIndexed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		ob, err := tx.CreateBucketIfNotExists(bucketOutbox)
		if err != nil {
			return err
		}
		b, err := ob.CreateBucket([]byte("desk"))
		if err != nil {
			return err
		}
		for i, m := range []outMsg{note("A", TypeFiring, SeverityYellow, 1), note("B", TypeFiring, SeverityRed, 1), note("A", TypeResolved, SeverityYellow, 2)} {
			m.Severity = "" // older entries had none: it is read from the body
			v, _ := json.Marshal(m)
			if err := b.Put(u64(uint64(i+1)), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	desk := &sink{}
	h := &harness{t: t, clock: testenv.NewClock(t0), path: path}
	h.cfg = Config{Rules: quietRules, Notify: []NotifyConfig{{Name: "desk"}}}
	h.opts = Options{Site: "qz", Path: path, Now: h.clock.Now, Notifiers: map[string]Notifier{"desk": desk}, RetryDelay: 10 * time.Millisecond, Concurrency: 1}
	h.open()
	h.deliver("desk")
	waitFor(t, 10*time.Second, func() bool { return len(desk.ids()) == 3 }, "the older outbox")
	eq(t, "order", desk.ids(), []string{"msg_B_1", "msg_A_1", "msg_A_2"})
}

// BenchmarkOutboxTakeBatch: picking a merged message of 100 from an
// outbox of 10,000 waiting notifications of 1,000 occurrences.
func BenchmarkOutboxTakeBatch(b *testing.B) {
	st, err := openStore(filepath.Join(b.TempDir(), "alerts.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.close()
	cs := &changeSet{}
	for i := range 10000 {
		sev := []string{SeverityRed, SeverityOrange, SeverityYellow, SeverityBlue}[i%4]
		cs.msgs = append(cs.msgs, queued{receiver: "desk", msg: note(fmt.Sprintf("A%04d", i%1000), TypeFiring, sev, i/1000)})
	}
	if err := st.commit(cs); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		hs, err := st.take("desk", maxBatch, maxBatch, true, nil)
		if err != nil || len(hs) != maxBatch {
			b.Fatal(len(hs), err)
		}
	}
}

// TestOutboxDamageNeverStalls: an index entry without its notification and
// a notification that cannot be decoded are cleared away; the rest is
// delivered.
func TestOutboxDamageNeverStalls(t *testing.T) {
	desk := &sink{}
	h := newHarness(t, []NotifyConfig{{Name: "desk"}}, map[string]Notifier{"desk": desk}, nil)
	h.put("desk", note("A", TypeFiring, SeverityRed, 1), note("B", TypeFiring, SeverityRed, 1), note("C", TypeFiring, SeverityYellow, 1))
	err := h.e.st.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox).Bucket([]byte("desk"))
		if err := b.Delete(u64(1)); err != nil { // A's notification gone, its index left
			return err
		}
		return b.Put(u64(2), []byte("{not json")) // B's damaged
	})
	if err != nil {
		t.Fatal(err)
	}
	h.deliver("desk")
	waitFor(t, 10*time.Second, func() bool { return len(desk.ids()) == 1 }, "C")
	eq(t, "delivered", desk.ids(), []string{"msg_C_1"})
	waitFor(t, 10*time.Second, func() bool {
		_, dead, _, err := h.e.st.depth()
		return err == nil && dead["desk"] == 1
	}, "B dead-lettered")
	// C's removal is committed after the desk has it: wait for it.
	waitFor(t, 10*time.Second, func() bool {
		hs, err := h.e.st.take("desk", 10, 10, true, nil)
		return err == nil && len(hs) == 0
	}, "outbox empty")
}

func TestEscalationWaitsWhileUnderMaintenance(t *testing.T) {
	h := newHarness(t, []NotifyConfig{{Name: "desk", Escalate: []EscalateStep{{After: 5 * time.Minute, To: "sms"}}}, {Name: "sms"}},
		map[string]Notifier{}, nil)
	h.gas("GD-101", 60)
	maint := func(on bool) {
		reason := ""
		if on {
			reason = gateway.ReasonMaintenance
		}
		h.e.Observe([]gateway.Point{{Measurement: gateway.MeasurementDeviceStatus,
			Tags: []gateway.Tag{{Key: "device", Value: "GD-101"}, {Key: "kind", Value: "gas_detector"}, {Key: "source", Value: "modbus"}},
			Fields: []gateway.Field{gateway.Bool("online", true), gateway.String("quality", "uncertain"), gateway.String("reason", reason),
				gateway.Bool("fault", false), gateway.Bool("maintenance", on)}, Time: h.clock.Now()}})
		h.e.evaluate(<-h.e.queue)
	}
	h.clock.Set(t0.Add(time.Minute))
	maint(true)
	h.at(6 * time.Minute)
	if n := len(h.outbox("sms")); n != 0 {
		t.Fatalf("escalated under maintenance: %d", n)
	}
	h.clock.Set(t0.Add(7 * time.Minute))
	maint(false)
	h.at(7*time.Minute + time.Second)
	if n := len(h.outbox("sms")); n != 1 {
		t.Fatalf("after maintenance, still unacknowledged: %d escalations, want 1", n)
	}
}

func TestCheckRoutesAgainstSite(t *testing.T) {
	cfg := Config{Notify: []NotifyConfig{
		{Name: "screen", Match: map[string]conf.Strings{"area": {"tank-*"}, "severity": {"red"}}, GroupBy: []string{"area", "rule"}},
		{Name: "typo", Match: map[string]conf.Strings{"zone": {"A"}}, GroupBy: []string{"zone"}},
	}}
	var p conf.Problems
	cfg.CheckSite("alerting", []Series{{Kind: "gas_detector", Device: "GD-101", Tags: map[string]string{"area": "tank-farm-A"}}}, &p)
	var got []string
	for _, pr := range p.List {
		got = append(got, fmt.Sprintf("false %s: %s", pr.Path, pr.Msg))
	}
	for _, pr := range p.Warnings {
		got = append(got, fmt.Sprintf("true %s: %s", pr.Path, pr.Msg))
	}
	want := []string{
		`false alerting.notify[1].match.zone: no configured device has tag "zone": receiver "typo" would get no alert (device tags: area)`,
		`true alerting.notify[1].group_by[0]: no configured device has tag "zone": every alert falls in one group (device tags: area)`,
	}
	eq(t, "problems", got, want)
}

func TestEscalationWaitsWhileShelved(t *testing.T) {
	h := newHarness(t, []NotifyConfig{{Name: "desk", Escalate: []EscalateStep{{After: 5 * time.Minute, To: "sms"}}}, {Name: "sms"}},
		map[string]Notifier{}, nil)
	h.gas("GD-101", 60)
	as, err := h.e.Alerts(false)
	if err != nil || len(as) != 1 {
		t.Fatalf("alerts: %v %v", as, err)
	}
	h.clock.Set(t0.Add(time.Minute))
	if _, err := h.e.Shelve(as[0].ID, "张三", "探头标定中", 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	h.at(6 * time.Minute)
	if n := len(h.outbox("sms")); n != 0 {
		t.Fatalf("escalated while shelved: %d", n)
	}
	h.at(11*time.Minute + time.Second)
	if n := len(h.outbox("sms")); n != 1 {
		t.Fatalf("after shelving ran out, still unacknowledged: %d escalations, want 1", n)
	}
}
