package e2e

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/internal/testenv"
	"github.com/hazardgw/hazardgw/simulators/dutydesk"
	"github.com/hazardgw/hazardgw/simulators/mqttsim"
)

// Spherical geodesy written out here, apart from the gateway's package geo,
// so that a mistake there cannot hide in the expected values.
const earthR = 6371008.8

type latLon struct{ lat, lon float64 }

func toRad(d float64) float64 { return d * math.Pi / 180 }
func toDeg(r float64) float64 { return r * 180 / math.Pi }

// destination: the point distance m from p along bearing (degrees).
func destination(p latLon, bearing, distance float64) latLon {
	φ1, λ1, θ, δ := toRad(p.lat), toRad(p.lon), toRad(bearing), distance/earthR
	φ2 := math.Asin(math.Sin(φ1)*math.Cos(δ) + math.Cos(φ1)*math.Sin(δ)*math.Cos(θ))
	λ2 := λ1 + math.Atan2(math.Sin(θ)*math.Sin(δ)*math.Cos(φ1), math.Cos(δ)-math.Sin(φ1)*math.Sin(φ2))
	return latLon{toDeg(φ2), toDeg(λ2)}
}

// bearingTo: the initial bearing from a to b, degrees from true north.
func bearingTo(a, b latLon) float64 {
	φ1, φ2, dλ := toRad(a.lat), toRad(b.lat), toRad(b.lon-a.lon)
	return math.Mod(toDeg(math.Atan2(math.Sin(dλ)*math.Cos(φ2), math.Cos(φ1)*math.Sin(φ2)-math.Sin(φ1)*math.Cos(φ2)*math.Cos(dλ)))+360, 360)
}

// metres between a and b (haversine).
func metres(a, b latLon) float64 {
	dφ, dλ := toRad(b.lat-a.lat), toRad(b.lon-a.lon)
	h := math.Pow(math.Sin(dφ/2), 2) + math.Cos(toRad(a.lat))*math.Cos(toRad(b.lat))*math.Pow(math.Sin(dλ/2), 2)
	return 2 * earthR * math.Asin(math.Sqrt(h))
}

// cameraAlert is the camera part of a notification's data.
type cameraAlert struct {
	ID, Device, Level, Message string
	EventTime                  string   `json:"event_time"`
	BearingDeg                 *float64 `json:"bearing_deg"`
	DistanceM                  *float64 `json:"distance_m"`
	ImageURL                   string   `json:"image_url"`
	EventID                    string   `json:"event_id"`
	Location                   *struct {
		Lat, Lon float64
		Method   string
		Cameras  []string
	}
}

func cameraData(t *testing.T, d dutydesk.Delivery) cameraAlert {
	t.Helper()
	var body struct{ Data cameraAlert }
	if err := json.Unmarshal(d.Body, &body); err != nil {
		t.Fatal(err)
	}
	return body.Data
}

