package alerting

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/gateway"
	"github.com/hazardgw/hazardgw/geo"
	"github.com/hazardgw/hazardgw/internal/testenv"
)

// Two lookout towers 10 km apart (east–west) and a third 500 m north of
// the first.
var (
	towerA = geo.Point{Lat: 25.0, Lon: 118.0}
	towerB = geo.Point{Lat: 25.0, Lon: 118.0993}
	towerC = geo.Point{Lat: 25.0045, Lon: 118.0}
)

var cameraDevices = []Device{
	{ID: "CAM-A", Kind: "fire_detection", Label: "东山瞭望塔", Location: &towerA},
	{ID: "CAM-B", Kind: "fire_detection", Location: &towerB},
	{ID: "CAM-C", Kind: "fire_detection", Location: &towerC},
	{ID: "CAM-X", Kind: "fire_detection"}, // no location declared
}

var fireRules = []RuleConfig{
	{Name: "forest-fire", Match: Match{Kind: "fire_detection"}, Event: &Event{Types: []string{"hotspot", "smoke", "fire"}, MinConfidence: 0.7},
		Severity: "red", AutoResolve: 30 * time.Minute},
}

// forestRules are the forest example's: thermal hotspots (often
// sun-heated rock) yellow and only when the camera is quite sure; smoke and
// fire red.
var forestRules = []RuleConfig{
	{Name: "forest-fire", Match: Match{Kind: "fire_detection"}, Event: &Event{Types: []string{"smoke", "fire"}, MinConfidence: 0.7},
		Severity: "red", AutoResolve: 30 * time.Minute},
	{Name: "thermal-hotspot", Match: Match{Kind: "fire_detection"}, Event: &Event{Types: []string{"hotspot"}, MinConfidence: 0.85},
		Severity: "yellow", AutoResolve: 10 * time.Minute},
}

func newCameraEngine(t testing.TB, path, lang string) *syncEngine {
	t.Helper()
	return newCameraEngineRules(t, path, lang, fireRules)
}

func newCameraEngineRules(t testing.TB, path, lang string, rules []RuleConfig) *syncEngine {
	t.Helper()
	return openSync(t, path, testenv.NewClock(t0), Config{Rules: rules},
		Options{Site: "bs-forest-01", Devices: cameraDevices, Language: lang}, 0)
}

// ev is a camera event as the MQTT source stores it.
type ev struct {
	cam, typ  string
	conf      float64
	at        time.Time // zero: now
	bearing   *float64
	distance  *float64
	id, image string
}

func (s *syncEngine) event(e ev) {
	s.t.Helper()
	if e.at.IsZero() {
		e.at = s.clock.Now()
	}
	p := gateway.Point{Measurement: "fire_detection", Time: e.at,
		Tags:   []gateway.Tag{{Key: "site", Value: "bs"}, {Key: "camera", Value: e.cam}, {Key: "type", Value: e.typ}},
		Fields: []gateway.Field{gateway.Float("confidence", e.conf)}}
	if e.bearing != nil {
		p.Fields = append(p.Fields, gateway.Float("bearing_deg", *e.bearing))
	}
	if e.distance != nil {
		p.Fields = append(p.Fields, gateway.Float("distance_m", *e.distance))
	}
	if e.id == "" {
		e.id = s.eventID(e.cam)
	}
	p.Fields = append(p.Fields, gateway.String("event_id", e.id))
	if e.image != "" {
		p.Fields = append(p.Fields, gateway.String("image_url", e.image))
	}
	s.feed(p)
}

func ptr(v float64) *float64 { return &v }

