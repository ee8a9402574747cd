package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/internal/testenv"
	"github.com/hazardgw/hazardgw/simulators/dutydesk"
	"github.com/hazardgw/hazardgw/simulators/mqttsim"
)

// TestMQTTDeviceOutOfService runs the real binary against real Mosquitto
// and InfluxDB: a lookout camera taken out of service is listed by GET
// /api/v1/out-of-service with who, since, until and why; its smoke event
// is stored in InfluxDB as uncertain (reason maintenance) and raises no
// alarm; back in service, it is listed no more and its next smoke event
// is stored as a plain reading and raises a real alarm.
func TestMQTTDeviceOutOfService(t *testing.T) {
	site := newMQTTSite(t, "bs-forest-01", "forest")
	influx, broker, desk, config := site.influx, site.broker, site.desk, site.config
	site.writeConfig("name: 北山林场, language: zh", "hazardgw-e2e-oos", `  devices:
    - {id: CAM-01, kind: camera, label: 东山瞭望塔1号摄像机, location: {lat: 25.07, lon: 118.21}}
  subscriptions:
    - {topic: "site/{site}/camera/{camera}/event", format: camera_event, qos: 1}
alerting:
  rules:
    - {name: forest-fire, match: {kind: fire_detection}, event: {types: [smoke, fire], min_confidence: 0.7}, severity: red, auto_resolve: 30m}
  notify:
    - {name: fire-command-post, url: %q, secret: "${DUTY_DESK_SECRET}", timeout: 2s}
`, desk.URL())
	startGateway(t, config, "DUTY_DESK_SECRET="+deskSecret)
	call := site.call
	type service struct {
		Device, Label, By, Reason string
		Since, Until              *time.Time
	}
	listed := func() []service {
		t.Helper()
		code, body := call("GET", "/api/v1/out-of-service", "")
		var l []service
		if code != 200 || json.Unmarshal(body, &l) != nil {
			t.Fatalf("GET /api/v1/out-of-service: %d %s", code, body)
		}
		return l
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	waitDesk := func(what string, cond func([]dutydesk.Delivery) bool) {
		t.Helper()
		if err := desk.Wait(ctx, cond); err != nil {
			t.Fatalf("%s: %v; deliveries %+v", what, err, desk.Deliveries())
		}
	}
	count := func(typ string) func([]dutydesk.Delivery) bool {
		return func(ds []dutydesk.Delivery) bool {
			for _, d := range ds {
				if d.Type == typ {
					return true
				}
			}
			return false
		}
	}

	before := time.Now().Add(-time.Second)
	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	if code, body := call("POST", "/api/v1/devices/CAM-01/out-of-service",
		`{"by":"张三","reason":"镜头清洁","until":"`+until.Format(time.RFC3339)+`"}`); code != 200 {
		t.Fatalf("out of service: %d %s", code, body)
	}
	waitDesk("alert.suppressed", count("alert.suppressed"))
	l := listed()
	if len(l) != 1 || l[0].Device != "CAM-01" || l[0].Label != "东山瞭望塔1号摄像机" || l[0].By != "张三" || l[0].Reason != "镜头清洁" ||
		l[0].Until == nil || !l[0].Until.Equal(until) || l[0].Since == nil || l[0].Since.Before(before) || l[0].Since.After(time.Now()) {
		t.Fatalf("listed out of service: %+v", l)
	}

	pub := newPublisher(t, ctx, broker, "bs-forest-01", "e2e-oos-camera")
	send := func(id string) {
		t.Helper()
		ev := mqttsim.CameraEvent{EventID: id, CameraID: "CAM-01", TS: time.Now().UTC(), Type: mqttsim.Smoke, Confidence: 0.9,
			BearingDeg: mqttsim.Ptr(200.0), DistanceM: mqttsim.Ptr(4200.0)}
		if err := pub.PublishCamera(ctx, ev); err != nil {
			t.Fatal(err)
		}
		if err := pub.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// row reads the quality and reason stored with an event ("" when none).
	row := func(id string) (quality, reason string, ok bool) {
		res, err := influx.Query("forest", `SELECT quality, reason, confidence FROM fire_detection WHERE event_id = '`+id+`'`)
		if err != nil || len(res.Series) == 0 || len(res.Series[0].Values) == 0 {
			return "", "", false
		}
		v := res.Series[0].Values[0]
		quality, _ = v[1].(string)
		reason, _ = v[2].(string)
		return quality, reason, true
	}
	send("CAM-01-000001")
	testenv.Eventually(t, 30*time.Second, func() bool { _, _, ok := row("CAM-01-000001"); return ok }, "the event while out of service stored")
	if q, r, _ := row("CAM-01-000001"); q != "uncertain" || r != "maintenance" {
		t.Errorf("event while out of service stored with quality %q reason %q, want uncertain maintenance", q, r)
	}

	if code, body := call("DELETE", "/api/v1/devices/CAM-01/out-of-service", `{"by":"李四"}`); code != 200 {
		t.Fatalf("back in service: %d %s", code, body)
	}
	waitDesk("alert.unsuppressed", count("alert.unsuppressed"))
	if l := listed(); len(l) != 0 {
		t.Errorf("listed after back in service: %+v", l)
	}
	send("CAM-01-000002")
	waitDesk("alert.firing", count("alert.firing"))
	testenv.Eventually(t, 30*time.Second, func() bool { _, _, ok := row("CAM-01-000002"); return ok }, "the event in service stored")
	if q, r, _ := row("CAM-01-000002"); q != "" || r != "" {
		t.Errorf("event in service stored with quality %q reason %q, want none (a good reading)", q, r)
	}
	var types []string
	for _, d := range desk.Deliveries() {
		types = append(types, d.Type)
		if d.Type == "alert.firing" {
			var body struct {
				Data struct {
					Device  string `json:"device"`
					EventID string `json:"event_id"`
				}
			}
			if err := json.Unmarshal(d.Body, &body); err != nil {
				t.Fatal(err)
			}
			if body.Data.Device != "CAM-01" || body.Data.EventID != "CAM-01-000002" {
				t.Errorf("the alarm is for %+v, want CAM-01's event after it was back in service", body.Data)
			}
		}
	}
	if strings.Join(types, " ") != "alert.suppressed alert.unsuppressed alert.firing" {
		t.Errorf("deliveries %q, want suppressed, unsuppressed, one firing", types)
	}
}