// TestCameraIncidentViaMQTT runs the real binary against real Mosquitto
// with two declared lookout cameras: smoke then fire from one camera is one
// occurrence (alert.changed at the desk), its bearing and distance place the
// fire, the second camera's bearing triangulates it (and its hotspot, a
// yellow rule of its own, becomes red smoke in the same occurrence), an event redelivered
// (or retained, across a restart) raises nothing, and an event three hours
// old alarms as late with its own time.
func TestCameraIncidentViaMQTT(t *testing.T) {
	s := newMQTTSite(t, "bs-forest-01", "forest")
	desk := s.desk

	towerA, towerB := latLon{25.07, 118.21}, latLon{25.03, 118.15}
	fire := destination(towerA, 200, 4200) // south-south-west of tower A, 4.2 km
	s.writeConfig("name: 北山林场, language: zh", "hazardgw-e2e-cameras", `  devices:
    - {id: CAM-01, kind: camera, label: 东山瞭望塔1号摄像机, location: {lat: %v, lon: %v}}
    - {id: CAM-02, kind: camera, label: 西岭瞭望塔2号摄像机, location: {lat: %v, lon: %v}}
  subscriptions:
    - {topic: "site/{site}/camera/{camera}/event", format: camera_event, qos: 1}
forest: {triangulate_window: 5m, max_event_age: 10m}
alerting:
  rules:
    - name: forest-fire
      match: {kind: fire_detection}
      event: {types: [smoke, fire], min_confidence: 0.7}
      severity: red
      auto_resolve: 30m
    - name: thermal-hotspot
      match: {kind: fire_detection}
      event: {types: [hotspot], min_confidence: 0.85}
      severity: yellow
      auto_resolve: 10m
  notify:
    - {name: fire-command-post, url: %q, secret: "${DUTY_DESK_SECRET}", timeout: 2s}
`, towerA.lat, towerA.lon, towerB.lat, towerB.lon, desk.URL())
	gw, ctx, pub := s.start(90*time.Second, "e2e-lookouts")
	send := func(ev mqttsim.CameraEvent) {
		t.Helper()
		flushed(t, ctx, pub, pub.PublishCamera(ctx, ev))
	}
	waitN := func(n int, what string) []dutydesk.Delivery {
		t.Helper()
		if err := desk.Wait(ctx, func(ds []dutydesk.Delivery) bool { return len(ds) >= n }); err != nil {
			t.Fatalf("%s: %v; deliveries %+v", what, err, desk.Deliveries())
		}
		return desk.Deliveries()
	}
	near := func(what string, d cameraAlert, method string) {
		t.Helper()
		l := d.Location
		if l == nil || l.Method != method {
			t.Fatalf("%s: location %+v, want method %s", what, l, method)
		}
		if m := metres(latLon{l.Lat, l.Lon}, fire); m > 10 {
			t.Errorf("%s: %+v is %.1f m from the fire %+v", what, l, m, fire)
		}
	}

	bearingA, bearingB := bearingTo(towerA, fire), bearingTo(towerB, fire)
	now := time.Now().UTC()
	smokeA := mqttsim.CameraEvent{EventID: "CAM-01-000001", CameraID: "CAM-01", TS: now, Type: mqttsim.Smoke, Confidence: 0.82,
		BearingDeg: mqttsim.Ptr(bearingA), DistanceM: mqttsim.Ptr(metres(towerA, fire)), ImageURL: "http://10.30.0.31/snap/000001.jpg"}
	send(smokeA)
	ds := waitN(1, "smoke from CAM-01")
	first := cameraData(t, ds[0])
	if ds[0].Type != "alert.firing" || first.Device != "CAM-01" || first.Level != "smoke" || first.EventID != "CAM-01-000001" ||
		first.ImageURL != smokeA.ImageURL || first.BearingDeg == nil || first.DistanceM == nil {
		t.Fatalf("smoke: %s %+v", ds[0].Type, first)
	}
	if at, err := time.Parse(time.RFC3339Nano, first.EventTime); err != nil || !at.Equal(now.Truncate(time.Millisecond)) {
		t.Errorf("data.event_time %q, payload ts %s", first.EventTime, now.Truncate(time.Millisecond).Format(time.RFC3339Nano))
	}
	near("CAM-01 range", first, "range")
	if !strings.Contains(first.Message, "方位 ") || !strings.Contains(first.Message, "北纬 ") {
		t.Errorf("message without the position: %q", first.Message)
	}

	send(mqttsim.CameraEvent{EventID: "CAM-01-000002", CameraID: "CAM-01", TS: time.Now(), Type: mqttsim.Fire, Confidence: 0.93,
		BearingDeg: mqttsim.Ptr(bearingA)})
	ds = waitN(2, "fire from CAM-01")
	second := cameraData(t, ds[1])
	if ds[1].Type != "alert.changed" || second.ID != first.ID || second.Level != "fire" || !strings.Contains(second.Message, "明火") {
		t.Fatalf("fire after smoke: %s %+v (first %s)", ds[1].Type, second, first.ID)
	}

	// Tower B sees it too, without a distance: the bearings cross. First
	// a thermal hotspot (yellow), then smoke: the same occurrence, red.
	send(mqttsim.CameraEvent{EventID: "CAM-02-000000", CameraID: "CAM-02", TS: time.Now(), Type: mqttsim.Hotspot, Confidence: 0.9,
		BearingDeg: mqttsim.Ptr(bearingB)})
	ds = waitN(3, "hotspot from CAM-02")
	third := cameraData(t, ds[2])
	if ds[2].Type != "alert.firing" || third.Device != "CAM-02" || ds[2].Alert.Severity != "yellow" {
		t.Fatalf("CAM-02 hotspot: %s %+v", ds[2].Type, ds[2].Alert)
	}
	near("CAM-02 triangulated", third, "triangulated")
	if !strings.Contains(third.Message, "交会定位") {
		t.Errorf("triangulated message %q", third.Message)
	}
	smokeB := mqttsim.CameraEvent{EventID: "CAM-02-000001", CameraID: "CAM-02", TS: time.Now(), Type: mqttsim.Smoke, Confidence: 0.88,
		BearingDeg: mqttsim.Ptr(bearingB)}
	send(smokeB)
	ds = waitN(4, "smoke from CAM-02")
	fourth := cameraData(t, ds[3])
	if ds[3].Type != "alert.changed" || fourth.ID != third.ID || fourth.Level != "smoke" || ds[3].Alert.Severity != "red" {
		t.Fatalf("CAM-02 smoke after hotspot: %s %+v", ds[3].Type, ds[3].Alert)
	}
	near("CAM-02 smoke triangulated", fourth, "triangulated")

	// Redelivered and retained copies of events already judged.
	send(smokeA)
	flushed(t, ctx, pub, pub.PublishRetained(ctx, smokeB))
	ignored := func(g *gatewayProc, id string) func() bool {
		return func() bool {
			for _, l := range strings.Split(g.out.String(), "\n") {
				if strings.Contains(l, "camera event already seen") && strings.Contains(l, id) {
					return true
				}
			}
			return false
		}
	}
	testenv.Eventually(t, 30*time.Second, ignored(gw, "CAM-01-000001"), "the redelivered event ignored")
	testenv.Eventually(t, 30*time.Second, ignored(gw, "CAM-02-000001"), "the retained event ignored")
	// After a restart the broker hands the retained event to the new
	// subscription: still known.
	gw.stop(30 * time.Second)
	gw = startGateway(t, s.config, "DUTY_DESK_SECRET="+deskSecret)
	testenv.Eventually(t, 30*time.Second, ignored(gw, "CAM-02-000001"), "the retained event ignored after a restart")

	// An event three hours old, arriving now (its camera's link was down).
	seen := time.Now().Add(-3 * time.Hour).UTC().Truncate(time.Millisecond)
	send(mqttsim.CameraEvent{EventID: "CAM-03-000001", CameraID: "CAM-03", TS: seen, Type: mqttsim.Smoke, Confidence: 0.9})
	ds = waitN(5, "late smoke from CAM-03")
	late := cameraData(t, ds[4])
	if ds[4].Type != "alert.firing" || late.Device != "CAM-03" || !strings.Contains(late.Message, "延迟 3小时到达") {
		t.Fatalf("late event: %s %+v", ds[4].Type, late)
	}
	if at, err := time.Parse(time.RFC3339Nano, late.EventTime); err != nil || !at.Equal(seen) {
		t.Errorf("late data.event_time %q, want %s", late.EventTime, seen.Format(time.RFC3339Nano))
	}
	// Notifications leave the outbox in order: had the copies raised
	// anything, it would have come before the late event's.
	if ds = desk.Deliveries(); len(ds) != 5 {
		for _, d := range ds {
			t.Logf("%s %s", d.Type, cameraData(t, d).Message)
		}
		t.Fatalf("%d deliveries, want 5", len(ds))
	}
}