func TestIncidentSmokeThenFire(t *testing.T) {
	s := newCameraEngine(t, "", "")
	s.event(ev{cam: "CAM-A", typ: "hotspot", conf: 0.9})
	s.clock.Add(time.Minute)
	s.event(ev{cam: "CAM-A", typ: "smoke", conf: 0.75, image: "http://10.0.0.7/snap/2.jpg"})
	s.clock.Add(time.Minute)
	s.event(ev{cam: "CAM-A", typ: "fire", conf: 0.92})
	s.clock.Add(time.Minute)
	s.event(ev{cam: "CAM-A", typ: "smoke", conf: 0.8}) // still burning: no step down
	s.event(ev{cam: "CAM-A", typ: "smoke", conf: 0.5}) // below min_confidence
	eq(t, "one incident whose level rises", s.notes(),
		[]string{"alert.firing hotspot red", "alert.changed smoke red", "alert.changed fire red"})
	ps := s.payloads()
	if ps[0].Data.ID != ps[1].Data.ID || ps[1].Data.ID != ps[2].Data.ID {
		t.Errorf("ids %s %s %s: want one occurrence", ps[0].Data.ID, ps[1].Data.ID, ps[2].Data.ID)
	}
	if d := ps[2].Data; d.Message != "东山瞭望塔 检测到明火，置信度 0.92" || d.Point != "confidence" || d.StartedAt != t0 {
		t.Errorf("fire: %+v", d)
	}
	if d := ps[1].Data; d.ImageURL != "http://10.0.0.7/snap/2.jpg" || d.EventID != "CAM-A-2" || !d.EventTime.Equal(t0.Add(time.Minute)) {
		t.Errorf("smoke event data: %+v", d.CameraEvent)
	}
	if open, _ := s.e.Alerts(false); len(open) != 1 || open[0].Level != "fire" || open[0].EventID != "CAM-A-4" {
		t.Errorf("open alerts %+v", open)
	}

	// Another camera's smoke is its own incident.
	s.event(ev{cam: "CAM-X", typ: "smoke", conf: 0.8})
	eq(t, "other camera", s.notes()[3:], []string{"alert.firing smoke red"})

	// 30 min without a matching event: it ends, saying so and no more.
	s.clock.Add(30 * time.Minute)
	s.tick()
	ps = s.payloads()
	if len(ps) != 6 || ps[4].Type != TypeResolved || ps[5].Type != TypeResolved {
		t.Fatalf("after 30 min: %v", s.notes())
	}
	msg := ps[4].Data.Message
	if ps[4].Data.Device != "CAM-A" {
		msg = ps[5].Data.Message
	}
	if msg != "东山瞭望塔 明火：30分钟无新的检测，告警自动结束，请以现场核实为准" {
		t.Errorf("auto-resolve message %q", msg)
	}
	for _, p := range ps[4:] {
		for _, never := range []string{"已解除", "熄灭", "扑灭", "恢复正常"} {
			if strings.Contains(p.Data.Message, never) {
				t.Errorf("auto-resolve message %q says %q", p.Data.Message, never)
			}
		}
	}

	// A new event after that is a new incident.
	s.event(ev{cam: "CAM-A", typ: "smoke", conf: 0.8})
	ps = s.payloads()
	if last := ps[len(ps)-1]; last.Type != TypeFiring || last.Data.ID == ps[0].Data.ID {
		t.Errorf("new incident: %s %s", last.Type, last.Data.ID)
	}
}

func TestIncidentEndedEnglish(t *testing.T) {
	s := newCameraEngine(t, "", LangEN)
	s.event(ev{cam: "CAM-X", typ: "fire", conf: 0.8})
	s.clock.Add(30 * time.Minute)
	s.tick()
	ps := s.payloads()
	if len(ps) != 2 || ps[1].Data.Message != "CAM-X fire: no new detection for 30 min; alert closed automatically, confirm on site" {
		t.Errorf("%v: %+v", s.notes(), ps)
	}
}

