package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/internal/testenv"
	"github.com/hazardgw/hazardgw/simulators/dutydesk"
	"github.com/hazardgw/hazardgw/simulators/mqttsim"
)

// dangerDay returns a noon in Asia/Shanghai not after now: readings an
// hour apart around it stay within one rating day wherever the test runs.
func dangerDay(t *testing.T) time.Time {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().In(loc)
	noon := time.Date(now.Year(), now.Month(), now.Day(), 12, 0, 0, 0, loc)
	if noon.After(now) {
		noon = noon.AddDate(0, 0, -1)
	}
	return noon
}

// dangerSite is the site of the fire-danger tests (in writeConfig), and
// dangerStation their MQTT devices and subscriptions and the forest
// section: weather station WS-01 (silent after the duration it is
// formatted with) publishing JSON that rates the fire danger, and voice
// checkpoint KK-03.
const (
	dangerSite    = "name: 北山林场, language: zh, timezone: Asia/Shanghai"
	dangerStation = `  devices:
    - {id: WS-01, kind: weather_station, label: 北山林区1号气象站, stale: %s}
    - {id: KK-03, kind: checkpoint, label: 九仙山入口智能语音卡口, stale: 1h}
  subscriptions:
    - {topic: "site/{site}/checkpoint/{checkpoint}/passage", format: checkpoint_passage, qos: 1}
    - topic: vendor/ws/{station}/telemetry
      format: json
      qos: 1
      json:
        measurement: weather_station
        time: ts
        time_format: unix_ms
        device: id
        fields:
          air_temp_c: {path: temp}
          rh_pct: {path: rh}
          wind_ms: {path: wind}
          rain_mm: {path: rain}
forest:
  danger:
    station: WS-01
    points: {temperature: air_temp_c, humidity: rh_pct, wind: wind_ms, rain: rain_mm}
    initial_dry_days: 6
`
)

