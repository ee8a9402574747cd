package alerting

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hazardgw/hazardgw/gateway"
	"github.com/hazardgw/hazardgw/internal/testenv"
)

type fakeClock = testenv.Clock

// syncEngine drives an engine without its goroutines: each feed is
// evaluated and committed before it returns, and the outbox is read from
// the store. This makes every decision deterministic.
type syncEngine struct {
	t     testing.TB
	e     *Engine
	clock *fakeClock
	path  string
	nev   int // camera events made, for their ids
}

var testDevices = []Device{
	{ID: "GD-101", Label: "1号储罐区东侧可燃气体探测器", Kind: "gas_detector", Interval: time.Second, Units: map[string]string{"ch4": "%LEL"}, FaultPoint: "fault"},
	{ID: "GD-102", Kind: "gas_detector", Interval: time.Second, Units: map[string]string{"ch4": "%LEL"}},
}

var testRules = []RuleConfig{
	{Name: "combustible-gas", Match: Match{Kind: "gas_detector", Point: "ch4"},
		Thresholds: []Threshold{{Level: "high", Above: f(25), Severity: "yellow"}, {Level: "high-high", Above: f(50), Severity: "red"}},
		Deadband:   2},
	{Name: "device-offline", Match: Match{Device: "*"}, Stale: &Stale{After: StaleAfter{Intervals: 3}}, Severity: "orange"},
	{Name: "forest-fire", Match: Match{Kind: "fire_detection"}, Event: &Event{Types: []string{"smoke", "fire"}, MinConfidence: 0.7},
		Severity: "red", AutoResolve: 10 * time.Minute},
	{Name: "detector-fault", Match: Match{Kind: "gas_detector", Point: "fault"}, State: &StateCondition{Value: true, Level: "fault"}, Severity: "red"},
}

// quietRules are testRules without the offline rule, for tests that let
// hours pass without polls.
var quietRules = slices.DeleteFunc(slices.Clone(testRules), func(r RuleConfig) bool { return r.Stale != nil })

func newSyncEngine(t testing.TB, path string, rules []RuleConfig, repeat time.Duration) *syncEngine {
	t.Helper()
	return openSync(t, path, testenv.NewClock(t0), Config{Rules: rules}, Options{Site: "qz-petro-01", Devices: testDevices}, repeat)
}

// openSync opens a syncEngine on cfg and opts with one receiver, "desk",
// that takes everything (repeat: its reminder interval), its store at path
// (empty: a new temporary file) and clock as its time.
func openSync(t testing.TB, path string, clock *testenv.Clock, cfg Config, opts Options, repeat time.Duration) *syncEngine {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "alerts.db")
	}
	cfg.Notify = []NotifyConfig{{Name: "desk", RepeatInterval: repeat}}
	opts.Path, opts.Now = path, clock.Now
	opts.Notifiers = map[string]Notifier{"desk": NotifierFunc(nil)}
	e, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	e.acc = gateway.AcceptFunc(nil) // points are recorded in the store, not written
	if err := e.Open(); err != nil {
		t.Fatal(err)
	}
	s := &syncEngine{t: t, e: e, clock: clock, path: path}
	t.Cleanup(func() { s.close() })
	return s
}

func (s *syncEngine) close() { closeStore(s.e) }

// closeStore closes e's store as Close would, for an engine whose
// goroutines never ran.
func closeStore(e *Engine) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.st != nil {
		e.st.close()
		e.st = nil
	}
}

func (s *syncEngine) feed(points ...gateway.Point) {
	s.t.Helper()
	s.e.Observe(points)
	select {
	case b := <-s.e.queue:
		s.e.evaluate(b)
	default: // nothing the rules could use
	}
}

func (s *syncEngine) tick() { s.e.tick() }