func TestIncidentLateEvent(t *testing.T) {
	s := newCameraEngine(t, "", "")
	s.clock.Add(3 * time.Hour)
	seen := t0.Add(2 * time.Second)
	s.event(ev{cam: "CAM-A", typ: "smoke", conf: 0.8, at: seen})                                // 3 h old: late
	s.event(ev{cam: "CAM-X", typ: "smoke", conf: 0.8, at: s.clock.Now().Add(-9 * time.Minute)}) // within 10m: news
	ps := s.payloads()
	if len(ps) != 2 {
		t.Fatalf("%v", s.notes())
	}
	late := ps[0].Data
	if late.Message != "东山瞭望塔 检测到烟雾，置信度 0.80（延迟 3小时到达）" {
		t.Errorf("late message %q", late.Message)
	}
	if !late.EventTime.Equal(seen) || !late.StartedAt.Equal(s.clock.Now()) || late.LateS != int64((3*time.Hour-2*time.Second)/time.Second) {
		t.Errorf("late event: event_time %v started_at %v late_s %d", late.EventTime, late.StartedAt, late.LateS)
	}
	var raw map[string]any
	if err := json.Unmarshal(s.outbox()[0].Body, &raw); err != nil {
		t.Fatal(err)
	}
	if got := raw["data"].(map[string]any)["event_time"]; got != "2026-11-22T09:00:02Z" {
		t.Errorf("data.event_time = %v", got)
	}
	if fresh := ps[1].Data; strings.Contains(fresh.Message, "延迟") || fresh.LateS != 0 {
		t.Errorf("news called late: %q", fresh.Message)
	}
	// A late event opens the incident for auto_resolve from its arrival,
	// so the command post sees it.
	s.clock.Add(29 * time.Minute)
	s.tick()
	if n := len(s.payloads()); n != 2 {
		t.Errorf("resolved before auto_resolve from arrival: %v", s.notes())
	}
}

func TestIncidentDuplicateEventID(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.db")
	s := newCameraEngine(t, path, "")
	s.event(ev{cam: "CAM-A", typ: "smoke", conf: 0.8, id: "CAM-A-000123"})
	s.event(ev{cam: "CAM-A", typ: "fire", conf: 0.9, id: "CAM-A-000123"}) // redelivered (a changed payload or not): the id decides
	s.event(ev{cam: "CAM-B", typ: "fire", conf: 0.9, id: "CAM-A-000123"}) // another camera's ids are its own
	eq(t, "redelivered", s.notes(), []string{"alert.firing smoke red", "alert.firing fire red"})
	s.clock.Add(31 * time.Minute)
	s.tick()
	eq(t, "ended", slices.Sorted(slices.Values(s.notes()[2:])), []string{"alert.resolved fire red", "alert.resolved smoke red"})
	s.event(ev{cam: "CAM-A", typ: "smoke", conf: 0.8, id: "CAM-A-000123"}) // the retained message, on reconnect
	eq(t, "retained after the incident ended", s.notes()[4:], nil)
	n := len(s.notes())
	s.close()

	// After a restart the ids are still known.
	s2 := newCameraEngine(t, path, "")
	s2.event(ev{cam: "CAM-A", typ: "smoke", conf: 0.8, id: "CAM-A-000123"})
	s2.event(ev{cam: "CAM-B", typ: "fire", conf: 0.9, id: "CAM-A-000123"})
	eq(t, "after restart", s2.notes()[n:], nil)
	s2.event(ev{cam: "CAM-A", typ: "smoke", conf: 0.8, id: "CAM-A-000124"})
	eq(t, "a new id", s2.notes()[n:], []string{"alert.firing smoke red"})
}

