package alerting

import (
	"encoding/json"
	"testing"
	"time"
)

// TestOutOfServiceListed: GET /api/v1/out-of-service lists the devices out
// of service, soonest back first, with who, since, until and why; moving
// until keeps since; a restart keeps all of it; back in service leaves the
// list.
func TestOutOfServiceListed(t *testing.T) {
	cfg := Config{Rules: testRules}
	s := newCfgEngine(t, "", cfg, 0)
	list := func(do func(method, path, body string) (int, string)) []DeviceService {
		t.Helper()
		code, body := do("GET", "/api/v1/out-of-service", "")
		var out []DeviceService
		if err := json.Unmarshal([]byte(body), &out); err != nil || code != 200 || out == nil {
			t.Fatalf("GET /api/v1/out-of-service: %d %s (%v)", code, body, err)
		}
		return out
	}
	if l := list(s.serveAPI()); len(l) != 0 {
		t.Fatalf("nothing out of service, listed %+v", l)
	}
	t1 := s.clock.Now()
	if _, err := s.e.SetOutOfService("GD-102", "张三", "更换探头", t1.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	s.clock.Add(time.Minute)
	t2 := s.clock.Now()
	if _, err := s.e.SetOutOfService("GD-101", "李四", "标定", t2.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	s.clock.Add(time.Minute)
	// Moved: until changes, since does not.
	if _, err := s.e.SetOutOfService("GD-101", "李四", "标定延长", t2.Add(90*time.Minute)); err != nil {
		t.Fatal(err)
	}
	check := func(what string, l []DeviceService) {
		t.Helper()
		type row struct {
			dev, label, by, reason string
			since, until           time.Time
		}
		want := []row{
			{"GD-101", "1号储罐区东侧可燃气体探测器", "李四", "标定延长", t2, t2.Add(90 * time.Minute)},
			{"GD-102", "", "张三", "更换探头", t1, t1.Add(2 * time.Hour)},
		}
		if len(l) != len(want) {
			t.Fatalf("%s: listed %+v", what, l)
		}
		for i, w := range want {
			g := l[i]
			if g.Device != w.dev || g.Label != w.label || !g.OutOfService || g.By != w.by || g.Reason != w.reason ||
				g.Since == nil || !g.Since.Equal(w.since) || g.Until == nil || !g.Until.Equal(w.until) {
				t.Errorf("%s: [%d] = %+v (since %v until %v), want %+v", what, i, g, g.Since, g.Until, w)
			}
		}
	}
	check("listed", list(s.serveAPI()))
	for _, a := range mustAlerts(t, s) {
		if a.Device == "GD-101" && (a.OutOfServiceSince == nil || !a.OutOfServiceSince.Equal(t2)) {
			t.Errorf("maintenance record of GD-101: out_of_service_since %v, want %v", a.OutOfServiceSince, t2)
		}
	}
	s = s.reopen(cfg, time.Minute)
	check("after a restart", list(s.serveAPI()))
	if _, err := s.e.BackInService("GD-101", "李四"); err != nil {
		t.Fatal(err)
	}
	if l := list(s.serveAPI()); len(l) != 1 || l[0].Device != "GD-102" {
		t.Errorf("after GD-101 back in service: %+v", l)
	}
}

func mustAlerts(t *testing.T, s *syncEngine) []Alert {
	t.Helper()
	l, err := s.e.Alerts(false)
	if err != nil {
		t.Fatal(err)
	}
	return l
}
