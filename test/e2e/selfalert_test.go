package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/simulators/dutydesk"
	"github.com/hazardgw/hazardgw/simulators/mqttsim"
)

// newForestSite is a gateway on real Mosquitto and InfluxDB with a duty
// desk, a fire rule and an offline rule for cameras, and camera CAM-01
// declared.
func newForestSite(t *testing.T, maxDevices int) *mqttSite {
	t.Helper()
	f := newMQTTSite(t, "forest-01", "hazard")
	f.writeConfig("name: 林区, language: zh", "hazardgw-e2e-forest", `  alert_after: 2s
  max_devices: %d
  devices:
    - {id: CAM-01, kind: camera, label: 东山瞭望塔1号摄像机, stale: 5s}
  subscriptions:
    - {topic: "site/{site}/camera/{camera}/event", format: camera_event, qos: 1, stale: 10m}
alerting:
  rules:
    - name: forest-fire
      match: {kind: fire_detection}
      event: {types: [smoke, fire], min_confidence: 0.7}
      severity: red
    - name: camera-offline
      match: {kind: fire_detection}
      stale: {after: 1}
      severity: orange
  notify:
    - {name: duty-desk, url: %q, secret: "${DUTY_DESK_SECRET}", timeout: 2s}
`, maxDevices, f.desk.URL())
	return f
}

// TestBrokerDownDeclaredCameraOffline: the broker goes away after CAM-01
// spoke; CAM-01 is reported offline on time, with the cause, while the
// broker is still down, and gateway:mqtt-unreachable fires.
func TestBrokerDownDeclaredCameraOffline(t *testing.T) {
	f := newForestSite(t, 1000)
	_, ctx, pub := f.start(2*time.Minute, "e2e-cam")
	flushed(t, ctx, pub, pub.PublishCamera(ctx, mqttsim.CameraEvent{EventID: "CAM-01-1", CameraID: "CAM-01", TS: time.Now(), Type: mqttsim.Smoke, Confidence: 0.1}))
	pub.Close(5 * time.Second)
	time.Sleep(time.Second)
	f.broker.Stop()
	f.wait(60*time.Second, "CAM-01 offline while the broker is down", func(ds []dutydesk.Delivery) bool {
		return slices.ContainsFunc(ds, func(d dutydesk.Delivery) bool {
			return d.Alert.Rule == "camera-offline" && d.Alert.Device == "CAM-01" && d.Type == "alert.firing"
		})
	})
	f.wait(60*time.Second, "mqtt-unreachable", func(ds []dutydesk.Delivery) bool {
		return slices.ContainsFunc(ds, func(d dutydesk.Delivery) bool {
			return d.Alert.Rule == "gateway:mqtt-unreachable" && d.Type == "alert.firing"
		})
	})
	for _, d := range f.desk.Deliveries() {
		if d.Alert.Rule == "camera-offline" {
			var body struct {
				Data struct{ Cause, Message, Label string }
			}
			_ = json.Unmarshal(d.Body, &body)
			if body.Data.Cause != "broker_down" || !strings.Contains(body.Data.Message, "MQTT 服务器不可达") ||
				body.Data.Label != "东山瞭望塔1号摄像机" {
				t.Errorf("offline alert %+v", body.Data)
			}
			break
		}
	}
	f.broker.Start()
}