// serveAPI serves the engine's Routes until the test ends and returns a
// caller: the status and body of one request.
func (s *syncEngine) serveAPI() func(method, path, body string) (int, string) {
	mux := http.NewServeMux()
	for p, h := range s.e.Routes() {
		mux.Handle(p, h)
	}
	srv := httptest.NewServer(mux)
	s.t.Cleanup(srv.Close)
	return func(method, path, body string) (int, string) {
		s.t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			s.t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			s.t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
}

// notes lists the outbox of receiver "desk" as "type level severity".
func (s *syncEngine) notes() []string {
	var out []string
	for _, m := range s.outbox() {
		var p struct {
			Type string
			Data Alert
		}
		if err := json.Unmarshal(m.Body, &p); err != nil {
			s.t.Fatal(err)
		}
		out = append(out, p.Type+" "+p.Data.Level+" "+p.Data.Severity)
	}
	return out
}

func (s *syncEngine) outbox() []outMsg { return outboxOf(s.t, s.e, "desk") }

// outboxOf reads what e's store holds for receiver, oldest first.
func outboxOf(t testing.TB, e *Engine, receiver string) []outMsg {
	t.Helper()
	var out []outMsg
	err := e.st.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox).Bucket([]byte(receiver))
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			var m outMsg
			if err := json.Unmarshal(v, &m); err != nil {
				return err
			}
			out = append(out, m)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (s *syncEngine) points() []gateway.Point {
	_, pts, err := s.e.st.pendingPoints(1 << 20)
	if err != nil {
		s.t.Fatal(err)
	}
	return pts
}

func (s *syncEngine) gas(dev string, v float64) gateway.Point {
	return gateway.Point{Measurement: "gas_detector", Tags: []gateway.Tag{{Key: "site", Value: "qz"}, {Key: "device", Value: dev}, {Key: "area", Value: "A"}},
		Fields: []gateway.Field{gateway.Float("ch4", v), gateway.Bool("fault", false)}, Time: s.clock.Now()}
}

func (s *syncEngine) status(dev string, online bool) gateway.Point {
	return gateway.Point{Measurement: gateway.MeasurementDeviceStatus,
		Tags:   []gateway.Tag{{Key: "site", Value: "qz"}, {Key: "device", Value: dev}, {Key: "kind", Value: "gas_detector"}, {Key: "source", Value: "modbus"}},
		Fields: []gateway.Field{gateway.Bool("online", online)}, Time: s.clock.Now()}
}

func (s *syncEngine) camera(cam, typ string, conf float64) gateway.Point {
	return gateway.Point{Measurement: "fire_detection", Tags: []gateway.Tag{{Key: "site", Value: "qz"}, {Key: "camera", Value: cam}, {Key: "type", Value: typ}},
		Fields: []gateway.Field{gateway.Float("confidence", conf), gateway.Float("bearing_deg", 132.5), gateway.String("event_id", s.eventID(cam))}, Time: s.clock.Now()}
}

// eventID is a new event id of camera cam.
func (s *syncEngine) eventID(cam string) string {
	s.nev++
	return cam + "-" + strconv.Itoa(s.nev)
}

// poll feeds one good poll of dev, one second later, as the Modbus source would.
func (s *syncEngine) poll(dev string, v float64) {
	s.clock.Add(time.Second)
	s.feed(s.status(dev, true), s.gas(dev, v))
}

func eq(t testing.TB, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s:\n got %q\nwant %q", what, got, want)
	}
}

