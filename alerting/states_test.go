package alerting

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/gateway"
	"github.com/hazardgw/hazardgw/internal/testenv"
)

// newCfgEngine is newSyncEngine with a whole alerting Config (its Notify
// is one receiver "desk" with repeat).
func newCfgEngine(t testing.TB, path string, cfg Config, repeat time.Duration) *syncEngine {
	t.Helper()
	return openSync(t, path, testenv.NewClock(t0), cfg, Options{Site: "qz-petro-01", Devices: testDevices}, repeat)
}

// reopen closes the engine and opens its store again at the clock's time
// plus after, as a restart (also after kill -9: every action was
// committed before it returned) would.
func (s *syncEngine) reopen(cfg Config, after time.Duration) *syncEngine {
	s.t.Helper()
	now := s.clock.Now().Add(after)
	s.close()
	return openSync(s.t, s.path, testenv.NewClock(now), cfg, Options{Site: "qz-petro-01", Devices: testDevices}, 0)
}

// payloads lists the desk's notifications.
func (s *syncEngine) payloads() []payload {
	var out []payload
	for _, m := range s.outbox() {
		var p payload
		if err := json.Unmarshal(m.Body, &p); err != nil {
			s.t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// alertPoints lists the `alert` points as "status by comment".
func (s *syncEngine) alertPoints() []string {
	var out []string
	for _, p := range s.points() {
		st, _ := p.Field("status")
		line := st.S
		if by, ok := p.Field("by"); ok {
			c, _ := p.Field("comment")
			line += " " + by.S + " " + c.S
		}
		out = append(out, line)
	}
	return out
}

func (s *syncEngine) alert(id string) Alert {
	s.t.Helper()
	list, err := s.e.Alerts(true)
	if err != nil {
		s.t.Fatal(err)
	}
	for _, a := range list {
		if a.ID == id {
			return a
		}
	}
	s.t.Fatalf("alert %s not listed", id)
	return Alert{}
}

func lastType(s *syncEngine) string {
	n := s.notes()
	if len(n) == 0 {
		return ""
	}
	return n[len(n)-1]
}

func TestShelveHoldsNotificationsUntilExpiry(t *testing.T) {
	s := newCfgEngine(t, "", Config{Rules: quietRules}, 15*time.Minute)
	s.poll("GD-101", 57)
	id := firstAlertID(t, s)
	if _, err := s.e.Ack(id, "张三", "看到了"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		id, by string
		d      time.Duration
		want   error
	}{
		{id, "", time.Hour, ErrNeedsBy},
		{id, "  ", time.Hour, ErrNeedsBy},
		{id, "张三", 0, ErrShelveDuration},
		{id, "张三", DefaultMaxShelve + time.Second, ErrShelveDuration},
		{"nope", "张三", time.Hour, ErrUnknownAlert},
	} {
		if _, err := s.e.Shelve(tc.id, tc.by, "", tc.d); !errors.Is(err, tc.want) {
			t.Errorf("shelve %q by %q for %v: %v, want %v", tc.id, tc.by, tc.d, err, tc.want)
		}
	}
	a, err := s.e.Shelve(id, "张三", "探头标定中", 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if a.State != StateShelved || a.Lifecycle != StateActiveAcked || a.ShelvedBy != "张三" || a.ShelvedUntil == nil ||
		!a.ShelvedUntil.Equal(s.clock.Now().Add(2*time.Hour)) {
		t.Fatalf("shelved alert %+v", a)
	}
	eq(t, "shelved", s.notes(), []string{"alert.firing high-high red", "alert.acknowledged high-high red", "alert.shelved high-high red"})
	p := s.payloads()[2]
	if p.Data.State != StateShelved || p.Data.ShelvedUntil == nil || !strings.Contains(p.Data.Message, "已由 张三 搁置2小时：探头标定中") {
		t.Errorf("alert.shelved data %+v", p.Data)
	}
	// While shelved: swings, a resolve and reminders are not notified.
	for _, v := range []float64{30, 57, 30, 57} {
		s.poll("GD-101", v)
		s.clock.Add(20 * time.Minute)
		s.tick()
	}
	eq(t, "nothing while shelved", s.notes()[3:], nil)
	if got := s.alert(id); got.State != StateShelved || got.Level != "high-high" {
		t.Errorf("the API follows the shelved alert: %+v", got)
	}
	s.clock.Set(t0.Add(2*time.Hour + 2*time.Second))
	s.tick()
	eq(t, "expired", s.notes()[3:], []string{"alert.unshelved high-high red"})
	p = s.payloads()[3]
	if p.Data.State != StateActiveUnacked || p.Data.Acknowledged || !strings.Contains(p.Data.Message, "搁置时间已到") {
		t.Errorf("alert.unshelved data %+v: still active, so unacknowledged again", p.Data)
	}
	// Back on the desk: reminders again, and acknowledging works as before.
	s.clock.Add(16 * time.Minute)
	s.tick()
	eq(t, "reminder after unshelving", s.notes()[4:], []string{"alert.reminder high-high red"})
	s.tick()
	eq(t, "expiry only once", s.notes()[5:], nil)
	// Audit: the shelving and its end are on record with who and why.
	pts := s.alertPoints()
	if !slices.Contains(pts, "shelved 张三 探头标定中") || !slices.Contains(pts, "unshelved hazardgw shelving expired") {
		t.Errorf("alert points %q", pts)
	}
}

func TestShelveEndedAlertAndUnshelveEarly(t *testing.T) {
	s := newCfgEngine(t, "", Config{Rules: quietRules}, 0)
	s.poll("GD-101", 30)
	id := firstAlertID(t, s)
	s.poll("GD-101", 1)
	if _, err := s.e.Ack(id, "张三", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.e.Shelve(id, "张三", "", time.Hour); !errors.Is(err, ErrAlertEnded) {
		t.Fatalf("shelving an ended alert: %v, want ErrAlertEnded", err)
	}
	s.poll("GD-101", 30)
	id2 := s.payloads()[len(s.payloads())-1].Data.ID
	if _, err := s.e.Shelve(id2, "李四", "误报排查", time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := s.e.Unshelve(id2, ""); !errors.Is(err, ErrNeedsBy) {
		t.Errorf("unshelve without by: %v", err)
	}
	a, err := s.e.Unshelve(id2, "李四")
	if err != nil || a.State != StateActiveUnacked || a.ShelvedUntil != nil {
		t.Fatalf("unshelved early: %+v %v", a, err)
	}
	n := len(s.notes())
	if lastType(s) != "alert.unshelved high yellow" || !strings.Contains(s.payloads()[n-1].Data.Message, "已由 李四 取消搁置") {
		t.Fatalf("notes %q", s.notes())
	}
	if _, err := s.e.Unshelve(id2, "李四"); err != nil || len(s.notes()) != n {
		t.Errorf("unshelving twice: %v, %q", err, s.notes()[n:])
	}
	s.clock.Add(2 * time.Hour)
	s.tick()
	eq(t, "no expiry after an early end", s.notes()[n:], nil)
	if pts := s.alertPoints(); !slices.Contains(pts, "unshelved 李四 ") {
		t.Errorf("alert points %q", pts)
	}
}

func TestShelveExpiresAcrossRestart(t *testing.T) {
	cfg := Config{Rules: quietRules, MaxShelve: time.Hour}
	s := newCfgEngine(t, "", cfg, 0)
	s.poll("GD-101", 57)
	id := firstAlertID(t, s)
	if _, err := s.e.Shelve(id, "张三", "", 2*time.Hour); !errors.Is(err, ErrShelveDuration) {
		t.Errorf("shelving beyond max_shelve 1h: %v", err)
	}
	if _, err := s.e.Shelve(id, "张三", "夜班", 30*time.Minute); err != nil {
		t.Fatal(err)
	}
	// Restarted before the time is up: still shelved, nothing sent.
	s = s.reopen(cfg, 10*time.Minute)
	if a := s.alert(id); a.State != StateShelved {
		t.Fatalf("after restart %+v", a)
	}
	s.tick()
	eq(t, "still shelved", s.notes(), []string{"alert.firing high-high red", "alert.shelved high-high red"})
	// Down while it expired: unshelved at start, exactly once.
	s = s.reopen(cfg, time.Hour)
	eq(t, "expired while down", s.notes()[2:], []string{"alert.unshelved high-high red"})
	s.tick()
	s = s.reopen(cfg, time.Minute)
	s.tick()
	eq(t, "once", s.notes()[2:], []string{"alert.unshelved high-high red"})
	if a := s.alert(id); a.State != StateActiveUnacked {
		t.Errorf("after expiry %+v", a)
	}
}

func TestShelvedAlertThatEndsStillUnshelves(t *testing.T) {
	s := newCfgEngine(t, "", Config{Rules: quietRules}, 0)
	s.poll("GD-101", 30)
	id := firstAlertID(t, s)
	if _, err := s.e.Ack(id, "张三", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.e.Shelve(id, "张三", "", time.Hour); err != nil {
		t.Fatal(err)
	}
	s.poll("GD-101", 1) // acknowledged and cleared: the occurrence ends, quietly
	if a := s.alert(id); a.State != StateNormal {
		t.Fatalf("ended %+v", a)
	}
	s.clock.Add(time.Hour)
	s.tick()
	eq(t, "the desk learns the end at expiry", s.notes()[3:], []string{"alert.unshelved high yellow"})
	if p := s.payloads()[3]; p.Data.Status != StatusResolved || p.Data.State != StateNormal {
		t.Errorf("unshelved data %+v", p.Data)
	}
	if n := strings.Count(strings.Join(s.e.ended, ","), id); n != 1 {
		t.Errorf("ended listed %d times", n)
	}
}

func latchRules() []RuleConfig {
	rs := slices.Clone(quietRules)
	rs[0].Latch = true
	for i := range rs {
		if rs[i].Event != nil {
			rs[i].Close = CloseManual
		}
	}
	return rs
}

func TestLatchHoldsUntilReset(t *testing.T) {
	cfg := Config{Rules: latchRules()}
	s := newCfgEngine(t, "", cfg, 0)
	s.poll("GD-101", 57)
	id := firstAlertID(t, s)
	if _, err := s.e.Reset(id, "张三", ""); !errors.Is(err, ErrNotLatched) {
		t.Fatalf("reset while active: %v, want ErrNotLatched", err)
	}
	s.poll("GD-101", 3)
	eq(t, "latched", s.notes(), []string{"alert.firing high-high red", "alert.latched high-high red"})
	a := s.alert(id)
	if a.State != StateLatched || a.Lifecycle != StateActiveUnacked || a.Status != StatusFiring || !a.Latched {
		t.Fatalf("latched alert %+v", a)
	}
	if m := s.payloads()[1].Data.Message; !strings.Contains(m, "已锁存") || s.payloads()[1].Data.State != StateLatched {
		t.Errorf("latched message %q", m)
	}
	// The condition returns: the same occurrence carries on, no new one.
	s.poll("GD-101", 57)
	if a := s.alert(id); a.Latched || a.State != StateActiveUnacked {
		t.Errorf("back in alarm %+v", a)
	}
	s.poll("GD-101", 2)
	// Survives a restart.
	s = s.reopen(cfg, time.Minute)
	s.poll("GD-101", 2)
	if a := s.alert(id); a.State != StateLatched {
		t.Fatalf("after restart %+v", a)
	}
	if _, err := s.e.Reset(id, "", ""); !errors.Is(err, ErrNeedsBy) {
		t.Errorf("reset without by: %v", err)
	}
	a, err := s.e.Reset(id, "张三", "现场已确认")
	if err != nil || a.State != StateNormal || a.Reason != ReasonReset || a.ResetBy != "张三" || !a.Acknowledged {
		t.Fatalf("reset: %+v %v", a, err)
	}
	eq(t, "reset", s.notes()[2:], []string{"alert.latched high-high red", "alert.resolved high-high red"})
	if m := s.payloads()[3].Data.Message; !strings.Contains(m, "由 张三 复位") {
		t.Errorf("reset message %q", m)
	}
	if _, err := s.e.Reset(id, "张三", ""); !errors.Is(err, ErrAlertEnded) {
		t.Errorf("reset twice: %v", err)
	}
	if pts := s.alertPoints(); !slices.Contains(pts, "resolved 张三 现场已确认") {
		t.Errorf("alert points %q", pts)
	}
	s.poll("GD-101", 57)
	if n := s.notes(); n[len(n)-1] != "alert.firing high-high red" {
		t.Errorf("a new occurrence after the reset: %q", n)
	}
}

func TestCloseManualKeepsIncidentOpen(t *testing.T) {
	s := newCfgEngine(t, "", Config{Rules: latchRules()}, 0)
	s.feed(s.camera("CAM-07", "fire", 0.9))
	id := firstAlertID(t, s)
	s.clock.Add(11 * time.Minute)
	s.tick()
	s.tick()
	eq(t, "no auto-resolve", s.notes(), []string{"alert.firing fire red", "alert.latched fire red"})
	s.feed(s.camera("CAM-07", "fire", 0.95))
	if _, err := s.e.Reset(id, "张三", ""); !errors.Is(err, ErrNotLatched) {
		t.Fatalf("reset right after a new event: %v", err)
	}
	s.clock.Add(11 * time.Minute)
	s.tick()
	if _, err := s.e.Reset(id, "张三", "已扑灭"); err != nil {
		t.Fatal(err)
	}
	eq(t, "reset", s.notes(), []string{"alert.firing fire red", "alert.latched fire red", "alert.latched fire red", "alert.resolved fire red"})
}

func TestOutOfServiceSuppressesUntilDeleteOrExpiry(t *testing.T) {
	cfg := Config{Rules: testRules}
	s := newCfgEngine(t, "", cfg, time.Minute)
	q, r, v := good(10)
	s.mpoll(true, q, r, v, false, false)
	until := s.clock.Now().Add(time.Hour)
	for _, tc := range []struct {
		dev, by string
		until   time.Time
		want    error
	}{
		{"NOPE", "张三", until, ErrUnknownDevice},
		{"GD-101", "", until, ErrNeedsBy},
		{"GD-101", "张三", s.clock.Now().Add(-time.Second), ErrOutOfServiceUntil},
		{"GD-101", "张三", s.clock.Now().Add(MaxOutOfService + time.Hour), ErrOutOfServiceUntil},
		{gateway.GatewayDevice, "张三", until, ErrGatewayDevice},
	} {
		if _, err := s.e.SetOutOfService(tc.dev, tc.by, "", tc.until); !errors.Is(err, tc.want) {
			t.Errorf("out of service %s by %q until %v: %v, want %v", tc.dev, tc.by, tc.until, err, tc.want)
		}
	}
	st, err := s.e.SetOutOfService("GD-101", "张三", "更换探头", until)
	if err != nil || !st.OutOfService || st.By != "张三" || !st.Until.Equal(until) {
		t.Fatalf("out of service: %+v %v", st, err)
	}
	eq(t, "suppressed", s.notes(), []string{"alert.suppressed maintenance blue"})
	if !s.e.OutOfService("GD-101") || s.e.OutOfService("GD-102") {
		t.Errorf("OutOfService GD-101 %v, GD-102 %v", s.e.OutOfService("GD-101"), s.e.OutOfService("GD-102"))
	}
	if m := s.messages()[0]; !strings.Contains(m, "已由 张三 停用") || !strings.Contains(m, "更换探头") {
		t.Errorf("suppressed message %q", m)
	}
	// Test gas on the detector, its maintenance_point off: nothing.
	for range 60 {
		v := 60.0
		s.mpoll(true, "good", "", &v, false, false)
		s.tick()
	}
	eq(t, "while out of service", s.notes(), []string{"alert.suppressed maintenance blue"})
	list, _ := s.e.Alerts(false)
	if len(list) != 1 || list[0].Rule != MaintenanceRule || list[0].OutOfServiceUntil == nil || list[0].OutOfServiceBy != "张三" {
		t.Fatalf("alerts while out of service %+v", list)
	}
	// Back in service: judged afresh, the gas fires as a new alarm.
	if _, err := s.e.BackInService("GD-101", ""); !errors.Is(err, ErrNeedsBy) {
		t.Errorf("back in service without by: %v", err)
	}
	if st, err := s.e.BackInService("GD-101", "李四"); err != nil || st.OutOfService {
		t.Fatalf("back in service: %+v %v", st, err)
	}
	if s.e.OutOfService("GD-101") {
		t.Error("still out of service for the sources")
	}
	q, r, v = good(60)
	s.mpoll(true, q, r, v, false, false)
	s.mpoll(true, q, r, v, false, false)
	eq(t, "back", s.notes(), []string{"alert.suppressed maintenance blue", "alert.unsuppressed maintenance blue", "alert.firing high-high red"})
	if pts := s.alertPoints(); !slices.Contains(pts, "suppressed 张三 更换探头") || !slices.Contains(pts, "unsuppressed 李四 ") {
		t.Errorf("alert points %q", pts)
	}
	// Until: it ends by itself, also when the gateway was down then.
	if _, err := s.e.SetOutOfService("GD-102", "张三", "", s.clock.Now().Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	s.clock.Add(5 * time.Minute)
	s.tick()
	n := len(s.notes())
	if s2 := s.reopen(cfg, time.Minute); !s2.e.OutOfService("GD-102") {
		t.Error("out of service forgotten by a restart")
	} else {
		s = s2
	}
	s = s.reopen(cfg, 5*time.Minute)
	eq(t, "expired while down", s.notes()[n:], []string{"alert.unsuppressed maintenance blue"})
	if pts := s.alertPoints(); !slices.Contains(pts, "unsuppressed hazardgw out of service expired") {
		t.Errorf("alert points %q", pts)
	}
}

func TestOutOfServiceReadingsWithoutMaintenanceField(t *testing.T) {
	// A device with no maintenance_point reports quality uncertain, reason
	// maintenance, while it is out of service: that is the out-of-service
	// period itself, not a maintenance of its own that would outlast it.
	s := newCfgEngine(t, "", Config{Rules: testRules}, 0)
	st := func(reason string) gateway.Point {
		p := s.status("GD-102", true)
		q := "good"
		if reason != "" {
			q = "uncertain"
		}
		p.Fields = append(p.Fields, gateway.String("quality", q), gateway.String("reason", reason))
		return p
	}
	s.feed(st(""), s.gas("GD-102", 1))
	if _, err := s.e.SetOutOfService("GD-102", "张三", "", s.clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	s.clock.Add(time.Second)
	s.feed(st("maintenance"), s.gas("GD-102", 60))
	if _, err := s.e.BackInService("GD-102", "张三"); err != nil {
		t.Fatal(err)
	}
	eq(t, "back at once", s.notes(), []string{"alert.suppressed maintenance blue", "alert.unsuppressed maintenance blue"})
	// A poll made while it was still out of service is committed just after
	// it is back: its reason maintenance must not start a maintenance of
	// its own (seen through the binary: suppressed twice, unsuppressed twice).
	s.clock.Add(time.Second)
	s.feed(st("maintenance"), s.gas("GD-102", 60))
	s.clock.Add(time.Second)
	s.feed(st(""), s.gas("GD-102", 60))
	eq(t, "no second maintenance", s.notes(), []string{"alert.suppressed maintenance blue", "alert.unsuppressed maintenance blue", "alert.firing high-high red"})
}

func TestOutOfServiceDuringPointMaintenance(t *testing.T) {
	s := newCfgEngine(t, "", Config{Rules: testRules}, 0)
	v := 60.0
	s.mpoll(true, "uncertain", "maintenance", &v, false, true)
	if _, err := s.e.SetOutOfService("GD-101", "张三", "", s.clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	eq(t, "one suppression", s.notes(), []string{"alert.suppressed maintenance blue"})
	// The calibration ends; the device stays out of service.
	s.mpoll(true, "good", "", &v, false, false)
	s.mpoll(true, "good", "", &v, false, false)
	eq(t, "still out of service", s.notes(), []string{"alert.suppressed maintenance blue"})
	if _, err := s.e.BackInService("GD-101", "张三"); err != nil {
		t.Fatal(err)
	}
	s.mpoll(true, "good", "", &v, false, false)
	s.mpoll(true, "good", "", &v, false, false)
	eq(t, "back", s.notes(), []string{"alert.suppressed maintenance blue", "alert.unsuppressed maintenance blue", "alert.firing high-high red"})
}

// chatter feeds GD-101 swinging between hi and lo, one poll a second,
// each value held for hold polls, for d.
func (s *syncEngine) chatter(hi, lo float64, hold int, d time.Duration) {
	end := s.clock.Now().Add(d)
	for i := 0; s.clock.Now().Before(end); i++ {
		v := hi
		if (i/hold)%2 == 1 {
			v = lo
		}
		s.poll("GD-101", v)
		s.tick()
	}
}

func TestChatteringCollapsesAndReleases(t *testing.T) {
	for _, tc := range []struct {
		name      string
		last      float64
		wantFinal string
	}{
		{"ends normal", 20, "alert.resolved high yellow"},
		{"ends active", 27, "alert.firing high yellow"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newCfgEngine(t, "", Config{Rules: quietRules}, 0)
			// A detector chattering 27/20 %LEL for 10 minutes: without
			// chattering that is about 85 notifications.
			s.chatter(27, 20, 7, 10*time.Minute)
			notes := s.notes()
			if n := strings.Count(strings.Join(notes, ","), TypeChattering); n != 1 {
				t.Fatalf("%d alert.chattering: %q", n, notes)
			}
			if len(notes) > 5 {
				t.Fatalf("%d notifications in 10 minutes of chattering: %q", len(notes), notes)
			}
			chat := s.payloads()[len(notes)-1].Data
			if chat.State != StateChattering || !chat.Chattering || !strings.Contains(chat.Message, "报警抖动") {
				t.Errorf("alert.chattering data %+v", chat)
			}
			// Every transition is still on record.
			if pts := s.alertPoints(); len(pts) < 80 {
				t.Errorf("%d alert points: every transition must be written", len(pts))
			}
			list, _ := s.e.Alerts(false)
			if len(list) != 3 {
				t.Errorf("open alerts %d: two before chattering, one chattering", len(list))
			}
			// It settles.
			for range 30 {
				s.poll("GD-101", tc.last)
				s.tick()
			}
			eq(t, "not yet settled", s.notes()[len(notes):], nil)
			for range 40 {
				s.poll("GD-101", tc.last)
				s.tick()
			}
			eq(t, "settled", s.notes()[len(notes):], []string{tc.wantFinal})
			final := s.payloads()[len(notes)].Data
			if final.ID != chat.ID || final.Chattering {
				t.Errorf("the truth comes for the chattering occurrence: %+v", final)
			}
			s.tick()
			eq(t, "once", s.notes()[len(notes):], []string{tc.wantFinal})
		})
	}
}

func TestChatteringSendsNoReminders(t *testing.T) {
	s := newCfgEngine(t, "", Config{Rules: quietRules}, time.Minute)
	s.chatter(27, 20, 5, 40*time.Second)
	s.poll("GD-101", 27)
	n := len(s.notes())
	seq := s.e.alerts[s.payloads()[n-1].Data.ID].Seq
	for range 70 { // past the reminder interval, and settles at last
		s.poll("GD-101", 27)
		s.tick()
	}
	eq(t, "chattering, active, unacknowledged: no reminder until it settles", s.notes()[n:], []string{"alert.firing high yellow"})
	if got := s.e.alerts[s.payloads()[n].Data.ID].Seq; got > seq+2 {
		t.Errorf("notification numbers went from %d to %d: quiet reminders are being made", seq, got)
	}
	for range 61 {
		s.clock.Add(time.Second)
		s.tick()
	}
	eq(t, "then reminders as usual", s.notes()[n:], []string{"alert.firing high yellow", "alert.reminder high yellow"})
}

func TestChatteringStillNotifiesAWorseSeverity(t *testing.T) {
	s := newCfgEngine(t, "", Config{Rules: quietRules, Chatter: Chatter{Count: 2, Window: 30 * time.Second}}, 0)
	s.chatter(27, 20, 3, 20*time.Second)
	n := len(s.notes())
	if lastType(s) != "alert.chattering high yellow" {
		t.Fatalf("notes %q", s.notes())
	}
	s.poll("GD-101", 57)
	eq(t, "red while chattering", s.notes()[n:], []string{"alert.changed high-high red"})
	s.poll("GD-101", 27)
	s.poll("GD-101", 57)
	eq(t, "red again: nothing new", s.notes()[n:], []string{"alert.changed high-high red"})
}

func TestChatterPerRuleAndRestart(t *testing.T) {
	rules := slices.Clone(quietRules)
	rules[0].Chatter = &Chatter{Count: 5}
	cfg := Config{Rules: rules}
	s := newCfgEngine(t, "", cfg, 0)
	s.chatter(27, 20, 2, 15*time.Second) // 4 firings: below the rule's 5
	if strings.Contains(strings.Join(s.notes(), ","), TypeChattering) {
		t.Fatalf("chattering below the rule's count: %q", s.notes())
	}
	s.chatter(27, 20, 2, 10*time.Second)
	if !strings.Contains(strings.Join(s.notes(), ","), TypeChattering) {
		t.Fatalf("no chattering at the rule's count: %q", s.notes())
	}
	n := len(s.notes())
	s = s.reopen(cfg, 0)
	s.chatter(27, 20, 2, 20*time.Second)
	eq(t, "still chattering after a restart", s.notes()[n:], nil)
}

func TestOscillationDoesNotAskForAckEachSwing(t *testing.T) {
	s := newCfgEngine(t, "", Config{Rules: quietRules}, 0)
	s.poll("GD-101", 30)
	id := firstAlertID(t, s)
	s.poll("GD-101", 57)
	if _, err := s.e.Ack(id, "张三", ""); err != nil {
		t.Fatal(err)
	}
	for range 10 { // around high-high, beyond its deadband
		s.poll("GD-101", 45)
		s.poll("GD-101", 55)
	}
	a := s.alert(id)
	if a.State != StateActiveAcked || a.AckedSeverity != SeverityRed {
		t.Fatalf("after oscillating around high-high: %+v", a)
	}
	ps := s.payloads()
	if ps[2].Type != TypeAcknowledged {
		t.Fatalf("notifications %q", s.notes())
	}
	for _, p := range ps[3:] {
		if p.Type != TypeChanged || !p.Data.Acknowledged || p.Data.State != StateActiveAcked {
			t.Errorf("after the acknowledgement at red: %s %s acknowledged=%v", p.Type, p.Data.State, p.Data.Acknowledged)
		}
	}
	if len(ps) < 20 {
		t.Errorf("%d notifications: every swing is still a change the desk sees", len(ps))
	}
	s.poll("GD-101", 45)
	s.poll("GD-101", 1)
	a = s.alert(id)
	if a.PeakLevel != "high-high" || a.PeakSeverity != SeverityRed || a.Level != "high" || a.Status != StatusResolved {
		t.Errorf("resolved alert shows its peak: %+v", a)
	}
}

func TestAlarmFloodAlert(t *testing.T) {
	s := newCfgEngine(t, "", Config{Rules: quietRules}, 0)
	fire := func(n int) {
		for i := range n {
			s.clock.Add(10 * time.Second)
			s.feed(s.gas(fmt.Sprintf("GD-F%02d", i), 60))
		}
	}
	floods := func() []string {
		var out []string
		for _, p := range s.payloads() {
			if p.Data.Rule == AlarmFloodRule {
				out = append(out, p.Type+" "+fmtNum(p.Data.Value))
			}
		}
		return out
	}
	fire(10)
	if st := s.e.Stats(); st.AlarmRate10m != 10 {
		t.Fatalf("rate %d", st.AlarmRate10m)
	}
	eq(t, "10 alarms in 10 minutes: no flood", floods(), nil)
	s.clock.Add(10 * time.Second)
	s.feed(s.gas("GD-F99", 60))
	eq(t, "the 11th", floods(), []string{"alert.firing 11"})
	a, ok := func() (Alert, bool) {
		list, _ := s.e.Alerts(false)
		for _, a := range list {
			if a.Rule == AlarmFloodRule {
				return a, true
			}
		}
		return Alert{}, false
	}()
	if !ok || a.Device != gateway.GatewayDevice || a.Severity != SeverityOrange || !strings.Contains(a.Message, "告警泛滥") {
		t.Errorf("flood alert %+v", a)
	}
	// The window slides: at 8 still flooding (hysteresis), at 7 it resolves.
	s.clock.Set(t0.Add(10*time.Minute + 35*time.Second))
	s.tick()
	if st := s.e.Stats(); st.AlarmRate10m != 8 {
		t.Fatalf("rate %d", st.AlarmRate10m)
	}
	eq(t, "8", floods(), []string{"alert.firing 11"})
	s.clock.Add(10 * time.Second)
	s.tick()
	eq(t, "7", floods(), []string{"alert.firing 11", "alert.resolved 7"})
}

func TestAlarmRateAcrossRestart(t *testing.T) {
	s := newCfgEngine(t, "", Config{Rules: quietRules}, 0)
	for i := range 6 {
		s.clock.Add(10 * time.Second)
		s.feed(s.gas(fmt.Sprintf("GD-F%02d", i), 60))
	}
	s = s.reopen(Config{Rules: quietRules}, time.Minute)
	if st := s.e.Stats(); st.AlarmRate10m != 6 {
		t.Errorf("rate after restart %d, want 6", st.AlarmRate10m)
	}
}

func TestStatesShownInAPIAndNotifications(t *testing.T) {
	rules := latchRules()
	s := newCfgEngine(t, "", Config{Rules: rules}, 0)
	s.poll("GD-101", 57)
	s.poll("GD-102", 57)
	a1 := s.payloads()[0].Data.ID
	a2 := s.payloads()[1].Data.ID
	if _, err := s.e.Shelve(a1, "张三", "", time.Hour); err != nil {
		t.Fatal(err)
	}
	s.poll("GD-102", 1)
	states := map[string]State{}
	list, _ := s.e.Alerts(false)
	for _, a := range list {
		states[a.ID] = a.State
	}
	if states[a1] != StateShelved || states[a2] != StateLatched {
		t.Errorf("states %v", states)
	}
	if _, err := s.e.SetOutOfService("GD-102", "张三", "", s.clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if a := s.alert(a2); a.State != StateSuppressed || !a.Suppressed || a.Lifecycle != StateActiveUnacked {
		t.Errorf("suppressed %+v", a)
	}
	if _, err := s.e.Ack(a2, "张三", ""); err != nil {
		t.Fatal(err)
	}
	if p := s.payloads()[len(s.payloads())-1]; p.Type != TypeAcknowledged || p.Data.State != StateSuppressed || p.Data.Lifecycle != StateActiveAcked {
		t.Errorf("data.state of an acknowledgement while suppressed: %+v", p.Data)
	}
}

func TestStatesAPI(t *testing.T) {
	s := newCfgEngine(t, "", Config{Rules: latchRules(), MaxShelve: 2 * time.Hour}, 0)
	do := s.serveAPI()
	s.poll("GD-101", 57)
	s.poll("GD-102", 30)
	id := s.payloads()[0].Data.ID
	id2 := s.payloads()[1].Data.ID
	s.poll("GD-102", 1)
	if _, err := s.e.Ack(id2, "张三", ""); err != nil {
		t.Fatal(err)
	}
	// GD-102's alert is latched (acknowledged): reset ends it, and then
	// it is an ended alert.
	until := s.clock.Now().Add(time.Hour).Format(time.RFC3339)
	for _, tc := range []struct {
		method, path, body string
		code               int
	}{
		{"POST", "/api/v1/alerts/" + id + "/shelve", `{"reason":"x","for":"1h"}`, 400},
		{"POST", "/api/v1/alerts/" + id + "/shelve", `{"by":"张三","for":"3h"}`, 400}, // above max_shelve
		{"POST", "/api/v1/alerts/" + id + "/shelve", `{"by":"张三","for":"soon"}`, 400},
		{"POST", "/api/v1/alerts/" + id + "/shelve", `{"by":"张三","for":"-1h"}`, 400},
		{"POST", "/api/v1/alerts/" + id + "/shelve", `{"by":"张三","bogus":1}`, 400},
		{"POST", "/api/v1/alerts/nope/shelve", `{"by":"张三","for":"1h"}`, 404},
		{"POST", "/api/v1/alerts/" + id + "/reset", `{"by":"张三"}`, 409}, // still active
		{"POST", "/api/v1/alerts/" + id2 + "/reset", `{}`, 400},
		{"POST", "/api/v1/alerts/" + id2 + "/reset", `{"by":"张三","comment":"ok"}`, 200},
		{"POST", "/api/v1/alerts/" + id2 + "/reset", `{"by":"张三"}`, 409},             // ended
		{"POST", "/api/v1/alerts/" + id2 + "/shelve", `{"by":"张三","for":"1h"}`, 409}, // ended
		{"POST", "/api/v1/alerts/" + id + "/shelve", `{"by":"张三","reason":"标定","for":"3s"}`, 200},
		{"POST", "/api/v1/alerts/" + id + "/unshelve", ``, 400},
		{"POST", "/api/v1/alerts/" + id + "/unshelve", `{"by":"张三"}`, 200},
		{"POST", "/api/v1/alerts/" + id + "/unshelve", `{"by":"张三"}`, 200}, // idempotent
		{"POST", "/api/v1/alerts/" + id + "/shelve", `{"by":"张三"}`, 200},   // for: max_shelve
		{"POST", "/api/v1/devices/NOPE/out-of-service", `{"by":"张三","until":"` + until + `"}`, 404},
		{"POST", "/api/v1/devices/GD-101/out-of-service", `{"until":"` + until + `"}`, 400},
		{"POST", "/api/v1/devices/GD-101/out-of-service", `{"by":"张三","until":"tomorrow"}`, 400},
		{"POST", "/api/v1/devices/GD-101/out-of-service", `{"by":"张三","until":"2020-01-01T00:00:00Z"}`, 400},
		{"POST", "/api/v1/devices/gateway/out-of-service", `{"by":"张三","until":"` + until + `"}`, 400},
		{"POST", "/api/v1/devices/GD-101/out-of-service", `{"by":"张三","reason":"更换","until":"` + until + `"}`, 200},
		{"DELETE", "/api/v1/devices/NOPE/out-of-service", `{"by":"张三"}`, 404},
		{"DELETE", "/api/v1/devices/GD-101/out-of-service", ``, 400},
		{"DELETE", "/api/v1/devices/GD-101/out-of-service?by=李四", ``, 200},
		{"POST", "/api/v1/devices/GD-102/out-of-service", `{"by":"张三"}`, 200}, // until: max_shelve
		{"DELETE", "/api/v1/devices/GD-102/out-of-service", `{"by":"张三"}`, 200},
	} {
		if code, body := do(tc.method, tc.path, tc.body); code != tc.code {
			t.Errorf("%s %s %s: %d %s, want %d", tc.method, tc.path, tc.body, code, body, tc.code)
		}
	}
	code, body := do("GET", "/api/v1/alerts", "")
	var list []Alert
	if err := json.Unmarshal([]byte(body), &list); err != nil || code != 200 {
		t.Fatalf("list: %d %s", code, body)
	}
	if len(list) != 1 || list[0].ID != id || list[0].State != StateShelved || list[0].ShelvedBy != "张三" ||
		!list[0].ShelvedUntil.Equal(s.clock.Now().Add(2*time.Hour)) {
		t.Errorf("list %s", body)
	}
	if !strings.Contains(body, `"state":"shelved"`) || !strings.Contains(body, `"lifecycle":"active-unacknowledged"`) {
		t.Errorf("JSON %s", body)
	}
}

func TestChatterDue(t *testing.T) {
	c := Chatter{Count: 3, Window: time.Minute}
	tests := []struct {
		name  string
		fires []time.Duration // earlier firings, before now (t0 + 10 min)
		want  bool
		kept  int
	}{
		{"first firing", nil, false, 1},
		{"second", []time.Duration{-10 * time.Second}, false, 2},
		{"third within the window", []time.Duration{-50 * time.Second, -10 * time.Second}, true, 0},
		{"third, the first just outside", []time.Duration{-time.Minute, -10 * time.Second}, false, 2},
		{"old ones forgotten", []time.Duration{-time.Hour, -2 * time.Minute}, false, 1},
	}
	now := t0.Add(10 * time.Minute)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var fires []time.Time
			for _, d := range tc.fires {
				fires = append(fires, now.Add(d))
			}
			kept, got := chatterDue(fires, now, c)
			if got != tc.want || len(kept) != tc.kept {
				t.Errorf("chattering %v with %d kept, want %v with %d", got, len(kept), tc.want, tc.kept)
			}
		})
	}
}