func TestSeenSetBounded(t *testing.T) {
	var s seenSet
	for i := range maxSeenEvents + 100 {
		if !s.add(seenKey("CAM", string(rune('a'+i%26))+strconv.Itoa(i))) {
			t.Fatalf("id %d not new", i)
		}
	}
	if len(s.ring) != maxSeenEvents || len(s.set) != maxSeenEvents {
		t.Fatalf("ring %d set %d", len(s.ring), len(s.set))
	}
	if !s.add(seenKey("CAM", "a0")) {
		t.Error("the oldest id is still remembered")
	}
	last := string(rune('a'+(maxSeenEvents+99)%26)) + strconv.Itoa(maxSeenEvents+99)
	if s.add(seenKey("CAM", last)) {
		t.Error("the newest id was forgotten")
	}
	var back seenSet
	back.decode(s.encode())
	if len(back.set) != maxSeenEvents || back.add(seenKey("CAM", last)) {
		t.Error("encode/decode lost ids")
	}
}

func TestIncidentLocation(t *testing.T) {
	fire := geo.Destination(towerA, 60, 4000) // 4 km north-east of tower A
	near := func(t *testing.T, what string, l *FireLocation, method string, want geo.Point) {
		t.Helper()
		if l == nil {
			t.Fatalf("%s: no location", what)
		}
		if l.Method != method {
			t.Errorf("%s: method %q, want %q", what, l.Method, method)
		}
		if d := geo.Distance(geo.Point{Lat: l.Lat, Lon: l.Lon}, want); d > 10 {
			t.Errorf("%s: %+v is %.1f m from %+v", what, l, d, want)
		}
	}
	t.Run("range then triangulated", func(t *testing.T) {
		s := newCameraEngine(t, "", "")
		s.event(ev{cam: "CAM-A", typ: "smoke", conf: 0.8, bearing: ptr(geo.Bearing(towerA, fire)), distance: ptr(4000)})
		s.clock.Add(2 * time.Minute)
		// Tower B gives no distance: its bearing meets A's.
		s.event(ev{cam: "CAM-B", typ: "smoke", conf: 0.8, bearing: ptr(geo.Bearing(towerB, fire))})
		ps := s.payloads()
		if len(ps) != 2 {
			t.Fatalf("%v", s.notes())
		}
		near(t, "CAM-A", ps[0].Data.Location, MethodRange, fire)
		near(t, "CAM-B", ps[1].Data.Location, MethodTriangulated, fire)
		if c := ps[1].Data.Location.Cameras; len(c) != 2 || c[0] != "CAM-A" || c[1] != "CAM-B" {
			t.Errorf("cameras %v", c)
		}
		if m := ps[0].Data.Message; !strings.Contains(m, "方位 60°，约 4.0 km，北纬 25.0180° 东经 118.0344°（按方位和距离估算）") {
			t.Errorf("range message %q", m)
		}
		if m := ps[1].Data.Message; !strings.Contains(m, "北纬 25.0180° 东经 118.0344°（CAM-A、CAM-B 交会定位）") {
			t.Errorf("triangulated message %q", m)
		}
		// Tower A again, with a distance too: triangulated wins over range.
		s.clock.Add(time.Minute)
		s.event(ev{cam: "CAM-A", typ: "fire", conf: 0.9, bearing: ptr(geo.Bearing(towerA, fire)), distance: ptr(3000)})
		ps = s.payloads()
		if len(ps) != 3 || ps[2].Type != TypeChanged {
			t.Fatalf("%v", s.notes())
		}
		near(t, "CAM-A fire", ps[2].Data.Location, MethodTriangulated, fire)
	})
	t.Run("outside the window", func(t *testing.T) {
		s := newCameraEngine(t, "", "")
		s.event(ev{cam: "CAM-A", typ: "smoke", conf: 0.8, bearing: ptr(geo.Bearing(towerA, fire))})
		s.clock.Add(5*time.Minute + time.Second)
		s.event(ev{cam: "CAM-B", typ: "smoke", conf: 0.8, bearing: ptr(geo.Bearing(towerB, fire))})
		s.event(ev{cam: "CAM-X", typ: "smoke", conf: 0.8, bearing: ptr(10), distance: ptr(500)}) // no location declared
		for _, p := range s.payloads() {
			if p.Data.Location != nil {
				t.Errorf("%s located: %+v", p.Data.Device, p.Data.Location)
			}
		}
		if m := s.payloads()[2].Data.Message; m != "CAM-X 检测到烟雾，置信度 0.80，方位 10°，约 500 m" {
			t.Errorf("unlocated message %q", m)
		}
	})
	t.Run("near-parallel falls back to range", func(t *testing.T) {
		s := newCameraEngine(t, "", "")
		far := geo.Destination(towerA, 90, 8000) // due east: towers A and C, 500 m apart north–south, see it 3.6° apart
		s.event(ev{cam: "CAM-A", typ: "smoke", conf: 0.8, bearing: ptr(geo.Bearing(towerA, far))})
		s.event(ev{cam: "CAM-C", typ: "smoke", conf: 0.8, bearing: ptr(geo.Bearing(towerC, far)), distance: ptr(geo.Distance(towerC, far))})
		ps := s.payloads()
		if len(ps) != 2 {
			t.Fatalf("%v", s.notes())
		}
		near(t, "CAM-C", ps[1].Data.Location, MethodRange, far)
	})
	t.Run("English", func(t *testing.T) {
		s := newCameraEngine(t, "", LangEN)
		s.event(ev{cam: "CAM-A", typ: "smoke", conf: 0.8, bearing: ptr(90), distance: ptr(1000)})
		if m := s.payloads()[0].Data.Message; m != "东山瞭望塔 detected smoke, confidence 0.80, bearing 90°, about 1.0 km, at 25.0000°N 118.0099°E (from bearing and distance)" {
			t.Errorf("message %q", m)
		}
	})
}

