package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/internal/testenv"
	"github.com/hazardgw/hazardgw/simulators/dutydesk"
)

// deskData is what these tests read of a delivery's data beyond what the
// desk simulator decodes.
type deskData struct {
	ID, Key, Reason, Message, State string
}

func dataOf(t testing.TB, d dutydesk.Delivery) deskData {
	t.Helper()
	var p struct{ Data deskData }
	if err := json.Unmarshal(d.Body, &p); err != nil {
		t.Fatalf("delivery body %s: %v", d.Body, err)
	}
	return p.Data
}

// deliveries lists what the desk received for one device and rule: type
// and data, in order of receipt.
func (s *alertSite) deliveries(device, rule string) (types []string, data []deskData) {
	for _, d := range s.desk.Deliveries() {
		if d.Alert.Device == device && d.Alert.Rule == rule {
			types = append(types, d.Type)
			data = append(data, dataOf(s.t, d))
		}
	}
	return types, data
}

func count(device, rule, typ string, n int) func([]dutydesk.Delivery) bool {
	return func(ds []dutydesk.Delivery) bool {
		k := 0
		for _, d := range ds {
			if d.Alert.Device == device && d.Alert.Rule == rule && d.Type == typ {
				k++
			}
		}
		return k >= n
	}
}

// TestAlertOccurrencesAckAndRuleChange, through the real binary: a new
// occurrence of a condition gets a new id while the previous one is still
// resolved-unacknowledged on the desk; acknowledging the old id leaves the
// new one unacknowledged; an ack without `by` is refused with 400; after a
// restart with the rule removed, the still-active alarm ends with
// data.reason rule_changed, never "back to normal".
func TestAlertOccurrencesAckAndRuleChange(t *testing.T) {
	s := newAlertSite(t, siteOpts{devices: 1, interval: 200 * time.Millisecond})
	g := s.start()
	const dev, rule = "GD-101", "combustible-gas"

	s.set(1, 30)
	s.waitDesk(30*time.Second, "first occurrence fires", count(dev, rule, "alert.firing", 1))
	s.set(1, 0)
	s.waitDesk(30*time.Second, "first occurrence resolves", count(dev, rule, "alert.resolved", 1))
	s.set(1, 30)
	s.waitDesk(30*time.Second, "second occurrence fires", count(dev, rule, "alert.firing", 2))

	types, data := s.deliveries(dev, rule)
	if !slices.Equal(types, []string{"alert.firing", "alert.resolved", "alert.firing"}) {
		t.Fatalf("deliveries %q", types)
	}
	old, cur := data[0].ID, data[2].ID
	if old == "" || data[1].ID != old || cur == old {
		t.Fatalf("occurrence ids: firing %s, resolved %s, firing again %s: want one id per occurrence", data[0].ID, data[1].ID, cur)
	}
	if want := rule + "/" + dev + "/ch4"; data[0].Key != want || data[2].Key != want {
		t.Errorf("keys %q %q, want %q for both", data[0].Key, data[2].Key, want)
	}
	if !strings.HasPrefix(data[0].Message, "【测试站】") {
		t.Errorf("message does not name the site: %q", data[0].Message)
	}

	for _, body := range []string{`{"by":""}`, `{"comment":"没有署名"}`, `{"by":"   ","comment":"x"}`} {
		if code, resp := s.call("POST", "/api/v1/alerts/"+old+"/ack", "test-token", body); code != http.StatusBadRequest {
			t.Errorf("ack %s: %d %s, want 400", body, code, resp)
		}
	}
	if code, resp := s.call("POST", "/api/v1/alerts/"+old+"/ack", "test-token", `{"by":"张三","comment":"昨天那条"}`); code != http.StatusOK {
		t.Fatalf("ack old occurrence: %d %s", code, resp)
	}
	s.waitDesk(30*time.Second, "old occurrence acknowledged", count(dev, rule, "alert.acknowledged", 1))
	types, data = s.deliveries(dev, rule)
	if data[len(data)-1].ID != old {
		t.Errorf("the acknowledgement carries id %s, want the old occurrence %s", data[len(data)-1].ID, old)
	}
	active := s.alerts("active")
	if len(active) != 1 || active[0].ID != cur || active[0].Acknowledged || active[0].State != "active-unacknowledged" {
		t.Fatalf("after acking the old occurrence: %+v; want only %s, unacknowledged", active, cur)
	}
	if !strings.Contains(g.out.String(), "by=张三") || !strings.Contains(g.out.String(), "comment=昨天那条") {
		t.Errorf("the acknowledgement is not logged with who and the comment:\n%s", tail(g.out.String(), 20))
	}

	// Second level, then the rule is removed while the gas is still there.
	s.set(1, 57)
	s.waitDesk(30*time.Second, "second level", count(dev, rule, "alert.changed", 1))
	g.stop(30 * time.Second)
	s.cutConfig("    - name: combustible-gas", "    - name: device-offline")
	s.start()
	s.waitDesk(30*time.Second, "the removed rule's alert ends", count(dev, rule, "alert.resolved", 2))
	types, data = s.deliveries(dev, rule)
	end := data[len(data)-1]
	if types[len(types)-1] != "alert.resolved" || end.ID != cur || end.Reason != "rule_changed" {
		t.Fatalf("end of the removed rule's alert: %s %+v; want alert.resolved of %s with reason rule_changed", types[len(types)-1], end, cur)
	}
	if strings.Contains(end.Message, "已恢复正常") || !strings.Contains(end.Message, "规则") {
		t.Errorf("rule_changed message %q must say the rule changed, not back to normal", end.Message)
	}

	// The acknowledgement and the rule change are on record in InfluxDB.
	testenv.Eventually(t, 30*time.Second, func() bool {
		return s.influx.Count("hazard", "alert", `"device"='GD-101' AND "rule"='combustible-gas'`) == 6
	}, "six alert points: firing, resolved, firing, acknowledged, changed, resolved")
	res, err := s.influx.Query("hazard", `SELECT status, id, "by", comment, reason FROM alert WHERE "device"='GD-101' AND "rule"='combustible-gas' ORDER BY time`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rowsOf(res) {
		got = append(got, fmt.Sprintf("%v %v %v %v", r.Value("status"), r.Value("by"), r.Value("comment"), r.Value("reason")))
	}
	want := []string{"firing <nil> <nil> <nil>", "resolved <nil> <nil> <nil>", "firing <nil> <nil> <nil>",
		"acknowledged 张三 昨天那条 <nil>", "changed <nil> <nil> <nil>", "resolved <nil> <nil> rule_changed"}
	if !slices.Equal(got, want) {
		t.Errorf("alert points:\n%q\nwant:\n%q", got, want)
	}
}