func TestEngineGasRampUpAndDown(t *testing.T) {
	s := newSyncEngine(t, "", testRules, 0)
	for v := 0.0; v <= 60; v++ {
		s.poll("GD-101", v)
	}
	for v := 60.0; v >= 0; v-- {
		s.poll("GD-101", v)
	}
	eq(t, "notifications", s.notes(), []string{
		"alert.firing high yellow", "alert.changed high-high red", "alert.changed high yellow", "alert.resolved high yellow",
	})
	msgs := s.outbox()
	for i, m := range msgs {
		if m.AlertID != msgs[0].AlertID || m.ID != messageID(m.AlertID, i+1) {
			t.Errorf("message %d: id %s alert %s", i, m.ID, m.AlertID)
		}
	}
	var p payload
	if err := json.Unmarshal(msgs[1].Body, &p); err != nil {
		t.Fatal(err)
	}
	want := "1号储罐区东侧可燃气体探测器 甲烷 50 %LEL，超过二级报警值 50 %LEL"
	if p.Data.Message != want || p.Data.Site != "qz-petro-01" || p.Data.Kind != "gas_detector" || p.Data.Unit != "%LEL" || *p.Data.Threshold != 50 {
		t.Errorf("changed payload %+v", p.Data)
	}
	// Alert points: one per transition, with the schema's tags and fields.
	pts := s.points()
	if len(pts) != 4 {
		t.Fatalf("%d alert points", len(pts))
	}
	pt := pts[1]
	tag := func(k string) string { v, _ := pt.Tag(k); return v }
	st, _ := pt.Field("status")
	id, _ := pt.Field("id")
	thr, _ := pt.Field("threshold")
	if pt.Measurement != "alert" || tag("site") != "qz-petro-01" || tag("rule") != "combustible-gas" || tag("device") != "GD-101" ||
		tag("point") != "ch4" || tag("level") != "high-high" || tag("severity") != "red" || st.S != "changed" || id.S != msgs[0].AlertID || thr.F != 50 {
		t.Errorf("alert point %+v", pt)
	}
}

func TestEngineDeadbandNoFlapping(t *testing.T) {
	s := newSyncEngine(t, "", testRules, 0)
	for i := range 200 {
		v := 25.0 + 1
		if i%2 == 1 {
			v = 25 - 1
		}
		s.poll("GD-101", v)
	}
	eq(t, "notifications", s.notes(), []string{"alert.firing high yellow"})
	s.poll("GD-101", 22.9)
	eq(t, "notifications", s.notes(), []string{"alert.firing high yellow", "alert.resolved high yellow"})
}

func TestEngineFailedPollNeitherRaisesNorClears(t *testing.T) {
	s := newSyncEngine(t, "", testRules, 0)
	s.poll("GD-101", 30)
	s.clock.Add(time.Second)
	s.feed(s.status("GD-101", false)) // one failed poll
	s.tick()
	eq(t, "after one failure", s.notes(), []string{"alert.firing high yellow"})
	s.clock.Add(time.Second)
	s.feed(s.status("GD-101", false))
	s.clock.Add(time.Second)
	s.feed(s.status("GD-101", false)) // third in a row: offline
	eq(t, "after three failures", s.notes(), []string{"alert.firing high yellow", "alert.firing offline orange"})
	s.poll("GD-101", 30) // back, still breached: gas alert unchanged, offline resolved
	eq(t, "back", s.notes(), []string{"alert.firing high yellow", "alert.firing offline orange", "alert.resolved offline orange"})
	s.poll("GD-101", 10)
	eq(t, "cleared", s.notes()[3:], []string{"alert.resolved high yellow"})
}

func TestEngineSilentDeviceGoesOffline(t *testing.T) {
	s := newSyncEngine(t, "", testRules, 0)
	s.poll("GD-101", 1)
	s.poll("GD-102", 1)
	for range 10 {
		s.clock.Add(250 * time.Millisecond)
		s.tick()
		s.feed(s.status("GD-102", true), s.gas("GD-102", 1)) // GD-102 keeps reporting
	}
	eq(t, "notifications", s.notes(), []string{"alert.firing offline orange"})
	var p payload
	_ = json.Unmarshal(s.outbox()[0].Body, &p)
	if p.Data.Device != "GD-101" || p.Data.Point != "online" || !strings.Contains(p.Data.Message, "离线") {
		t.Errorf("offline payload %+v", p.Data)
	}
	for range 20 {
		s.clock.Add(time.Second)
		s.tick()
		s.feed(s.status("GD-102", true), s.gas("GD-102", 1))
	}
	if n := len(s.notes()); n != 1 {
		t.Fatalf("silence re-notified: %q", s.notes())
	}
	s.poll("GD-101", 1)
	eq(t, "back", s.notes(), []string{"alert.firing offline orange", "alert.resolved offline orange"})
}

