package alerting

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/gateway"
	"github.com/hazardgw/hazardgw/internal/conf"
	"github.com/hazardgw/hazardgw/internal/testenv"
)

var dangerDevices = []Device{
	{ID: "WS-01", Label: "北山林区1号气象站", Kind: "weather_station", Interval: 10 * time.Second},
	{ID: "KK-03", Label: "九仙山入口智能语音卡口", Kind: "checkpoint_passage"},
}

var dangerRules = []RuleConfig{
	{Name: "fire-danger", Match: Match{Kind: "fire_danger", Point: "level"}, Thresholds: []Threshold{
		{Level: "level3", Above: f(3), Severity: "yellow"},
		{Level: "level4", Above: f(4), Severity: "orange"},
		{Level: "level5", Above: f(5), Severity: "red"}}},
	{Name: "voice-missed", Match: Match{Kind: "checkpoint_passage"}, VoiceMissed: &VoiceMissed{MinLevel: 3},
		Severity: "orange", AutoResolve: 30 * time.Minute},
}

func newForestEngine(t *testing.T, path string, clock *testenv.Clock) *syncEngine {
	t.Helper()
	return openSync(t, path, clock, Config{Rules: dangerRules}, Options{Site: "bs-forest-01", Devices: dangerDevices}, 0)
}

func danger(s *syncEngine, level int) gateway.Point {
	return gateway.Point{Measurement: gateway.MeasurementFireDanger,
		Tags: []gateway.Tag{{Key: "site", Value: "bs"}, {Key: gateway.TagStation, Value: "WS-01"}},
		Fields: []gateway.Field{gateway.Int("index", int64(level*20)), gateway.Int("level", int64(level)),
			gateway.Int("a", 16), gateway.Int("b", 16), gateway.Int("c", 30), gateway.Int("e", 15)},
		Time: s.clock.Now()}
}

func passage(s *syncEngine, cp string, played bool) gateway.Point {
	return gateway.Point{Measurement: "checkpoint_passage",
		Tags:   []gateway.Tag{{Key: "site", Value: "bs"}, {Key: "checkpoint", Value: cp}, {Key: "direction", Value: "in"}},
		Fields: []gateway.Field{gateway.Int("people", 2), gateway.Int("vehicles", 0), gateway.Bool("voice_played", played)},
		Time:   s.clock.Now()}
}

// TestVoiceMissed: a passage without the voice warning alarms only while
// the level is at least min_level; one alert per occurrence, resolved
// auto_resolve after the last miss.
func TestVoiceMissed(t *testing.T) {
	s := newForestEngine(t, "", testenv.NewClock(t0))
	voice := func() []string {
		var out []string
		for _, n := range s.notes() {
			if strings.Contains(n, "voice_missed") {
				out = append(out, n)
			}
		}
		return out
	}
	s.feed(passage(s, "KK-03", false))
	eq(t, "no level known yet", voice(), nil)
	s.feed(danger(s, 2))
	s.feed(passage(s, "KK-03", false))
	eq(t, "level 2 < min_level 3", voice(), nil)
	s.feed(danger(s, 4))
	s.feed(passage(s, "KK-03", true))
	eq(t, "played", voice(), nil)
	s.clock.Add(time.Minute)
	s.feed(passage(s, "KK-03", false))
	eq(t, "missed at level 4", voice(), []string{"alert.firing voice_missed orange"})
	s.clock.Add(20 * time.Minute)
	s.feed(passage(s, "KK-03", false)) // the same occurrence, extended
	s.clock.Add(20 * time.Minute)
	s.tick()
	eq(t, "extended by the second miss", voice(), []string{"alert.firing voice_missed orange"})
	s.clock.Add(10 * time.Minute)
	s.tick()
	eq(t, "resolved 30m after the last miss", voice(), []string{"alert.firing voice_missed orange", "alert.resolved voice_missed orange"})
	s.clock.Add(time.Minute)
	s.feed(passage(s, "KK-03", false))
	eq(t, "a new occurrence", voice(), []string{"alert.firing voice_missed orange", "alert.resolved voice_missed orange", "alert.firing voice_missed orange"})

	var p payload
	for _, m := range s.outbox() {
		_ = json.Unmarshal(m.Body, &p)
		if p.Data.Rule == "voice-missed" {
			break
		}
	}
	if p.Data.Device != "KK-03" || p.Data.Point != "voice_played" || p.Data.Value != 4 || p.Data.Threshold == nil || *p.Data.Threshold != 3 ||
		!strings.Contains(p.Data.Message, "九仙山入口智能语音卡口") || !strings.Contains(p.Data.Message, "4 级") {
		t.Errorf("voice_missed payload %+v", p.Data)
	}
}

