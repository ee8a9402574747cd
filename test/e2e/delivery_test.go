package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/internal/testenv"
	"github.com/hazardgw/hazardgw/simulators/dutydesk"
)

// groupDelivery is an alert.group notification as a desk reads it.
type groupDelivery struct {
	Type string
	Data struct {
		Group  map[string]string
		Alerts []struct {
			Event, ID, Device, Severity, Rule string
			Tags                              map[string]string
		}
	}
}

func groupsOf(t testing.TB, ds []dutydesk.Delivery) []groupDelivery {
	t.Helper()
	var out []groupDelivery
	for _, d := range ds {
		var g groupDelivery
		if err := json.Unmarshal(d.Body, &g); err != nil {
			t.Fatalf("delivery body %s: %v", d.Body, err)
		}
		out = append(out, g)
	}
	return out
}

// events lists, per device, the events the groups named, in order of
// receipt, and counts each (alert id, event) pair.
func events(gs []groupDelivery) (map[string][]string, map[string]int) {
	byDev, seen := map[string][]string{}, map[string]int{}
	for _, g := range gs {
		for _, a := range g.Data.Alerts {
			byDev[a.Device] = append(byDev[a.Device], a.Event)
			seen[a.ID+" "+a.Event]++
		}
	}
	return byDev, seen
}

// TestAlertGroupOfTwelveDetectors: twelve gas detectors of one area
// (tags: {area: tank-farm-A}) cross the red limit together; a receiver
// with group_by: [area] gets at most two alert.group notifications, which
// name all twelve.
func TestAlertGroupOfTwelveDetectors(t *testing.T) {
	const n = 12
	s := newAlertSite(t, siteOpts{devices: n, interval: 500 * time.Millisecond, deskNotify: "      group_by: [area]\n"})
	s.start()
	for u := 1; u <= n; u++ {
		s.set(u, 60)
	}
	firing := func(ds []dutydesk.Delivery) map[string]bool {
		devs := map[string]bool{}
		byDev, _ := events(groupsOf(t, ds))
		for d, evs := range byDev {
			if d != "gateway" && slices.Contains(evs, "alert.firing") {
				devs[d] = true
			}
		}
		return devs
	}
	// Twelve new alarms within ten minutes are also a flood: the gateway's
	// own gateway:alarm-flood alert has no area, so it comes in a group of
	// its own, besides the area's.
	flood := func(ds []dutydesk.Delivery) bool {
		for _, g := range groupsOf(t, ds) {
			for _, a := range g.Data.Alerts {
				if a.Rule == "gateway:alarm-flood" && a.Event == "alert.firing" {
					return true
				}
			}
		}
		return false
	}
	s.waitDesk(90*time.Second, "all twelve named, and the flood", func(ds []dutydesk.Delivery) bool { return len(firing(ds)) == n && flood(ds) })
	var ds []dutydesk.Delivery
	for _, d := range s.desk.Deliveries() {
		if !strings.Contains(string(d.Body), `"rule":"gateway:alarm-flood"`) {
			ds = append(ds, d)
		}
	}
	if len(ds) > 2 {
		t.Errorf("%d notifications for one area's twelve alarms, want at most 2:\n%s", len(ds), strings.Join(s.received(), "\n"))
	}
	for _, g := range groupsOf(t, ds) {
		if g.Type != "alert.group" || g.Data.Group["area"] != "tank-farm-A" {
			t.Errorf("delivery %+v", g)
		}
		for _, a := range g.Data.Alerts {
			if a.Severity != "red" || a.Tags["area"] != "tank-farm-A" {
				t.Errorf("member %+v", a)
			}
		}
	}
	if st := s.desk.Stats(); st.BadSignature != 0 {
		t.Errorf("desk stats %+v", st)
	}
}