func TestEngineNeverHeardDeviceGoesOffline(t *testing.T) {
	s := newSyncEngine(t, "", testRules, 0)
	for range 14 {
		s.clock.Add(250 * time.Millisecond)
		s.tick()
	}
	got := s.notes()
	if len(got) != 2 || got[0] != "alert.firing offline orange" {
		t.Fatalf("configured devices that never answer: %q", got)
	}
}

func TestEngineCamera(t *testing.T) {
	s := newSyncEngine(t, "", quietRules, 0)
	s.feed(s.camera("CAM-07", "smoke", 0.5))
	s.feed(s.camera("CAM-07", "hotspot", 0.99))
	eq(t, "below min confidence, or not a listed type", s.notes(), nil)
	s.feed(s.camera("CAM-07", "fire", 0.9))
	eq(t, "fire", s.notes(), []string{"alert.firing fire red"})
	s.clock.Add(9 * time.Minute)
	s.feed(s.camera("CAM-07", "fire", 0.8)) // keeps it going
	s.clock.Add(9 * time.Minute)
	s.tick()
	eq(t, "refreshed by a new event", s.notes(), []string{"alert.firing fire red"})
	s.clock.Add(time.Minute)
	s.tick()
	eq(t, "auto-resolved", s.notes(), []string{"alert.firing fire red", "alert.resolved fire red"})
	var p payload
	_ = json.Unmarshal(s.outbox()[0].Body, &p)
	if p.Data.Device != "CAM-07" || p.Data.Kind != "fire_detection" || p.Data.Value != 0.9 || p.Data.Message != "CAM-07 检测到明火，置信度 0.90，方位 132.5°" {
		t.Errorf("fire payload %+v", p.Data)
	}
}

func TestEngineDetectorFaultBit(t *testing.T) {
	s := newSyncEngine(t, "", testRules, 0)
	p := s.gas("GD-101", 1)
	p.Fields[1] = gateway.Bool("fault", true)
	s.feed(p)
	eq(t, "fault", s.notes(), []string{"alert.firing fault red"})
	s.feed(s.gas("GD-101", 1))
	eq(t, "fault cleared", s.notes(), []string{"alert.firing fault red", "alert.resolved fault red"})
}

func TestEngineNaNAndInfNeverEvaluate(t *testing.T) {
	s := newSyncEngine(t, "", testRules, 0)
	for _, v := range []float64{nan(), inf()} {
		s.feed(s.gas("GD-101", v))
	}
	eq(t, "NaN", s.notes(), nil)
}

