package alerting

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/gateway"
)

// TestDecommissionLearntDevice: a camera learnt from traffic goes silent
// and its offline alarm fires; decommissioned by an engineer, the alarm
// ends with reason decommissioned (the message names who and says it is
// not back to normal), the source is told to forget it, the offline
// point the source committed just before is ignored, and it never fires
// again. Configured, unknown and unnamed requests are refused, through
// the API too.
func TestDecommissionLearntDevice(t *testing.T) {
	rules := append(slices.Clone(quietRules),
		RuleConfig{Name: "camera-offline", Match: Match{Kind: "fire_detection"}, Stale: &Stale{After: StaleAfter{Duration: time.Minute}}, Severity: "orange"})
	s := newSyncEngine(t, "", rules, 0)
	var forgot []string
	forgetErr := error(nil)
	s.e.SetForget(func(id string) error {
		forgot = append(forgot, id)
		return forgetErr
	})
	offline := func(at time.Time) gateway.Point {
		return gateway.Point{Measurement: gateway.MeasurementDeviceStatus,
			Tags:   []gateway.Tag{{Key: "site", Value: "qz"}, {Key: "device", Value: "CAM-09"}, {Key: "kind", Value: "fire_detection"}, {Key: "source", Value: "mqtt"}},
			Fields: []gateway.Field{gateway.Bool("online", false), gateway.String("quality", "bad"), gateway.String("reason", "offline")}, Time: at}
	}
	s.feed(s.camera("CAM-09", "none", 0.1))
	for range 70 {
		s.clock.Add(time.Second)
		s.tick()
	}
	s.feed(offline(s.clock.Now()))
	eq(t, "offline", s.notes(), []string{"alert.firing offline orange"})
	lateOffline := offline(s.clock.Now())

	do := s.serveAPI()
	for _, tc := range []struct {
		path, body string
		code       int
	}{
		{"/api/v1/devices/CAM-09", `{"reason":"拆除"}`, 400},           // no by
		{"/api/v1/devices/GD-101", `{"by":"王工","reason":"拆除"}`, 409}, // configured
		{"/api/v1/devices/gateway", `{"by":"王工"}`, 400},              // the gateway itself
		{"/api/v1/devices/CAM-09", `{"by":"王工","bogus":true}`, 400},  // unknown field
		{"/api/v1/devices/NOPE-1", `{"by":"王工","reason":"拆除"}`, 404}, // unknown (forget says so below)
	} {
		forgetErr = nil
		if strings.Contains(tc.path, "NOPE") {
			forgetErr = ErrUnknownDevice
		}
		if code, body := do("DELETE", tc.path, tc.body); code != tc.code {
			t.Errorf("DELETE %s %s: %d %s, want %d", tc.path, tc.body, code, body, tc.code)
		}
	}
	if !slices.Equal(forgot, []string{"NOPE-1"}) {
		t.Errorf("forget called for %q, want only NOPE-1 (the others are refused first)", forgot)
	}
	// The source's own failure stops the decommissioning.
	forgetErr = errors.New("disk on fire")
	if _, err := s.e.Decommission("CAM-09", "王工", "拆除"); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("decommission with the source failing: %v", err)
	}
	eq(t, "nothing ended by a failed decommissioning", s.notes(), []string{"alert.firing offline orange"})

	forgetErr = nil
	s.clock.Add(time.Second)
	code, body := do("DELETE", "/api/v1/devices/CAM-09", `{"by":"王工","reason":"摄像机已拆除"}`)
	if code != 200 || !strings.Contains(body, `"by":"王工"`) || !strings.Contains(body, `"reason":"摄像机已拆除"`) || !strings.Contains(body, `"ended":["`) {
		t.Fatalf("decommission: %d %s", code, body)
	}
	if forgot[len(forgot)-1] != "CAM-09" {
		t.Errorf("the source was not told to forget CAM-09: %q", forgot)
	}
	eq(t, "ended", s.notes(), []string{"alert.firing offline orange", "alert.resolved offline orange"})
	ps := s.payloads()
	if p := ps[len(ps)-1]; p.Data.Reason != ReasonDecommissioned || !strings.Contains(p.Data.Message, "已由 王工 拆除退役") ||
		strings.Contains(p.Data.Message, "恢复正常，") {
		t.Errorf("resolved: reason %q message %q", p.Data.Reason, p.Data.Message)
	}
	if pts := s.alertPoints(); !slices.Contains(pts, "resolved 王工 摄像机已拆除") {
		t.Errorf("alert points %q: want the resolution with by and reason", pts)
	}
	// The offline point the source committed just before it forgot the
	// device, and a long silence afterwards: nothing.
	s.feed(lateOffline)
	for range 180 {
		s.clock.Add(time.Second)
		s.tick()
	}
	eq(t, "never again", s.notes(), []string{"alert.firing offline orange", "alert.resolved offline orange"})
	if _, ok := s.e.devices["CAM-09"]; ok {
		t.Error("the engine still tracks CAM-09")
	}
	// It speaks again: learnt afresh, like any new device.
	s.feed(s.camera("CAM-09", "none", 0.1))
	if _, ok := s.e.devices["CAM-09"]; !ok {
		t.Error("CAM-09 not learnt again after speaking")
	}
}

// TestDecommissionEndsOutOfService: a learnt device out of service is
// unsuppressed and listed no more.
func TestDecommissionEndsOutOfService(t *testing.T) {
	s := newSyncEngine(t, "", quietRules, 0)
	s.feed(s.camera("CAM-09", "none", 0.1))
	if _, err := s.e.SetOutOfService("CAM-09", "张三", "清洁", s.clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.e.Decommission("CAM-09", "王工", "拆除"); err != nil {
		t.Fatal(err)
	}
	eq(t, "notes", s.notes(), []string{"alert.suppressed maintenance blue", "alert.unsuppressed maintenance blue"})
	if s.e.OutOfService("CAM-09") {
		t.Error("still out of service for the sources")
	}
	if l, _ := s.e.OutOfServiceDevices(); len(l) != 0 {
		t.Errorf("still listed out of service: %+v", l)
	}
}
