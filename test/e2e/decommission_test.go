package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/internal/testenv"
	"github.com/hazardgw/hazardgw/simulators/dutydesk"
	"github.com/hazardgw/hazardgw/simulators/mqttsim"
)

// TestDecommissionLearntCamera runs the real binary on Mosquitto and
// InfluxDB: a camera learnt from traffic falls silent and its offline
// alarm fires; an engineer decommissions it (DELETE /api/v1/devices/{id}
// with by and reason): the desk gets alert.resolved with reason
// decommissioned and a message naming who, the device leaves
// /api/v1/devices, and after a restart it is still gone. A declared
// camera is refused (409): the configuration removes it.
func TestDecommissionLearntCamera(t *testing.T) {
	site := newMQTTSite(t, "bs-forest-01", "forest")
	broker, desk, config := site.broker, site.desk, site.config
	site.writeConfig("name: 北山林场, language: zh", "hazardgw-e2e-decommission", `  devices:
    - {id: CAM-01, kind: camera, label: 东山瞭望塔1号摄像机, stale: 1h}
  subscriptions:
    - {topic: "site/{site}/camera/{camera}/event", format: camera_event, qos: 1, stale: 2s}
alerting:
  rules:
    - {name: camera-offline, match: {kind: fire_detection}, stale: {after: 2s}, severity: orange}
  notify:
    - {name: fire-command-post, url: %q, secret: "${DUTY_DESK_SECRET}", timeout: 2s}
`, desk.URL())
	g := startGateway(t, config, "DUTY_DESK_SECRET="+deskSecret)
	call := site.call
	devices := func() string {
		t.Helper()
		code, body := call("GET", "/api/v1/devices", "")
		var v struct{ Devices []struct{ ID string } }
		if code != 200 || json.Unmarshal(body, &v) != nil {
			t.Fatalf("GET /api/v1/devices: %d %s", code, body)
		}
		var ids []string
		for _, d := range v.Devices {
			ids = append(ids, d.ID)
		}
		return strings.Join(ids, " ")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// of returns CAM-09's deliveries of type typ.
	of := func(ds []dutydesk.Delivery, typ string) []dutydesk.Delivery {
		var out []dutydesk.Delivery
		for _, d := range ds {
			if d.Alert.Device == "CAM-09" && d.Type == typ {
				out = append(out, d)
			}
		}
		return out
	}
	waitFor := func(what, typ string) dutydesk.Delivery {
		t.Helper()
		if err := desk.Wait(ctx, func(ds []dutydesk.Delivery) bool { return len(of(ds, typ)) > 0 }); err != nil {
			t.Fatalf("%s: %v; deliveries %+v", what, err, desk.Deliveries())
		}
		return of(desk.Deliveries(), typ)[0]
	}

	// CAM-09, not declared, is learnt from an event; published until the
	// gateway has it (its first subscription may come after the first copy).
	pub := newPublisher(t, ctx, broker, "bs-forest-01", "e2e-decommission")
	testenv.Eventually(t, 30*time.Second, func() bool {
		if err := pub.PublishCamera(ctx, mqttsim.CameraEvent{EventID: "CAM-09-000001", CameraID: "CAM-09", TS: time.Now(),
			Type: mqttsim.Hotspot, Confidence: 0.2}); err != nil {
			t.Fatal(err)
		}
		if err := pub.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		return strings.Contains(devices(), "CAM-09")
	}, "CAM-09 learnt")
	fired := waitFor("CAM-09 offline", "alert.firing")

	if code, body := call("DELETE", "/api/v1/devices/CAM-09", `{"reason":"已拆除"}`); code != 400 {
		t.Errorf("decommission without by: %d %s", code, body)
	}
	if code, body := call("DELETE", "/api/v1/devices/CAM-01", `{"by":"王工","reason":"已拆除"}`); code != 409 || !strings.Contains(string(body), "configuration") {
		t.Errorf("decommission of a declared camera: %d %s, want 409", code, body)
	}
	code, body := call("DELETE", "/api/v1/devices/CAM-09", `{"by":"王工","reason":"瞭望塔改造，摄像机已拆除"}`)
	if code != 200 || !strings.Contains(string(body), fired.Alert.ID) {
		t.Fatalf("decommission: %d %s (want its offline alert %s ended)", code, body, fired.Alert.ID)
	}
	resolved := waitFor("CAM-09's offline alarm ended", "alert.resolved")
	var data struct {
		Data struct{ ID, Reason, Message string }
	}
	if err := json.Unmarshal(resolved.Body, &data); err != nil {
		t.Fatal(err)
	}
	if data.Data.ID != fired.Alert.ID || data.Data.Reason != "decommissioned" || !strings.Contains(data.Data.Message, "已由 王工 拆除退役") {
		t.Errorf("resolved: %+v", data.Data)
	}
	if got := devices(); strings.Contains(got, "CAM-09") || !strings.Contains(got, "CAM-01") {
		t.Errorf("devices after decommissioning: %s", got)
	}
	if code, _ := call("DELETE", "/api/v1/devices/CAM-09", `{"by":"王工"}`); code != 404 {
		t.Errorf("decommissioning twice: %d, want 404", code)
	}

	g.stop(30 * time.Second)
	startGateway(t, config, "DUTY_DESK_SECRET="+deskSecret)
	if got := devices(); strings.Contains(got, "CAM-09") {
		t.Errorf("devices after a restart: %s", got)
	}
	if b, err := os.ReadFile(filepath.Join(site.dir, "data", "mqtt-devices.json")); err != nil || strings.Contains(string(b), "CAM-09") {
		t.Errorf("devices file after a restart: %s %v", b, err)
	}
	if n := len(of(desk.Deliveries(), "alert.firing")); n != 1 {
		t.Errorf("CAM-09 fired %d times, want once", n)
	}
}