func TestEngineAckAndReminders(t *testing.T) {
	s := newSyncEngine(t, "", quietRules, 15*time.Minute)
	s.poll("GD-101", 30)
	id := s.outbox()[0].AlertID
	for range 31 {
		s.clock.Add(time.Minute)
		s.tick()
		s.feed(s.gas("GD-101", 30), s.status("GD-101", true))
		s.taken()
	}
	eq(t, "reminders", s.notes(), []string{"alert.firing high yellow", "alert.reminder high yellow", "alert.reminder high yellow"})
	if _, err := s.e.Ack("nope", "x", ""); err != ErrUnknownAlert {
		t.Fatalf("unknown id: %v", err)
	}
	a, err := s.e.Ack(id, "张三", "on my way")
	if err != nil || a.State != StateActiveAcked || a.AcknowledgedBy != "张三" {
		t.Fatalf("ack: %v %+v", err, a)
	}
	if _, err := s.e.Ack(id, "李四", ""); err != nil {
		t.Fatal(err)
	}
	for range 40 {
		s.clock.Add(time.Minute)
		s.tick()
		s.feed(s.gas("GD-101", 30), s.status("GD-101", true))
	}
	eq(t, "acknowledged once, reminders stop", s.notes()[3:], []string{"alert.acknowledged high yellow"})
	var p payload
	_ = json.Unmarshal(s.outbox()[3].Body, &p)
	if !p.Data.Acknowledged || p.Data.AcknowledgedBy != "张三" || p.Data.Comment != "on my way" || !strings.HasSuffix(p.Data.Message, "（已由 张三 确认）") {
		t.Errorf("ack payload %+v", p.Data)
	}
	s.poll("GD-101", 0) // acknowledged and cleared: ends
	list, _ := s.e.Alerts(false)
	all, _ := s.e.Alerts(true)
	if len(list) != 0 || len(all) != 1 || all[0].State != StateNormal {
		t.Errorf("active %+v all %+v", list, all)
	}
}

func TestEngineNewOccurrenceWhileOldIsClearedUnacked(t *testing.T) {
	s := newSyncEngine(t, "", testRules, 0)
	s.poll("GD-101", 30)
	s.poll("GD-101", 0)
	list, _ := s.e.Alerts(false)
	if len(list) != 1 || list[0].State != StateClearedUnacked || list[0].Status != StatusResolved {
		t.Fatalf("cleared alert %+v", list)
	}
	old := list[0]
	s.clock.Add(time.Second)
	s.poll("GD-101", 55)
	list, _ = s.e.Alerts(false)
	if len(list) != 2 {
		t.Fatalf("want the old (cleared-unacknowledged) and the new occurrence, got %+v", list)
	}
	cur := list[0] // newest first
	if cur.ID == old.ID || cur.State != StateActiveUnacked || cur.Level != "high-high" || cur.Key != old.Key {
		t.Fatalf("new occurrence %+v (old %s key %s)", cur, old.ID, old.Key)
	}
	if cur.Key != AlertKey("combustible-gas", "GD-101", "ch4") {
		t.Errorf("key %q", cur.Key)
	}
	eq(t, "notifications", s.notes(), []string{"alert.firing high yellow", "alert.resolved high yellow", "alert.firing high-high red"})
	// The desk acknowledges yesterday's message: only that one ends.
	if _, err := s.e.Ack(old.ID, "张三", "seen"); err != nil {
		t.Fatal(err)
	}
	list, _ = s.e.Alerts(false)
	if len(list) != 1 || list[0].ID != cur.ID || list[0].Acknowledged || list[0].State != StateActiveUnacked {
		t.Fatalf("after acking the old occurrence the new one must stay unacknowledged: %+v", list)
	}
	if _, err := s.e.Ack(cur.ID, "", ""); !errors.Is(err, ErrAckNeedsBy) {
		t.Errorf("ack without by: %v, want ErrAckNeedsBy", err)
	}
	var ids []string
	for _, m := range s.outbox() {
		ids = append(ids, m.Type+" "+m.AlertID)
	}
	eq(t, "occurrence ids", ids, []string{
		TypeFiring + " " + old.ID, TypeResolved + " " + old.ID, TypeFiring + " " + cur.ID, TypeAcknowledged + " " + old.ID})
}

