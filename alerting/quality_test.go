package alerting

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/gateway"
)

// mstatus is a device_status point as the Modbus source writes it.
func (s *syncEngine) mstatus(dev string, online bool, quality, reason, bad string, fault, maint bool) gateway.Point {
	p := s.status(dev, online)
	p.Fields = append(p.Fields, gateway.String("quality", quality), gateway.String("reason", reason))
	if bad != "" {
		p.Fields = append(p.Fields, gateway.String("bad_points", bad))
	}
	if online {
		p.Fields = append(p.Fields, gateway.Bool("fault", fault), gateway.Bool("maintenance", maint))
	}
	return p
}

// mpoll feeds one poll of GD-101 one second later as the Modbus source
// builds it: the status first, then the readings that are not bad.
func (s *syncEngine) mpoll(online bool, quality, reason string, ch4 *float64, fault, maint bool) {
	s.clock.Add(time.Second)
	bad := ""
	if reason == "nan" || reason == "out_of_range" {
		bad = "ch4=" + reason
	}
	pts := []gateway.Point{s.mstatus("GD-101", online, quality, reason, bad, fault, maint)}
	if online {
		fields := []gateway.Field{gateway.Bool("fault", fault), gateway.Bool("calibrating", maint)}
		if ch4 != nil {
			fields = append(fields, gateway.Float("ch4", *ch4))
		}
		pts = append(pts, gateway.Point{Measurement: "gas_detector",
			Tags:   []gateway.Tag{{Key: "site", Value: "qz"}, {Key: "device", Value: "GD-101"}},
			Fields: fields, Time: s.clock.Now()})
	}
	s.feed(pts...)
	s.feed(s.status("GD-102", true), s.gas("GD-102", 1)) // a healthy neighbour
}

func good(v float64) (string, string, *float64) { return "good", "", &v }

// messages lists the desk's notifications as "type level: message".
func (s *syncEngine) messages() []string {
	var out []string
	for _, m := range s.outbox() {
		var p payload
		if err := json.Unmarshal(m.Body, &p); err != nil {
			s.t.Fatal(err)
		}
		out = append(out, p.Type+" "+p.Data.Level+": "+p.Data.Message)
	}
	return out
}

func delayedRules(on time.Duration) []RuleConfig {
	rs := append([]RuleConfig(nil), testRules...)
	rs[0].OnDelay = on
	return rs
}

func TestEngineFlakyLinkDoesNotHideAlarm(t *testing.T) {
	// One poll in three fails (a noisy RS-485 bus) while the tank is at
	// high-high: failed polls must not restart on_delay.
	s := newSyncEngine(t, "", delayedRules(5*time.Second), 0)
	q, r, v := good(10)
	s.mpoll(true, q, r, v, false, false)
	first := time.Time{}
	for i := range 30 {
		if i%3 == 2 {
			s.mpoll(false, "bad", "no_reply", nil, false, false)
			continue
		}
		q, r, v := good(60)
		s.mpoll(true, q, r, v, false, false)
		if first.IsZero() {
			first = s.clock.Now()
		}
		if n := s.notes(); len(n) > 0 {
			if n[0] != "alert.firing high-high red" {
				t.Fatalf("notifications %q", n)
			}
			if late := s.clock.Now().Sub(first); late > 5*time.Second+2*time.Second {
				t.Fatalf("fired %v after the first breaching poll; want within on_delay + two intervals", late)
			}
			return
		}
	}
	t.Fatalf("no alarm after 30 polls at high-high with one in three failing: %q", s.notes())
}

func TestEngineFaultHoldsAlarm(t *testing.T) {
	s := newSyncEngine(t, "", testRules, 0)
	q, r, v := good(57)
	s.mpoll(true, q, r, v, false, false)
	eq(t, "firing", s.notes(), []string{"alert.firing high-high red"})
	// The detector faults and reads 0: the 0 is bad (not stored, not given).
	for range 10 {
		s.mpoll(true, "bad", "fault", nil, true, false)
		s.tick()
	}
	eq(t, "during the fault", s.notes(), []string{"alert.firing high-high red", "alert.firing fault red"})
	for _, m := range s.messages() {
		if strings.Contains(m, "恢复正常") {
			t.Fatalf("a fault announced a return to normal: %q", m)
		}
	}
	// The fault clears; the gas reading judges again.
	q, r, v = good(5)
	s.mpoll(true, q, r, v, false, false)
	eq(t, "after", s.notes()[2:], []string{"alert.resolved fault red", "alert.resolved high-high red"})
}