// TestIncidentAcrossRules: a hotspot incident (yellow) that then sees smoke
// is the same occurrence, raised to the smoke rule's level and severity;
// a hotspot while smoke is open folds into it; and the incident carries on
// across a restart.
func TestIncidentAcrossRules(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.db")
	s := newCameraEngineRules(t, path, "", forestRules)
	s.event(ev{cam: "CAM-A", typ: "hotspot", conf: 0.9})
	s.clock.Add(time.Minute)
	s.event(ev{cam: "CAM-A", typ: "smoke", conf: 0.8})
	s.clock.Add(time.Minute)
	s.event(ev{cam: "CAM-A", typ: "hotspot", conf: 0.95})
	eq(t, "hotspot then smoke", s.notes(), []string{"alert.firing hotspot yellow", "alert.changed smoke red"})
	ps := s.payloads()
	if ps[0].Data.ID != ps[1].Data.ID || ps[1].Data.Rule != "forest-fire" || ps[1].Data.Key != "forest-fire/CAM-A/confidence" {
		t.Errorf("escalated: %+v", ps[1].Data)
	}
	if open, _ := s.e.Alerts(false); len(open) != 1 || open[0].Rule != "forest-fire" || open[0].EventID != "CAM-A-3" {
		t.Errorf("open alerts %+v", open)
	}
	// The hotspot rule's 10 minutes do not end it: the smoke rule's 30 do.
	s.clock.Add(20 * time.Minute)
	s.tick()
	eq(t, "20 min later", s.notes()[2:], nil)
	n := len(s.notes())
	s.close()

	s2 := newCameraEngineRules(t, path, "", forestRules)
	s2.clock.Add(22 * time.Minute)
	s2.event(ev{cam: "CAM-A", typ: "fire", conf: 0.9, id: "CAM-A-after-restart"})
	eq(t, "after restart", s2.notes()[n:], []string{"alert.changed fire red"})
	s2.clock.Add(31 * time.Minute)
	s2.tick()
	eq(t, "ended", s2.notes()[n+1:], []string{"alert.resolved fire red"})
	if ps := s2.payloads(); ps[len(ps)-1].Data.ID != ps[0].Data.ID {
		t.Error("not one occurrence from hotspot to the end")
	}
}