func TestEngineRestartNeitherRefiresNorForgets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.db")
	s := newSyncEngine(t, path, quietRules, 15*time.Minute)
	s.poll("GD-101", 57)
	s.feed(s.camera("CAM-07", "fire", 0.9))
	before := s.notes()
	listBefore, _ := s.e.Alerts(false)
	s.close()

	s2 := newSyncEngine(t, path, quietRules, 15*time.Minute)
	s2.clock.Set(s.clock.Now().Add(5 * time.Second))
	listAfter, _ := s2.e.Alerts(false)
	if len(listAfter) != len(listBefore) || listAfter[0].ID != listBefore[0].ID {
		t.Fatalf("restored %+v, had %+v", listAfter, listBefore)
	}
	s2.poll("GD-101", 57) // still breached: not a new alert
	s2.feed(s2.camera("CAM-07", "fire", 0.95))
	eq(t, "after restart", s2.notes(), before)
	// Reminders carry on from the stored times, and the fire alert's
	// auto-resolve deadline (10m, restored) passes first.
	s2.clock.Add(15 * time.Minute)
	s2.tick()
	s2.poll("GD-101", 10)
	got := s2.notes()[len(before):]
	eq(t, "reminders and resolution after restart", got, []string{"alert.resolved fire red", "alert.reminder high-high red", "alert.resolved high-high red"})
}

func TestEngineRuleChangedAcrossRestart(t *testing.T) {
	gas := func(hh float64, sev string) []RuleConfig {
		r := slices.Clone(testRules)
		r[0].Thresholds = []Threshold{{Level: "high", Above: f(25), Severity: "yellow"}, {Level: "high-high", Above: f(hh), Severity: sev}}
		return r
	}
	tests := []struct {
		name  string
		rules []RuleConfig
		ended bool
	}{
		{"rule removed", testRules[1:], true},
		{"level's limit changed", gas(60, "red"), true},
		{"level's severity changed", gas(50, "orange"), true},
		{"level removed", append([]RuleConfig{{Name: "combustible-gas", Match: testRules[0].Match,
			Thresholds: []Threshold{{Level: "high", Above: f(25), Severity: "yellow"}}}}, testRules[1:]...), true},
		{"rule now matches other points", append([]RuleConfig{{Name: "combustible-gas", Match: Match{Kind: "gas_detector", Point: "h2s"},
			Thresholds: testRules[0].Thresholds}}, testRules[1:]...), true},
		{"unchanged", testRules, false},
		{"other rules changed", gas(50, "red")[:1], false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "alerts.db")
			s := newSyncEngine(t, path, testRules, 0)
			s.poll("GD-101", 57)
			s.close()
			s2 := newSyncEngine(t, path, tc.rules, 0)
			if !tc.ended {
				eq(t, "notifications", s2.notes(), []string{"alert.firing high-high red"})
				return
			}
			eq(t, "notifications", s2.notes(), []string{"alert.firing high-high red", "alert.resolved high-high red"})
			var p struct{ Data Alert }
			_ = json.Unmarshal(s2.outbox()[1].Body, &p)
			if p.Data.Reason != ReasonRuleChanged || strings.Contains(p.Data.Message, "已恢复正常") || !strings.Contains(p.Data.Message, "规则") {
				t.Errorf("resolved %+v", p.Data)
			}
			pts := s2.points()
			last := pts[len(pts)-1]
			if !slices.ContainsFunc(last.Fields, func(f gateway.Field) bool { return f.Key == "reason" }) {
				t.Errorf("alert point %+v has no reason", last)
			}
		})
	}
}

func TestEngineAckAuditAndRetention(t *testing.T) {
	s := newSyncEngine(t, "", quietRules, 0)
	s.poll("GD-101", 30)
	list, _ := s.e.Alerts(false)
	id := list[0].ID
	if _, err := s.e.Ack(id, "  ", "x"); !errors.Is(err, ErrAckNeedsBy) {
		t.Fatalf("blank by: %v", err)
	}
	if _, err := s.e.Ack(id, "李四", "去现场"); err != nil {
		t.Fatal(err)
	}
	pts := s.points()
	ack := pts[len(pts)-1]
	fields := map[string]string{}
	for _, f := range ack.Fields {
		if f.Kind == gateway.KindString {
			fields[f.Key] = f.S
		}
	}
	if fields["status"] != "acknowledged" || fields["by"] != "李四" || fields["comment"] != "去现场" || fields["id"] != id {
		t.Errorf("ack point fields %v", fields)
	}
	s.poll("GD-101", 0) // acknowledged and cleared: ended
	s.clock.Add(DefaultRetention - time.Hour)
	s.tick()
	if all, _ := s.e.Alerts(true); len(all) != 1 {
		t.Fatalf("ended alert forgotten before the retention: %+v", all)
	}
	s.clock.Add(2 * time.Hour)
	s.tick()
	if all, _ := s.e.Alerts(true); len(all) != 0 {
		t.Fatalf("ended alert kept past the retention: %+v", all)
	}
	s.close()
	s2 := newSyncEngine(t, s.path, quietRules, 0)
	if all, _ := s2.e.Alerts(true); len(all) != 0 {
		t.Fatalf("ended alert still in the store past the retention: %+v", all)
	}
}