func TestEngineNaNRaisesBadValue(t *testing.T) {
	s := newSyncEngine(t, "", testRules, time.Minute)
	q, r, v := good(57)
	s.mpoll(true, q, r, v, false, false)
	for range 90 {
		s.mpoll(true, "bad", "nan", nil, false, false)
		s.tick()
	}
	msgs := s.messages()
	if len(msgs) < 3 || !strings.HasPrefix(msgs[1], "alert.firing bad_value: ") {
		t.Fatalf("no bad_value alarm after 90 s of NaN: %q", msgs)
	}
	if !strings.Contains(msgs[1], "读数无效") || !strings.Contains(msgs[1], "甲烷 读数无效（NaN）") {
		t.Errorf("bad_value message %q does not name the point and the cause", msgs[1])
	}
	var reminder string
	for _, m := range msgs {
		if strings.HasPrefix(m, "alert.reminder high-high") {
			reminder = m
		}
	}
	if !strings.Contains(reminder, "当前读数不可用") {
		t.Errorf("reminder %q quotes the last good value as if it were current", reminder)
	}
	var p payload
	for _, m := range s.outbox() {
		_ = json.Unmarshal(m.Body, &p)
		if p.Data.Level == "bad_value" {
			break
		}
	}
	if p.Data.Cause != "nan" || p.Data.Point != "online" {
		t.Errorf("bad_value alert %+v", p.Data)
	}
	// A good reading again: readings good, the gas alarm still judged.
	q, r, v = good(57)
	s.mpoll(true, q, r, v, false, false)
	last := s.notes()[len(s.notes())-1]
	if last != "alert.resolved bad_value orange" {
		t.Errorf("last notification %q", last)
	}
}

func TestEngineStaleCauseNamesFailure(t *testing.T) {
	s := newSyncEngine(t, "", testRules, 0)
	q, r, v := good(1)
	s.mpoll(true, q, r, v, false, false)
	for range 3 {
		s.mpoll(false, "bad", "exception", nil, false, false)
	}
	msgs := s.messages()
	if len(msgs) != 1 || !strings.Contains(msgs[0], "离线") || !strings.Contains(msgs[0], "设备返回异常码") {
		t.Fatalf("messages %q", msgs)
	}
}

func TestEngineMaintenanceSuppresses(t *testing.T) {
	s := newSyncEngine(t, "", testRules, time.Minute)
	q, r, v := good(10)
	s.mpoll(true, q, r, v, false, false)
	// Calibration: test gas at 60 %LEL, values uncertain but stored.
	for range 120 {
		v := 60.0
		s.mpoll(true, "uncertain", "maintenance", &v, false, true)
		s.tick()
	}
	eq(t, "during maintenance", s.notes(), []string{"alert.suppressed maintenance blue"})
	if m := s.messages()[0]; !strings.Contains(m, "1号储罐区东侧可燃气体探测器") || !strings.Contains(m, "维护") {
		t.Errorf("suppressed message %q", m)
	}
	// Maintenance ends with the gas still there: a new alarm within two polls.
	q, r, v = good(60)
	s.mpoll(true, q, r, v, false, false)
	q, r, v = good(60)
	s.mpoll(true, q, r, v, false, false)
	eq(t, "after", s.notes(), []string{"alert.suppressed maintenance blue", "alert.unsuppressed maintenance blue", "alert.firing high-high red"})
	list, err := s.e.Alerts(false)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range list {
		if a.Rule == MaintenanceRule {
			t.Errorf("maintenance record still open: %+v", a)
		}
	}
}

func TestEngineMaintenanceRejudgesOldAlarm(t *testing.T) {
	s := newSyncEngine(t, "", testRules, 0)
	q, r, v := good(57)
	s.mpoll(true, q, r, v, false, false)
	v2 := 57.0
	s.mpoll(true, "uncertain", "maintenance", &v2, false, true)
	// A fault during maintenance: held, not announced.
	s.mpoll(true, "bad", "fault", nil, true, true)
	q, r, v = good(57)
	s.mpoll(true, q, r, v, false, false)
	eq(t, "still there", s.notes(), []string{"alert.firing high-high red", "alert.suppressed maintenance blue",
		"alert.unsuppressed maintenance blue", "alert.resolved high-high red", "alert.firing high-high red"})
	msgs := s.messages()
	if !strings.Contains(msgs[3], "因设备维护而结束，并非恢复正常") {
		t.Errorf("the old occurrence's end %q must say why, not 'back to normal'", msgs[3])
	}
	// And one that is gone after maintenance resolves as usual.
	s2 := newSyncEngine(t, "", testRules, 0)
	q, r, v = good(57)
	s2.mpoll(true, q, r, v, false, false)
	s2.mpoll(true, "uncertain", "maintenance", &v2, false, true)
	q, r, v = good(3)
	s2.mpoll(true, q, r, v, false, false)
	eq(t, "gone", s2.notes(), []string{"alert.firing high-high red", "alert.suppressed maintenance blue",
		"alert.unsuppressed maintenance blue", "alert.resolved high-high red"})
	if m := s2.messages()[3]; !strings.Contains(m, "恢复正常") {
		t.Errorf("resolve after maintenance %q", m)
	}
}