// TestAlertGroupAndEscalationAcrossKill9: three detectors of one area go
// red; the gateway is killed with SIGKILL while their notifications wait
// in the group window, and again before their escalation falls due, and
// stays down past it. Every notification reaches the grouped desk once,
// in order per occurrence, and the escalation target gets each
// occurrence's escalation once, at the restart.
func TestAlertGroupAndEscalationAcrossKill9(t *testing.T) {
	const n = 3
	chief := newDesk(t)
	s := newAlertSite(t, siteOpts{devices: n, interval: 500 * time.Millisecond,
		deskNotify: "      group_by: [area]\n      group_wait: 3s\n      group_interval: 4s\n" +
			"      escalate:\n        - {after: 15s, to: chief}\n",
		moreNotify: fmt.Sprintf("    - name: chief\n      url: %s\n      secret: ${DUTY_DESK_SECRET}\n", chief.URL()),
	})
	gw := s.start()
	for u := 1; u <= n; u++ {
		s.set(u, 60)
	}
	testenv.Eventually(t, 30*time.Second, func() bool {
		for u := 1; u <= n; u++ {
			if a, ok := s.findAlert(fmt.Sprintf("GD-10%d", u), "combustible-gas"); !ok || a.Status != "firing" {
				return false
			}
		}
		return true
	}, "three alerts committed")
	firedBy := time.Now()
	gw.kill9() // the members wait in their group window

	gw = s.start()
	s.waitDesk(60*time.Second, "the group after the restart", func(ds []dutydesk.Delivery) bool {
		byDev, _ := events(groupsOf(t, ds))
		return len(byDev) == n
	})
	gw.kill9()
	if len(chief.Deliveries()) != 0 {
		t.Logf("the escalation came before the second kill; it is checked for being sent once all the same")
	}
	// Down past the escalation's time: it is sent at the next start.
	if d := time.Until(firedBy.Add(17 * time.Second)); d > 0 {
		time.Sleep(d) // the gateway is down: time passing is the point
	}
	s.start()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := chief.Wait(ctx, func(ds []dutydesk.Delivery) bool { return len(ds) >= n }); err != nil {
		t.Fatalf("escalations: %v; chief has %d", err, len(chief.Deliveries()))
	}
	for u := 1; u <= n; u++ {
		s.set(u, 0)
	}
	s.waitDesk(60*time.Second, "every resolution", func(ds []dutydesk.Delivery) bool {
		byDev, _ := events(groupsOf(t, ds))
		k := 0
		for _, evs := range byDev {
			if slices.Contains(evs, "alert.resolved") {
				k++
			}
		}
		return k == n
	})
	// A step taken twice would arrive with a new webhook-id: an
	// expectation over a few seconds of the running gateway.
	time.Sleep(3 * time.Second)

	byDev, seen := events(groupsOf(t, s.desk.Deliveries()))
	for u := 1; u <= n; u++ {
		dev := fmt.Sprintf("GD-10%d", u)
		if got := byDev[dev]; !slices.Equal(got, []string{"alert.firing", "alert.resolved"}) {
			t.Errorf("%s: %q, want firing then resolved", dev, got)
		}
	}
	for k, c := range seen {
		if c != 1 {
			t.Errorf("%s delivered %d times", k, c)
		}
	}
	ids := map[string]bool{}
	for _, d := range chief.Deliveries() {
		if d.Type != "alert.escalated" || d.Alert.Severity != "red" || !strings.Contains(d.Alert.Message, "升级通知") {
			t.Errorf("chief got %s %+v", d.Type, d.Alert)
		}
		ids[d.Alert.ID] = true
	}
	if len(chief.Deliveries()) != n || len(ids) != n {
		t.Errorf("chief got %d escalations of %d occurrences, want %d of %d", len(chief.Deliveries()), len(ids), n, n)
	}
	for _, d := range s.desk.Deliveries() {
		if d.Type != "alert.group" {
			t.Errorf("the grouped desk got a %s", d.Type)
		}
	}
	if t.Failed() {
		t.Logf("desk:\n%s", strings.Join(s.received(), "\n"))
	}
}