func TestObserveIgnoresOwnAlertPointsAndCopies(t *testing.T) {
	s := newSyncEngine(t, "", testRules, 0)
	pts := []gateway.Point{s.gas("GD-101", 30)}
	s.e.Observe(pts)
	pts[0].Fields[0].F = 0 // the pipeline's caller may reuse its points
	b := <-s.e.queue
	if b.s[0].v != 30 {
		t.Fatalf("sample not copied: %v", b.s[0].v)
	}
	s.e.evaluate(b)
	s.e.Observe([]gateway.Point{{Measurement: MeasurementAlert, Tags: []gateway.Tag{{Key: "device", Value: "GD-101"}},
		Fields: []gateway.Field{gateway.String("status", "firing")}, Time: t0}})
	select {
	case <-s.e.queue:
		t.Fatal("alert points observed")
	default:
	}
}

func TestRateRule(t *testing.T) {
	rules := []RuleConfig{
		{Name: "tank-level-rising", Match: Match{Kind: "tank", Point: "level_mm"}, Rate: &Rate{Above: f(30), Per: time.Minute, Severity: "orange"}},
		{Name: "tank-level-falling", Match: Match{Kind: "tank", Point: "level_mm"}, Rate: &Rate{Below: f(-30), Per: time.Minute, Severity: "red"}},
	}
	tank := func(s *syncEngine, v float64) {
		s.clock.Add(time.Second)
		s.feed(gateway.Point{Measurement: "tank", Tags: []gateway.Tag{{Key: "device", Value: "TK-1"}},
			Fields: []gateway.Field{gateway.Float("level_mm", v)}, Time: s.clock.Now()})
	}
	t.Run("a steady rise fires and resolves", func(t *testing.T) {
		s := newSyncEngine(t, "", rules, 0)
		level := 1000.0
		for i := range 150 {
			if i >= 30 && i < 90 {
				level += 2 // 2 mm/s: 120 mm/min
			}
			tank(s, level)
		}
		eq(t, "rate", s.notes(), []string{"alert.firing rate orange", "alert.resolved rate orange"})
	})
	t.Run("a leak (steady fall) fires the fall rule", func(t *testing.T) {
		s := newSyncEngine(t, "", rules, 0)
		level := 12000.0
		for i := range 100 {
			if i >= 40 {
				level -= 1.5 // 90 mm/min
			}
			tank(s, level)
		}
		eq(t, "fall", s.notes(), []string{"alert.firing fall red"})
		list, _ := s.e.Alerts(false)
		if len(list) != 1 || !strings.Contains(list[0].Message, "下降") {
			t.Errorf("fall alert %+v", list)
		}
	})
	t.Run("one zero reading on a still tank raises nothing", func(t *testing.T) {
		s := newSyncEngine(t, "", rules, 0)
		for i := range 120 {
			v := 12000.0
			if i == 60 {
				v = 0
			}
			tank(s, v)
		}
		eq(t, "outlier", s.notes(), nil)
	})
}

func nan() float64 { var z float64; return z / z }
func inf() float64 { var z float64; return 1 / z }