func TestEngineMaintenanceAcrossRestart(t *testing.T) {
	s := newSyncEngine(t, "", testRules, 0)
	v := 60.0
	s.mpoll(true, "uncertain", "maintenance", &v, false, true)
	path := s.path
	s.close()
	s2 := newSyncEngine(t, path, testRules, 0)
	s2.clock.Set(s.clock.Now())
	s2.mpoll(true, "uncertain", "maintenance", &v, false, true)
	s2.mpoll(true, "uncertain", "maintenance", &v, false, true)
	eq(t, "after restart", s2.notes(), []string{"alert.suppressed maintenance blue"})
	q, r, g := good(1)
	s2.mpoll(true, q, r, g, false, false)
	eq(t, "ended", s2.notes(), []string{"alert.suppressed maintenance blue", "alert.unsuppressed maintenance blue"})
}

func TestEngineBrokerDownCause(t *testing.T) {
	rules := []RuleConfig{{Name: "camera-offline", Match: Match{Kind: "fire_detection"}, Stale: &Stale{After: StaleAfter{Duration: time.Minute}}}}
	s := newSyncEngine(t, "", rules, 0)
	s.feed(s.camera("CAM-01", "none", 0))
	down := gateway.Point{Measurement: gateway.MeasurementDeviceStatus,
		Tags:   []gateway.Tag{{Key: "site", Value: "qz"}, {Key: "device", Value: "CAM-01"}, {Key: "kind", Value: "fire_detection"}, {Key: "source", Value: "mqtt"}},
		Fields: []gateway.Field{gateway.String("quality", "bad"), gateway.String("reason", "broker_down")}, Time: s.clock.Now()}
	s.clock.Add(10 * time.Second)
	s.feed(down)
	for range 60 {
		s.clock.Add(time.Second)
		s.tick()
	}
	msgs := s.messages()
	if len(msgs) != 1 || !strings.Contains(msgs[0], "MQTT 服务器不可达") {
		t.Fatalf("messages %q", msgs)
	}
}

func TestEngineUntrackedDeviceEventStillAlarms(t *testing.T) {
	s := newSyncEngine(t, "", quietRules, 0)
	s.e.maxLearnt = 5
	for i := range 50 {
		s.feed(s.camera(fmt.Sprintf("BOGUS-%d", i), "none", 0.1))
	}
	s.feed(s.camera("CAM-NEW", "fire", 0.99))
	eq(t, "fire from an untracked camera", s.notes(), []string{"alert.firing fire red"})
	if n := len(s.e.devices); n > 5+len(testDevices) {
		t.Errorf("%d devices tracked, want at most the cap", n)
	}
	// Its alert resolves and its track goes, so untracked events cost nothing for good.
	s.clock.Add(11 * time.Minute)
	s.tick()
	eq(t, "resolved", s.notes()[1:], []string{"alert.resolved fire red"})
	if _, err := s.e.Ack(firstAlertID(t, s), "张三", ""); err != nil {
		t.Fatal(err)
	}
	for k := range s.e.tracks {
		if k.device == "CAM-NEW" {
			t.Errorf("track of an untracked device kept after its alert ended: %+v", k)
		}
	}
}

func firstAlertID(t testing.TB, s *syncEngine) string {
	t.Helper()
	var p payload
	if err := json.Unmarshal(s.outbox()[0].Body, &p); err != nil {
		t.Fatal(err)
	}
	return p.Data.ID
}

func TestEngineHeartbeatFault(t *testing.T) {
	rules := []RuleConfig{{Name: "camera-fault", Match: Match{Kind: "fire_detection", Point: "fault"},
		State: &StateCondition{Value: true, Level: "fault"}, Severity: "orange"},
		{Name: "forest-fire", Match: Match{Kind: "fire_detection"}, Event: &Event{Types: []string{"fire"}, MinConfidence: 0.7}}}
	s := newSyncEngine(t, "", rules, 0)
	hb := func(fault bool) gateway.Point {
		q, r := "good", ""
		if fault {
			q, r = "bad", "fault"
		}
		return gateway.Point{Measurement: gateway.MeasurementDeviceStatus,
			Tags:   []gateway.Tag{{Key: "site", Value: "qz"}, {Key: "device", Value: "CAM-01"}, {Key: "kind", Value: "fire_detection"}, {Key: "source", Value: "mqtt"}},
			Fields: []gateway.Field{gateway.Bool("online", true), gateway.String("quality", q), gateway.String("reason", r)},
			Time:   s.clock.Now()}
	}
	s.feed(hb(false))
	s.feed(hb(true))
	eq(t, "fault", s.notes(), []string{"alert.firing fault orange"})
	// A faulty camera's fire event is still judged: an event rule never drops one.
	s.feed(s.camera("CAM-01", "fire", 0.95))
	eq(t, "fire", s.notes()[1:], []string{"alert.firing fire red"})
	s.feed(hb(false))
	eq(t, "fault cleared", s.notes()[2:], []string{"alert.resolved fault orange"})
}
