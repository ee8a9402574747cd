package e2e

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/simulators/dutydesk"
	"github.com/hazardgw/hazardgw/simulators/modbussim"
)

// setBits writes detector unit's fault (bit 0) and calibration (bit 1) switches.
func (s *alertSite) setBits(unit int, fault, calibrating bool) {
	s.t.Helper()
	var w uint16
	if fault {
		w |= 1
	}
	if calibrating {
		w |= 2
	}
	if err := s.sim.Unit(uint8(unit)).SetRegisters(modbussim.Holding, 2, w); err != nil {
		s.t.Fatal(err)
	}
}

// messagesOf lists the desk's messages for one device and rule.
func (s *alertSite) messagesOf(device, rule string) []string {
	var out []string
	for _, d := range s.desk.Deliveries() {
		if d.Alert.Device == device && d.Alert.Rule == rule {
			out = append(out, d.Type+": "+d.Alert.Message)
		}
	}
	return out
}

// TestQualityMaintenanceSuppresses: while the calibration switch is on,
// test gas at 60 %LEL raises nothing and the desk gets one alert.suppressed;
// when it goes off with the gas still there, the alarm fires.
func TestQualityMaintenanceSuppresses(t *testing.T) {
	s := newAlertSite(t, siteOpts{devices: 1, interval: 300 * time.Millisecond, quality: true})
	s.set(1, 5)
	s.start()
	time.Sleep(time.Second) // a few good polls first
	s.setBits(1, false, true)
	s.waitDesk(30*time.Second, "suppressed", has("GD-101", "gateway:maintenance", "alert.suppressed"))
	s.set(1, 60) // calibration gas
	// Twenty polls under maintenance: the readings are stored (uncertain),
	// but judge no alarm.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		res, err := s.influx.Query("hazard", `SELECT count(ch4) FROM gas_detector WHERE ch4 = 60`)
		if err == nil && len(res.Series) > 0 && res.Series[0].Values[0][1].(float64) >= 20 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("uncertain readings not stored: %v %+v", err, res)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got := s.history("GD-101", "combustible-gas", true); len(got) != 0 {
		t.Fatalf("alarm under maintenance: %q", got)
	}
	s.setBits(1, false, false)
	s.waitDesk(30*time.Second, "fires after maintenance", func(ds []dutydesk.Delivery) bool {
		return has("GD-101", "combustible-gas", "alert.firing")(ds) && has("GD-101", "gateway:maintenance", "alert.unsuppressed")(ds)
	})
	// Occurrences are delivered independently (the red firing may overtake
	// the blue unsuppressed); each one's notifications in order.
	var order []string
	ts := map[string]int64{}
	for _, d := range s.desk.Deliveries() {
		order = append(order, d.Type+" "+d.Alert.Rule)
		ts[d.Type] = d.Timestamp
	}
	want := []string{"alert.suppressed gateway:maintenance", "alert.unsuppressed gateway:maintenance", "alert.firing combustible-gas"}
	if len(order) != 3 || order[0] != want[0] || !slices.Contains(order, want[1]) || !slices.Contains(order, want[2]) {
		t.Fatalf("deliveries %q, want %q", order, want)
	}
	// Fired within two intervals of the end: the desk saw unsuppressed
	// and firing from consecutive polls (the gateway's own timestamps).
	if gap := time.Duration(ts["alert.firing"]-ts["alert.unsuppressed"]) * time.Second; gap > 2*time.Second || gap < -2*time.Second {
		t.Errorf("firing %v after maintenance ended", gap)
	}
	if m := s.messagesOf("GD-101", "gateway:maintenance"); len(m) != 2 || !strings.Contains(m[0], "维护") {
		t.Errorf("maintenance messages %q", m)
	}
}

// TestQualityFlakyLinkFaultAndNaN: one poll in three fails while the tank
// is at high-high with on_delay; the alarm still fires. Then a fault with
// 0 %LEL never announces a return to normal, and NaN raises bad_value.
func TestQualityFlakyLinkFaultAndNaN(t *testing.T) {
	iv := 300 * time.Millisecond
	s := newAlertSite(t, siteOpts{devices: 1, interval: iv, quality: true, onDelay: 2 * time.Second})
	s.set(1, 60)
	// Every third interval the detector does not answer.
	ctx, stop := context.WithCancel(context.Background())
	flaky := make(chan struct{})
	go func() {
		defer close(flaky)
		for i := 0; ctx.Err() == nil; i++ {
			f := modbussim.Fault{}
			if i%3 == 2 {
				f = modbussim.Fault{Mode: modbussim.NoReply}
			}
			_ = s.sim.Unit(1).SetFault(f)
			select {
			case <-ctx.Done():
			case <-time.After(iv):
			}
		}
		_ = s.sim.Unit(1).SetFault(modbussim.Fault{})
	}()
	s.start()
	s.waitDesk(60*time.Second, "high-high despite the flaky link", has("GD-101", "combustible-gas", "alert.firing"))
	stop()
	<-flaky
	if got := s.history("GD-101", "combustible-gas", false); len(got) != 1 || got[0] != "alert.firing high-high red" {
		t.Fatalf("gas alarm: %q", got)
	}

	// The detector faults and reads 0: the fault fires, the gas alarm holds.
	s.set(1, 0)
	s.setBits(1, true, false)
	s.waitDesk(30*time.Second, "fault alarm", has("GD-101", "detector-fault", "alert.firing"))
	time.Sleep(10 * iv)
	if got := s.history("GD-101", "combustible-gas", false); len(got) != 1 {
		t.Fatalf("the fault changed the gas alarm: %q", got)
	}
	res, err := s.influx.Query("hazard", `SELECT count(ch4) FROM gas_detector WHERE ch4 = 0`)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Series) > 0 {
		t.Errorf("readings taken during the fault were stored: %+v", res.Series)
	}

	// NaN for a while: stale bad_value, the message names the point.
	if err := s.sim.Unit(1).SetRegisters(modbussim.Holding, 0, 0x7FC0, 0); err != nil {
		t.Fatal(err)
	}
	s.setBits(1, false, false)
	s.waitDesk(30*time.Second, "bad_value", func(ds []dutydesk.Delivery) bool {
		return slices.ContainsFunc(ds, func(d dutydesk.Delivery) bool {
			return d.Alert.Rule == "device-offline" && d.Alert.Level == "bad_value" && d.Type == "alert.firing"
		})
	})
	msgs := s.messagesOf("GD-101", "device-offline")
	if !strings.Contains(msgs[0], "甲烷 读数无效（NaN）") {
		t.Errorf("bad_value message %q", msgs[0])
	}
	if got := s.history("GD-101", "combustible-gas", false); len(got) != 1 {
		t.Fatalf("NaN changed the gas alarm: %q", got)
	}
	// Good again, below the limit: everything clears, the gas alarm as a
	// real return to normal.
	s.set(1, 3)
	s.waitDesk(30*time.Second, "gas resolved", has("GD-101", "combustible-gas", "alert.resolved"))
	for _, m := range s.messagesOf("GD-101", "combustible-gas") {
		if strings.HasPrefix(m, "alert.resolved") && !strings.Contains(m, "当前 3 %LEL") {
			t.Errorf("resolve %q", m)
		}
	}
	res, err = s.influx.Query("hazard", `SELECT count(ch4) FROM gas_detector`)
	if err != nil || len(res.Series) == 0 {
		t.Fatalf("no readings: %v", err)
	}
	for _, v := range res.Series[0].Values {
		if f, ok := v[1].(float64); !ok || math.IsNaN(f) {
			t.Errorf("row %v", v)
		}
	}
}
