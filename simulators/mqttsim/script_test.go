package mqttsim

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/hazardgw/hazardgw/internal/testenv"
)

func TestBearingAndDistance(t *testing.T) {
	// One degree of a great circle is R·π/180.
	deg := earthRadius * math.Pi / 180
	tests := []struct {
		name         string
		from, to     LatLon
		bearing, dis float64
	}{
		{"north", LatLon{0, 0}, LatLon{1, 0}, 0, deg},
		{"east along the equator", LatLon{0, 0}, LatLon{0, 1}, 90, deg},
		{"south", LatLon{1, 0}, LatLon{0, 0}, 180, deg},
		{"west", LatLon{0, 1}, LatLon{0, 0}, 270, deg},
		{"across the antimeridian, east", LatLon{0, 179.5}, LatLon{0, -179.5}, 90, deg},
		{"north-east on the equator's 45°", LatLon{0, 0}, LatLon{0.001, 0.001}, 45, math.Sqrt2 * deg / 1000},
		// Quanzhou lookouts: a fire 0.005° north and 0.04° west of CAM-01.
		{"CAM-01 to the demo's fire", LatLon{25.07, 118.21}, LatLon{25.075, 118.17}, 277.866, 4067},
		{"CAM-02 to the demo's fire", LatLon{25.03, 118.15}, LatLon{25.075, 118.17}, 21.927, 5394},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if b := BearingTo(tt.from, tt.to); math.Abs(b-tt.bearing) > 0.01 {
				t.Errorf("bearing %.4f, want %.2f", b, tt.bearing)
			}
			if d := DistanceTo(tt.from, tt.to); math.Abs(d-tt.dis) > 1 {
				t.Errorf("distance %.1f m, want %.1f", d, tt.dis)
			}
		})
	}
	if b := BearingTo(LatLon{10, 10}, LatLon{10, 10}); b < 0 || b >= 360 {
		t.Errorf("bearing to itself %v, want within [0, 360)", b)
	}
}

const scriptYAML = `
seed: 1
modbus: {tick: 100ms}
mqtt:
  cameras:
    CAM-01: {lat: 25.07, lon: 118.21}
    CAM-02: {lat: 25.03, lon: 118.15}
  fire:
    at: {lat: 25.075, lon: 118.17}
    seen_by: [CAM-01, CAM-02]
    start: 10s
    flames: 16s
    end: 22s
`