// TestFireDangerThroughGateway runs the real binary on Mosquitto and
// InfluxDB with a weather station publishing JSON and a declared voice
// checkpoint: readings drive the rating from level 3 to 5 (the duty desk
// gets fire-danger yellow, then orange, then red; InfluxDB holds the
// fire_danger series with exactly those levels); the checkpoint's command
// is retained, so a subscriber started afterwards gets it; a passage
// without the voice warning raises voice-missed; a bad station reading
// rates nothing, and a silent station is alarmed.
func TestFireDangerThroughGateway(t *testing.T) {
	sub, err := exec.LookPath("mosquitto_sub")
	if err != nil {
		t.Fatal("mosquitto_sub not found: scripts/setup.sh installs mosquitto-clients")
	}
	site := newMQTTSite(t, "forest-01", "hazard")
	influx, broker, desk, config := site.influx, site.broker, site.desk, site.config
	site.writeConfig(dangerSite, "hazardgw-e2e-danger", dangerStation+`alerting:
  rules:
    - name: fire-danger
      match: {kind: fire_danger, point: level}
      thresholds:
        - {level: level-3, above: 3, severity: yellow}
        - {level: level-4, above: 4, severity: orange}
        - {level: level-5, above: 5, severity: red}
    - name: voice-missed
      match: {kind: checkpoint_passage}
      voice_missed: {min_level: 3}
      severity: orange
    - name: weather-station-offline
      match: {kind: weather_station, device: WS-01}
      stale: {after: 5s}
      severity: blue
  notify:
    - {name: duty-desk, url: %q, secret: "${DUTY_DESK_SECRET}", timeout: 2s}
`, "5s", desk.URL())
	g, ctx, pub := site.start(4*time.Minute, "e2e-ws")
	base := dangerDay(t)
	reading := func(at time.Time, body string) {
		t.Helper()
		payload := fmt.Sprintf(`{"id":"WS-01","ts":%d,%s}`, at.UnixMilli(), body)
		flushed(t, ctx, pub, pub.PublishRaw(ctx, "vendor/ws/WS-01/telemetry", []byte(payload)))
	}
	wait := func(what string, cond func([]dutydesk.Delivery) bool) {
		t.Helper()
		site.wait(90*time.Second, what, cond)
	}
	has := func(rule, typ, level string) func([]dutydesk.Delivery) bool {
		return func(ds []dutydesk.Delivery) bool {
			return slices.ContainsFunc(ds, func(d dutydesk.Delivery) bool {
				return d.Alert.Rule == rule && d.Type == typ && d.Alert.Level == level
			})
		}
	}

	// Six dry days before today (C = 30):
	// 18 °C, 40 %, 3 m/s: 12 + 12 + 30 + 10 = 64 → 3
	// 22 °C, 30 %, 5 m/s: 16 + 16 + 30 + 15 = 77 → 4
	// 26 °C, 20 %, 9 m/s: 20 + 20 + 30 + 25 = 95 → 5
	steps := []struct {
		body, typ, level, sev string
	}{
		{`"temp":18,"rh":40,"wind":3,"rain":0`, "alert.firing", "level-3", "yellow"},
		{`"temp":22,"rh":30,"wind":5,"rain":0`, "alert.changed", "level-4", "orange"},
		{`"temp":26,"rh":20,"wind":9,"rain":0`, "alert.changed", "level-5", "red"},
	}
	for i, s := range steps {
		reading(base.Add(time.Duration(i)*time.Second), s.body)
		wait("fire-danger "+s.level, has("fire-danger", s.typ, s.level))
	}
	testenv.Eventually(t, 30*time.Second, func() bool {
		resp, err := http.Get(site.api + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), "\nhazardgw_fire_danger_level 5\n") && strings.Contains(string(b), "\nhazardgw_fire_danger_ratings_total 3\n")
	}, "/metrics shows level 5 after 3 ratings")
	for _, d := range desk.Deliveries() {
		if d.Alert.Rule == "fire-danger" && d.Alert.Level == "level-5" {
			if d.Alert.Severity != "red" || d.Alert.Device != "WS-01" || d.Alert.Kind != "fire_danger" || d.Alert.Value != 5 ||
				!strings.Contains(d.Alert.Message, "森林火险等级") {
				t.Errorf("level 5 alert %+v", d.Alert)
			}
		}
	}

	// The checkpoint's command is retained: a subscriber that starts now
	// gets the current one at once.
	host, bport, _ := strings.Cut(broker.Addr(), ":")
	const cmdTopic = "site/forest-01/checkpoint/KK-03/command"
	var cmd struct {
		Cmd   string    `json:"cmd"`
		Level int       `json:"level"`
		Text  string    `json:"text"`
		TS    time.Time `json:"ts"`
	}
	retained := func(what string) {
		t.Helper()
		testenv.Eventually(t, 60*time.Second, func() bool {
			cmd.Level = 0
			out, err := exec.CommandContext(ctx, sub, "-h", host, "-p", bport, "-i", "e2e-fresh-sub", "-q", "1",
				"-t", cmdTopic, "--retained-only", "-C", "1", "-W", "5").Output()
			if err != nil || json.Unmarshal(out, &cmd) != nil {
				return false
			}
			return cmd.Level == 5 // the level 4 command may still be the retained one for a moment
		}, "%s", what)
	}
	retained("a fresh mosquitto_sub receives the retained level 5 command")
	if cmd.Cmd != "voice" || cmd.Text != "当前森林火险等级为五级（极高），严禁一切野外用火，严禁携带火种进山" || !cmd.TS.Equal(base.Add(2*time.Second)) {
		t.Errorf("command %+v", cmd)
	}

	// The simulated checkpoint's speaker gets it too and plays it; with
	// its speaker broken, a passage does not hear it, at level 5.
	spk, err := mqttsim.NewSpeakers(ctx, broker.URL(), "forest-01", "", "e2e-speakers")
	if err != nil {
		t.Fatal(err)
	}
	defer spk.Close()
	testenv.Eventually(t, 30*time.Second, func() bool { c, _ := spk.Last("KK-03"); return c.Level == 5 && spk.Plays("KK-03") },
		"the simulated checkpoint has the level 5 command")
	if err := pub.PublishPassage(ctx, mqttsim.Passage{EventID: "KK-03-000001", CheckpointID: "KK-03", TS: time.Now(),
		Direction: mqttsim.In, People: mqttsim.Ptr(1), Vehicles: mqttsim.Ptr(0), VoicePlayed: mqttsim.Ptr(spk.Plays("KK-03"))}); err != nil {
		t.Fatal(err)
	}
	spk.Mute("KK-03", true)
	if err := pub.PublishPassage(ctx, mqttsim.Passage{EventID: "KK-03-000002", CheckpointID: "KK-03", TS: time.Now(),
		Direction: mqttsim.In, People: mqttsim.Ptr(2), Vehicles: mqttsim.Ptr(0), VoicePlayed: mqttsim.Ptr(spk.Plays("KK-03"))}); err != nil {
		t.Fatal(err)
	}
	if err := pub.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	wait("voice-missed", has("voice-missed", "alert.firing", "voice_missed"))
	for _, d := range desk.Deliveries() {
		if d.Alert.Rule == "voice-missed" && (d.Alert.Device != "KK-03" || d.Alert.Severity != "orange" || d.Alert.Value != 5) {
			t.Errorf("voice-missed alert %+v", d.Alert)
		}
	}

	// A bad station: humidity missing (null), then impossible. Neither is
	// rated; the next good reading is.
	reading(base.Add(3*time.Second), `"temp":5,"rh":null,"wind":0,"rain":0`)
	reading(base.Add(4*time.Second), `"temp":5,"rh":150,"wind":0,"rain":0`)
	reading(base.Add(5*time.Second), `"temp":5,"rh":90,"wind":0,"rain":0`)
	type row struct {
		at           time.Time
		level, index float64
	}
	var rows []row
	testenv.Eventually(t, 60*time.Second, func() bool {
		res, err := influx.Query("hazard", `SELECT "level", "index" FROM fire_danger WHERE station = 'WS-01'`)
		if err != nil || len(res.Series) != 1 {
			return false
		}
		rows = rows[:0]
		for _, v := range res.Series[0].Values {
			at, _ := time.Parse(time.RFC3339Nano, v[0].(string))
			lv, _ := v[1].(float64)
			ix, _ := v[2].(float64)
			rows = append(rows, row{at, lv, ix})
		}
		return len(rows) >= 4
	}, "four fire_danger points")
	want := []row{{base, 3, 64}, {base.Add(time.Second), 4, 77}, {base.Add(2 * time.Second), 5, 95}, {base.Add(5 * time.Second), 5, 95}}
	if len(rows) != len(want) {
		t.Fatalf("fire_danger rows %v, want %v", rows, want)
	}
	for i := range want {
		if !rows[i].at.Equal(want[i].at) || rows[i].level != want[i].level || rows[i].index != want[i].index {
			t.Errorf("fire_danger row %d = %v, want %v", i, rows[i], want[i])
		}
	}
	// A silent station is alarmed (and the rating stays where it was).
	wait("weather-station-offline", has("weather-station-offline", "alert.firing", "offline"))

	// A restart: the retained command, cleared meanwhile on the broker, is
	// published again at start; the day and its dry-day count carry on (a
	// calm reading still rates the day's 95); the fire-danger alarm is the
	// same occurrence.
	g.stop(30 * time.Second)
	if out, err := exec.CommandContext(ctx, filepath.Join(filepath.Dir(sub), "mosquitto_pub"), "-h", host, "-p", bport,
		"-t", cmdTopic, "-r", "-n", "-q", "1").CombinedOutput(); err != nil {
		t.Fatalf("clear the retained command: %v: %s", err, out)
	}
	startGateway(t, config, "DUTY_DESK_SECRET="+deskSecret)
	retained("the level told again after the restart")
	reading(base.Add(6*time.Second), `"temp":5,"rh":90,"wind":0,"rain":0`)
	testenv.Eventually(t, 60*time.Second, func() bool {
		res, err := influx.Query("hazard", `SELECT "level", "index", "c" FROM fire_danger WHERE station = 'WS-01' ORDER BY time DESC LIMIT 1`)
		if err != nil || len(res.Series) != 1 {
			return false
		}
		v := res.Series[0].Values[0]
		return v[0] == base.Add(6*time.Second).UTC().Format(time.RFC3339) && v[1] == 5.0 && v[2] == 95.0 && v[3] == 30.0
	}, "the rating after the restart continues the day")
	firing, missed := 0, 0
	for _, d := range desk.Deliveries() {
		if d.Alert.Rule == "voice-missed" && d.Type == "alert.firing" {
			missed++
		}
		if d.Alert.Rule == "fire-danger" && d.Type == "alert.firing" {
			firing++
		}
		if d.Alert.Rule == "fire-danger" && d.Type == "alert.resolved" {
			t.Errorf("the rating resolved while the station was bad or silent: %+v", d.Alert)
		}
	}
	if missed != 1 {
		t.Errorf("voice-missed fired %d times, want once (the passage that heard the warning raises nothing)", missed)
	}
	if firing != 1 {
		t.Errorf("fire-danger fired %d times, want one occurrence across the restart", firing)
	}
}
