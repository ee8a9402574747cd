package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/internal/testenv"
)

// TestShelveSurvivesKill9, through the real binary: an alarm shelved for
// 3 s through the API is acknowledged to the desk (alert.shelved), the
// gateway is killed with SIGKILL right after and started again, and the
// desk gets alert.unshelved exactly once when the time is up — the alarm
// still active and unacknowledged again. The shelving is on record in
// InfluxDB with who and why.
func TestShelveSurvivesKill9(t *testing.T) {
	s := newAlertSite(t, siteOpts{devices: 1, interval: 200 * time.Millisecond})
	g := s.start()
	const dev, rule = "GD-101", "combustible-gas"

	s.set(1, 57)
	s.waitDesk(30*time.Second, "the alarm fires", count(dev, rule, "alert.firing", 1))
	_, data := s.deliveries(dev, rule)
	id := data[0].ID

	if code, resp := s.call("POST", "/api/v1/alerts/"+id+"/shelve", "test-token", `{"reason":"x","for":"3s"}`); code != http.StatusBadRequest {
		t.Errorf("shelve without by: %d %s, want 400", code, resp)
	}
	code, resp := s.call("POST", "/api/v1/alerts/"+id+"/shelve", "test-token", `{"by":"张三","reason":"探头标定","for":"3s"}`)
	var shelved struct {
		State     string
		ShelvedBy string `json:"shelved_by"`
	}
	if code != http.StatusOK || json.Unmarshal(resp, &shelved) != nil || shelved.State != "shelved" || shelved.ShelvedBy != "张三" {
		t.Fatalf("shelve: %d %s", code, resp)
	}
	s.waitDesk(30*time.Second, "alert.shelved", count(dev, rule, "alert.shelved", 1))
	g.kill9()

	g = s.start()
	s.waitDesk(30*time.Second, "alert.unshelved after the restart", count(dev, rule, "alert.unshelved", 1))
	types, data := s.deliveries(dev, rule)
	last := data[len(data)-1]
	if types[len(types)-1] != "alert.unshelved" || last.ID != id || last.State != "active-unacknowledged" {
		t.Fatalf("unshelved: %s %+v; want alert.unshelved of %s, active-unacknowledged", types[len(types)-1], last, id)
	}
	// Something after it, so that a second alert.unshelved would have
	// arrived first: one occurrence's notifications arrive in order.
	if code, resp := s.call("POST", "/api/v1/alerts/"+id+"/ack", "test-token", `{"by":"李四"}`); code != http.StatusOK {
		t.Fatalf("ack: %d %s", code, resp)
	}
	s.waitDesk(30*time.Second, "alert.acknowledged", count(dev, rule, "alert.acknowledged", 1))
	types, _ = s.deliveries(dev, rule)
	if n := strings.Count(strings.Join(types, ","), "alert.unshelved"); n != 1 {
		t.Errorf("%d alert.unshelved, want exactly one: %q", n, types)
	}
	if !strings.Contains(g.out.String(), "alert unshelved") {
		t.Errorf("the end of the shelving is not logged:\n%s", tail(g.out.String(), 20))
	}
	testenv.Eventually(t, 30*time.Second, func() bool {
		return s.influx.Count("hazard", "alert", `"device"='GD-101' AND "status"='shelved' AND "by"='张三' AND "comment"='探头标定'`) == 1
	}, "the shelving is on record in InfluxDB with who and why")
}

// TestOutOfServiceUntilAndDelete, through the real binary: a detector in
// alarm is taken out of service through the API — one alert.suppressed,
// its readings uncertain in /api/v1/devices — and back in service with
// DELETE (one alert.unsuppressed; the gas still there fires anew); taken
// out again until a time two seconds ahead, it is back by itself.
func TestOutOfServiceUntilAndDelete(t *testing.T) {
	s := newAlertSite(t, siteOpts{devices: 1, interval: 200 * time.Millisecond})
	s.start()
	const dev, rule, maint = "GD-101", "combustible-gas", "gateway:maintenance"

	s.set(1, 57)
	s.waitDesk(30*time.Second, "the alarm fires", count(dev, rule, "alert.firing", 1))
	until := time.Now().Add(time.Hour).Format(time.RFC3339)
	if code, resp := s.call("POST", "/api/v1/devices/NOPE/out-of-service", "test-token", `{"by":"张三","until":"`+until+`"}`); code != http.StatusNotFound {
		t.Errorf("unknown device: %d %s, want 404", code, resp)
	}
	if code, resp := s.call("POST", "/api/v1/devices/"+dev+"/out-of-service", "test-token", `{"by":"张三","reason":"更换探头","until":"`+until+`"}`); code != http.StatusOK {
		t.Fatalf("out of service: %d %s", code, resp)
	}
	s.waitDesk(30*time.Second, "alert.suppressed", count(dev, maint, "alert.suppressed", 1))
	testenv.Eventually(t, 30*time.Second, func() bool {
		code, body := s.call("GET", "/api/v1/devices", "test-token", "")
		var list struct {
			Devices []struct{ ID, Quality, Reason string }
		}
		if code != 200 || json.Unmarshal(body, &list) != nil {
			return false
		}
		for _, d := range list.Devices {
			if d.ID == dev {
				return d.Quality == "uncertain" && d.Reason == "maintenance"
			}
		}
		return false
	}, "the readings of a device out of service are uncertain (maintenance)")

	if code, resp := s.call("DELETE", "/api/v1/devices/"+dev+"/out-of-service", "test-token", `{"by":"李四"}`); code != http.StatusOK {
		t.Fatalf("back in service: %d %s", code, resp)
	}
	s.waitDesk(30*time.Second, "alert.unsuppressed", count(dev, maint, "alert.unsuppressed", 1))
	s.waitDesk(30*time.Second, "the gas still there fires anew", count(dev, rule, "alert.firing", 2))

	until = time.Now().Add(2 * time.Second).Format(time.RFC3339Nano)
	if code, resp := s.call("POST", "/api/v1/devices/"+dev+"/out-of-service", "test-token", `{"by":"张三","until":"`+until+`"}`); code != http.StatusOK {
		t.Fatalf("out of service until: %d %s", code, resp)
	}
	s.waitDesk(30*time.Second, "out of service until a time: back by itself", count(dev, maint, "alert.unsuppressed", 2))
	types, _ := s.deliveries(dev, maint)
	if strings.Join(types, ",") != "alert.suppressed,alert.unsuppressed,alert.suppressed,alert.unsuppressed" {
		t.Errorf("maintenance notifications %q", types)
	}
}