func TestParseScript(t *testing.T) {
	sc, err := ParseScript([]byte(scriptYAML))
	if err != nil {
		t.Fatal(err)
	}
	if sc.Fire == nil || sc.Fire.Every != DefaultFireEvery || sc.Cameras["CAM-02"] != (LatLon{25.03, 118.15}) {
		t.Fatalf("script %+v", sc)
	}
	for _, doc := range []string{"", "modbus: {tick: 1s}", `{"seed": 3}`} {
		if sc, err := ParseScript([]byte(doc)); err != nil || sc.Fire != nil || len(sc.Cameras) != 0 {
			t.Errorf("%q: %+v, %v; want an empty script", doc, sc, err)
		}
	}
	if sc, err := ParseScript([]byte(`{"mqtt": {"cameras": {"C1": {"lat": 1, "lon": 2}}}}`)); err != nil || sc.Cameras["C1"] != (LatLon{1, 2}) {
		t.Errorf("JSON: %+v, %v", sc, err)
	}

	bad := []struct {
		name, doc string
		want      []string
	}{
		{"not YAML", "mqtt: [", []string{"mqtt:"}},
		{"unknown key", "mqtt: {fires: {}}", []string{"fires"}},
		{"unknown key in the fire", "mqtt: {cameras: {C: {lat: 1, lon: 1}}, fire: {at: {lat: 0, lon: 0}, seen_by: [C], end: 1s, flame: 1s}}", []string{"flame"}},
		{"every problem at once", `mqtt:
  cameras: {C1: {lat: 91, lon: 0}, C2: {lat: 0, lon: 181}}
  fire: {at: {lat: -91, lon: 0}, seen_by: [C1, C9, C1], start: 5s, flames: 4s, end: 6s, every: 1ms}`,
			[]string{"mqtt.cameras.C1: lat", "mqtt.cameras.C2: lat", "mqtt.fire.at", `seen_by[1]: "C9" is not in mqtt.cameras`,
				`seen_by[2]: "C1" listed twice`, "mqtt.fire.flames", "mqtt.fire.every"}},
		{"no camera sees it", "mqtt: {fire: {at: {lat: 0, lon: 0}, end: 1s}}", []string{"mqtt.fire.seen_by: at least one"}},
		{"ends before it starts", "mqtt: {cameras: {C: {lat: 0, lon: 0}}, fire: {at: {lat: 0, lon: 1}, seen_by: [C], start: 2s, flames: 2s, end: 2s}}", []string{"mqtt.fire.end"}},
		{"too long", "mqtt: {cameras: {C: {lat: 0, lon: 0}}, fire: {at: {lat: 0, lon: 1}, seen_by: [C], end: 25h}}", []string{"mqtt.fire.end: at most 24h"}},
		{"too many reports", "mqtt: {cameras: {C: {lat: 0, lon: 0}}, fire: {at: {lat: 0, lon: 1}, seen_by: [C], end: 24h, every: 100ms}}", []string{"more than 100000 reports"}},
		{"negative start", "mqtt: {cameras: {C: {lat: 0, lon: 0}}, fire: {at: {lat: 0, lon: 1}, seen_by: [C], start: -1s, end: 2s}}", []string{"mqtt.fire.start"}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseScript([]byte(tt.doc))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestPlan: the fire script's reports, round by round: the cameras a
// fraction of the interval apart, smoke with a rising confidence, then
// fire; the first camera ranges the fire, the others give bearings only.
func TestPlan(t *testing.T) {
	sc, err := ParseScript([]byte(scriptYAML))
	if err != nil {
		t.Fatal(err)
	}
	type rep struct {
		at     time.Duration
		camera string
		typ    string
		conf   float64
	}
	var got []rep
	for _, r := range sc.plan() {
		got = append(got, rep{r.at, r.camera, r.typ, r.confidence})
		wantB := map[string]float64{"CAM-01": 277.9, "CAM-02": 21.9}[r.camera]
		if r.bearing != wantB {
			t.Errorf("%v %s bearing %v, want %v", r.at, r.camera, r.bearing, wantB)
		}
		switch {
		case r.camera == "CAM-01" && (r.distance == nil || *r.distance != 4070):
			t.Errorf("%v CAM-01 distance %v, want 4070 m", r.at, r.distance)
		case r.camera == "CAM-02" && r.distance != nil:
			t.Errorf("%v CAM-02 ranges the fire (%v m): only the first camera does", r.at, *r.distance)
		case (r.temp != nil) != (r.typ == Fire):
			t.Errorf("%v %s %s with temperature %v", r.at, r.camera, r.typ, r.temp)
		}
	}
	s := time.Second
	want := []rep{
		{10 * s, "CAM-01", Smoke, 0.60}, {11500 * time.Millisecond, "CAM-02", Smoke, 0.60},
		{13 * s, "CAM-01", Smoke, 0.65}, {14500 * time.Millisecond, "CAM-02", Smoke, 0.65},
		{16 * s, "CAM-01", Fire, 0.90}, {17500 * time.Millisecond, "CAM-02", Fire, 0.90},
		{19 * s, "CAM-01", Fire, 0.91}, {20500 * time.Millisecond, "CAM-02", Fire, 0.91},
		{22 * s, "CAM-01", Fire, 0.92},
	}
	if !slices.Equal(got, want) {
		t.Errorf("plan\n got %v\nwant %v", got, want)
	}
	if (Script{}).plan() != nil {
		t.Error("a script without a fire plans reports")
	}
}

// TestSiteScriptedFireAndCheckpoints runs a site with a fire script and
// two checkpoints (KK-02 muted) on the embedded broker: the cameras
// publish the scripted reports toward the fire, the checkpoints take the
// retained voice commands, and both are noted and reported.
func TestSiteScriptedFireAndCheckpoints(t *testing.T) {
	b, err := NewBroker("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var mu sync.Mutex
	var events []CameraEvent
	var notes []string
	sub := paho.NewClient(paho.NewClientOptions().AddBroker(b.URL()).SetClientID("test-sub"))
	if tok := sub.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer sub.Disconnect(0)
	if tok := sub.Subscribe("site/s1/camera/+/event", 1, func(_ paho.Client, m paho.Message) {
		var ev CameraEvent
		var stamp struct {
			TS time.Time `json:"ts"`
		}
		if err := json.Unmarshal(m.Payload(), &ev); err != nil || json.Unmarshal(m.Payload(), &stamp) != nil {
			t.Errorf("%s: %v", m.Topic(), err)
		}
		ev.TS = stamp.TS
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
	}); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	for _, kk := range []string{"KK-01", "KK-02"} {
		cmd := `{"cmd":"voice","level":4,"text":"当前森林火险等级为四级（高），严禁携带火种进山","ts":"2026-11-22T02:00:00Z"}`
		if tok := sub.Publish("site/s1/checkpoint/"+kk+"/command", 1, true, cmd); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatal("publish", tok.Error())
		}
	}

	sc, err := ParseScript([]byte(`mqtt:
  cameras: {CAM-01: {lat: 25.07, lon: 118.21}, CAM-02: {lat: 25.03, lon: 118.15}}
  fire: {at: {lat: 25.075, lon: 118.17}, seen_by: [CAM-01, CAM-02], start: 0s, flames: 400ms, end: 800ms, every: 200ms}`))
	if err != nil {
		t.Fatal(err)
	}
	site, err := NewSite(SiteOptions{URL: b.URL(), Site: "s1", Cameras: 0, Checkpoints: 2, Muted: []string{"KK-02"},
		Script: sc, Seed: 7, Note: func(what string) {
			mu.Lock()
			notes = append(notes, what)
			mu.Unlock()
		}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- site.Run(ctx) }()
	testenv.Eventually(t, 20*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(events) == len(sc.plan()) && len(notes) == 6
	}, "every scripted report and six notes")

	// The control API while it runs.
	srv := httptest.NewServer(site.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/api/mqtt/checkpoints")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var kks []CheckpointState
	if err := json.Unmarshal(body, &kks); err != nil || len(kks) != 2 {
		t.Fatalf("GET /api/mqtt/checkpoints: %v %s", err, body)
	}
	if k := kks[0]; k.Checkpoint != "KK-01" || !k.Plays || k.Muted || k.Last == nil || k.Last.Level != 4 {
		t.Errorf("KK-01 %+v", k)
	}
	if k := kks[1]; k.Checkpoint != "KK-02" || k.Plays || !k.Muted || k.Last == nil || k.Last.Level != 4 {
		t.Errorf("KK-02 %+v", k)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	defer mu.Unlock()
	seen := map[string][]string{}
	for _, ev := range events {
		seen[ev.CameraID] = append(seen[ev.CameraID], ev.Type)
		if ev.BearingDeg == nil || *ev.BearingDeg != map[string]float64{"CAM-01": 277.9, "CAM-02": 21.9}[ev.CameraID] ||
			(ev.CameraID == "CAM-01") != (ev.DistanceM != nil) || !strings.HasPrefix(ev.EventID, ev.CameraID+"-") || ev.TS.IsZero() {
			t.Errorf("event %+v", ev)
		}
	}
	if w := []string{Smoke, Smoke, Fire, Fire, Fire}; !slices.Equal(seen["CAM-01"], w) {
		t.Errorf("CAM-01 reported %v, want %v", seen["CAM-01"], w)
	}
	if w := []string{Smoke, Smoke, Fire, Fire}; !slices.Equal(seen["CAM-02"], w) {
		t.Errorf("CAM-02 reported %v, want %v", seen["CAM-02"], w)
	}
	want := []string{
		"CAM-01 sees smoke at bearing 277.9°, 4.1 km (scripted fire at 25.0750, 118.1700)",
		"CAM-02 sees smoke at bearing 21.9° (scripted fire at 25.0750, 118.1700)",
		"CAM-01 sees flames at bearing 277.9°, 4.1 km (scripted fire at 25.0750, 118.1700)",
		"CAM-02 sees flames at bearing 21.9° (scripted fire at 25.0750, 118.1700)",
		"KK-01 plays voice command level 4: 当前森林火险等级为四级（高），严禁携带火种进山",
		"KK-02 received (speaker broken, plays nothing) voice command level 4: 当前森林火险等级为四级（高），严禁携带火种进山",
	}
	for _, w := range want {
		if !slices.Contains(notes, w) {
			t.Errorf("no note %q in\n%s", w, strings.Join(notes, "\n"))
		}
	}
}

// FuzzParseScript: any scenario document is a script or an error, never a
// panic; an accepted fire plans a bounded number of reports, in time
// order, with bearings in [0, 360) and confidences in [0, 1].
func FuzzParseScript(f *testing.F) {
	f.Add([]byte(scriptYAML))
	f.Add([]byte(`{"mqtt":{"cameras":{"C":{"lat":0,"lon":0}},"fire":{"at":{"lat":0,"lon":0},"seen_by":["C"],"end":"1s","every":"100ms"}}}`))
	f.Add([]byte("mqtt: {cameras: {C: {lat: 90, lon: 180}}, fire: {at: {lat: -90, lon: -180}, seen_by: [C], end: 24h, every: 1s}}"))
	f.Add([]byte("mqtt: [1, 2]"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		sc, err := ParseScript(doc)
		if err != nil {
			return
		}
		reps := sc.plan()
		if len(reps) > maxFireReports {
			t.Fatalf("%d reports", len(reps))
		}
		for i, r := range reps {
			if r.bearing < 0 || r.bearing >= 360 || math.IsNaN(r.bearing) || r.confidence < 0 || r.confidence > 1 ||
				i > 0 && r.at < reps[i-1].at {
				t.Fatalf("report %d: %+v", i, r)
			}
		}
	})
}
