package alerting

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/internal/testenv"
)

// TestEngineDeviceRemovedAcrossRestart: a configuration without a device
// ends that device's active alerts with rule_changed, since nothing will
// ever clear them; a device learnt from traffic (a camera) is not in any
// configuration and keeps its alert; an untouched configured device keeps
// its alert too. The ended alert stays listed until acknowledged.
func TestEngineDeviceRemovedAcrossRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.db")
	s := newSyncEngine(t, path, testRules, 0)
	s.poll("GD-101", 57)
	s.poll("GD-102", 30)
	s.feed(s.camera("CAM-07", "fire", 0.9))
	before := len(s.notes())
	s.close()

	clock := testenv.NewClock(s.clock.Now().Add(time.Second))
	s2 := openSync(t, path, clock, Config{Rules: testRules}, Options{Site: "qz-petro-01", Devices: testDevices[1:]}, 0)
	got := s2.notes()[before:]
	eq(t, "after GD-101 was removed", got, []string{"alert.resolved high-high red"})
	var p struct{ Data Alert }
	out := s2.outbox()
	if err := json.Unmarshal(out[len(out)-1].Body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Data.Device != "GD-101" || p.Data.Reason != ReasonRuleChanged {
		t.Errorf("ended %s with reason %q, want GD-101 with %q", p.Data.Device, p.Data.Reason, ReasonRuleChanged)
	}
	active, _ := s2.e.Alerts(false)
	var devs []string
	for _, a := range active {
		devs = append(devs, a.Device+" "+a.Status)
	}
	slices.Sort(devs)
	eq(t, "still active", devs, []string{"CAM-07 firing", "GD-101 resolved", "GD-102 firing"})
}

// TestEngineMaintenanceOfRemovedDevice: a configuration without a device
// that was under maintenance ends its maintenance record
// (alert.unsuppressed) instead of showing it suppressed for ever.
func TestEngineMaintenanceOfRemovedDevice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.db")
	s := newSyncEngine(t, path, testRules, 0)
	v := 10.0
	s.mpoll(true, "uncertain", "maintenance", &v, false, true)
	eq(t, "calibrating", s.notes(), []string{"alert.suppressed maintenance blue"})
	s.close()

	clock := testenv.NewClock(s.clock.Now().Add(time.Second))
	s2 := openSync(t, path, clock, Config{Rules: testRules}, Options{Site: "qz-petro-01", Devices: testDevices[1:]}, 0)
	eq(t, "after GD-101 was removed", s2.notes(), []string{"alert.suppressed maintenance blue", "alert.unsuppressed maintenance blue"})
	if open, _ := s2.e.Alerts(false); len(open) != 0 {
		t.Errorf("still open: %+v", open)
	}
	s2.close()
	s3 := newSyncEngine(t, path, testRules, 0) // GD-101 is back, not in maintenance
	if open, _ := s3.e.Alerts(false); len(open) != 0 {
		t.Errorf("open after GD-101 came back: %+v", open)
	}
}