// TestDeviceFloodThenRealFire: 10,050 bogus camera ids, then a real fire
// from a camera never seen: the fire alarm fires, gateway:device-limit
// fires once, and the gateway tracks no more than max_devices.
func TestDeviceFloodThenRealFire(t *testing.T) {
	f := newForestSite(t, 1000)
	g, ctx, pub := f.start(4*time.Minute, "e2e-flood")
	for i := range 10050 {
		id := fmt.Sprintf("BOGUS-%05d", i)
		if err := pub.PublishCamera(ctx, mqttsim.CameraEvent{EventID: id + "-1", CameraID: id, TS: time.Now(), Type: mqttsim.Smoke, Confidence: 0.05}); err != nil {
			t.Fatal(err)
		}
	}
	flushed(t, ctx, pub, pub.PublishCamera(ctx, mqttsim.CameraEvent{EventID: "CAM-99-1", CameraID: "CAM-99", TS: time.Now(), Type: mqttsim.Fire, Confidence: 0.99}))
	f.wait(3*time.Minute, "the fire from an untracked camera", func(ds []dutydesk.Delivery) bool {
		return slices.ContainsFunc(ds, func(d dutydesk.Delivery) bool {
			return d.Alert.Rule == "forest-fire" && d.Alert.Device == "CAM-99" && d.Type == "alert.firing"
		})
	})
	f.wait(time.Minute, "device-limit", func(ds []dutydesk.Delivery) bool {
		return slices.ContainsFunc(ds, func(d dutydesk.Delivery) bool { return d.Alert.Rule == "gateway:device-limit" })
	})
	time.Sleep(12 * time.Second) // another health report
	if n := f.count("gateway:device-limit", "", "alert.firing"); n != 1 {
		t.Errorf("%d device-limit alarms, want 1", n)
	}
	code, body := f.call("GET", "/api/v1/devices", "")
	if code != 200 {
		t.Fatalf("devices: %d", code)
	}
	var list struct{ Devices []struct{ ID, Source string } }
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatalf("devices: %v: %.200s", err, body)
	}
	mq := 0
	for _, d := range list.Devices {
		if d.Source == "mqtt" {
			mq++
		}
	}
	if mq > 1000+1 {
		t.Errorf("%d MQTT devices tracked, want at most max_devices + the declared one", mq)
	}
	// The series the gateway writes about devices stay bounded: no
	// device_status series for the untracked ids.
	res, err := f.influx.Query("hazard", `SHOW TAG VALUES EXACT CARDINALITY FROM device_status WITH KEY = "device"`)
	if err != nil || len(res.Series) == 0 {
		t.Fatalf("device_status cardinality: %v %+v", err, res)
	}
	if n := res.Series[0].Values[0][0].(float64); n > 1000+1 {
		t.Errorf("device_status has %v devices, want at most max_devices + the declared one", n)
	}
	if rss, ok := vmRSS(g.cmd.Process.Pid); ok {
		t.Logf("gateway RSS after 10,051 camera ids: %d MiB (race-instrumented build)", rss>>20)
	}
	if n := strings.Count(g.out.String(), "MQTT device limit reached"); n != 1 {
		t.Errorf("the device limit was logged %d times, want once", n)
	}
}

// TestDeskRejectsGoesToOtherReceiver: a second receiver refuses every
// notification with 401 (the gateway still signs with the secret it had
// before a rotation); the first receiver gets gateway:notify-rejected
// naming it, as well as the gas alarm.
func TestDeskRejectsGoesToOtherReceiver(t *testing.T) {
	s := newAlertSite(t, siteOpts{devices: 1, interval: 300 * time.Millisecond})
	rotated := newDesk(t)
	cfg, err := os.ReadFile(s.config)
	if err != nil {
		t.Fatal(err)
	}
	cfg = fmt.Appendf(cfg, "    - name: sms-gateway\n      url: %s\n      secret: whsec_QUJDREVGR0hJSktMTU5PUFFSU1RVVldY\n      timeout: 2s\n", rotated.URL())
	if err := os.WriteFile(s.config, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	s.set(1, 60)
	s.start()
	s.waitDesk(60*time.Second, "notify-rejected at the other desk", has("gateway", "gateway:notify-rejected", "alert.firing"))
	if got := s.history("GD-101", "combustible-gas", false); len(got) != 1 || got[0] != "alert.firing high-high red" {
		t.Errorf("gas alarm at the working desk: %q", got)
	}
	for _, d := range s.desk.Deliveries() {
		if d.Alert.Rule != "gateway:notify-rejected" {
			continue
		}
		if d.Alert.Point != "sms-gateway" || !strings.Contains(d.Alert.Message, "sms-gateway") || !strings.Contains(d.Alert.Message, "401") {
			t.Errorf("notify-rejected %+v", d.Alert)
		}
	}
	if st := rotated.Stats(); st.Delivered != 0 || st.BadSignature == 0 {
		t.Errorf("rotated desk %+v", st)
	}
}

// vmRSS reads a process's resident set size from /proc.
func vmRSS(pid int) (int64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			if _, err := fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb); err == nil {
				return kb << 10, true
			}
		}
	}
	return 0, false
}