// TestFireDangerAlertsOnStation: rules on kind fire_danger alarm the
// station's rating as its own kind (not the station's), and a restart
// keeps the alert rather than ending it as a changed rule.
func TestFireDangerAlertsOnStation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.db")
	clock := testenv.NewClock(t0)
	s := newForestEngine(t, path, clock)
	levels := func(s *syncEngine) []string {
		var out []string
		for _, n := range s.notes() {
			if strings.Contains(n, "level") {
				out = append(out, n)
			}
		}
		return out
	}
	s.feed(danger(s, 2))
	s.feed(danger(s, 3))
	s.feed(danger(s, 5))
	eq(t, "rising", levels(s), []string{"alert.firing level3 yellow", "alert.changed level5 red"})
	var p payload
	_ = json.Unmarshal(s.outbox()[0].Body, &p)
	if p.Data.Kind != "fire_danger" || p.Data.Device != "WS-01" || p.Data.Point != "level" {
		t.Errorf("fire danger alert %+v", p.Data)
	}
	s.close()

	s2 := newForestEngine(t, path, clock)
	clock.Add(time.Minute)
	s2.feed(danger(s2, 5))
	eq(t, "after restart", levels(s2), []string{"alert.firing level3 yellow", "alert.changed level5 red"})
	s2.feed(danger(s2, 4))
	s2.feed(danger(s2, 1))
	eq(t, "falling", levels(s2), []string{"alert.firing level3 yellow", "alert.changed level5 red", "alert.changed level4 orange", "alert.resolved level4 orange"})
}

func TestVoiceMissedValidate(t *testing.T) {
	for _, c := range []struct {
		rule RuleConfig
		want string
	}{
		{RuleConfig{Name: "v", Match: Match{Kind: "checkpoint_passage"}, VoiceMissed: &VoiceMissed{MinLevel: 3}, Severity: "orange", AutoResolve: time.Hour}, ""},
		{RuleConfig{Name: "v", VoiceMissed: &VoiceMissed{}, Severity: "orange"}, "min_level"},
		{RuleConfig{Name: "v", VoiceMissed: &VoiceMissed{MinLevel: 6}, Severity: "orange"}, "min_level"},
		{RuleConfig{Name: "v", VoiceMissed: &VoiceMissed{MinLevel: 3}}, "severity"},
		{RuleConfig{Name: "v", VoiceMissed: &VoiceMissed{MinLevel: 3}, Stale: &Stale{}, Severity: "orange"}, "more than one condition"},
	} {
		cfg := Config{Rules: []RuleConfig{c.rule}}
		var p conf.Problems
		cfg.Validate("alerting", &p)
		got := ""
		for _, pr := range p.List {
			got += pr.Path + ": " + pr.Msg + "\n"
		}
		if c.want == "" && got != "" || c.want != "" && !strings.Contains(got, c.want) {
			t.Errorf("%+v: problems %q, want %q", c.rule, got, c.want)
		}
		if _, err := compileRules(cfg.Rules); (err == nil) != (c.want == "" || c.want == "severity") {
			t.Errorf("%+v: compile error %v", c.rule, err)
		}
	}
}

// TestVoiceMissedAfterRestart: the level restored at start (the rating's
// saved level) makes a passage without the voice warning alarm at once;
// a level observed since the start is newer and wins; level 0 is none.
func TestVoiceMissedAfterRestart(t *testing.T) {
	for _, tc := range []struct {
		name     string
		restored int
		observed int // a fire_danger point before the passage, 0: none
		want     bool
	}{
		{"restored level 4", 4, 0, true},
		{"restored below min_level", 2, 0, false},
		{"nothing rated yet", 0, 0, false},
		{"observed since the start wins", 4, 1, false},
		{"observed high after a low restore", 1, 5, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newForestEngine(t, "", testenv.NewClock(t0))
			s.e.RestoreDangerLevel(tc.restored)
			if tc.observed > 0 {
				s.feed(danger(s, tc.observed))
			}
			s.feed(passage(s, "KK-03", false))
			fired := false
			for _, p := range s.payloads() {
				if p.Type == TypeFiring && p.Data.Level == levelVoiceMissed {
					fired = true
					if want := float64(max(tc.restored, tc.observed)); tc.observed == 0 && p.Data.Value != want {
						t.Errorf("voice_missed value %v, want the restored level %v", p.Data.Value, want)
					}
				}
			}
			if fired != tc.want {
				t.Errorf("voice_missed fired %v, want %v: %v", fired, tc.want, s.notes())
			}
		})
	}
}
