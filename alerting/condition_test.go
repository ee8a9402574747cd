package alerting

import (
	"math"
	"testing"
	"time"
)

func f(v float64) *float64 { return &v }

var t0 = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func mustRule(t testing.TB, c RuleConfig) *rule {
	t.Helper()
	if c.Name == "" {
		c.Name = "r"
	}
	r, err := compileRule(0, c)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// gasRule is GB/T 50493 combustible gas: first level 25, second 50 %LEL.
func gasRule(t testing.TB, deadband float64, on, off time.Duration) *rule {
	return mustRule(t, RuleConfig{Name: "combustible-gas", Match: Match{Kind: "gas_detector", Point: "ch4"},
		Thresholds: []Threshold{{Level: "high", Above: f(25), Severity: "yellow"}, {Level: "high-high", Above: f(50), Severity: "red"}},
		Deadband:   deadband, OnDelay: on, OffDelay: off})
}

// o2Rule has limits on both sides: oxygen above 23.5 or below 19.5 %VOL.
func o2Rule(t testing.TB) *rule {
	return mustRule(t, RuleConfig{Name: "oxygen", Match: Match{Point: "o2"},
		Thresholds: []Threshold{
			{Level: "low", Below: f(19.5), Severity: "orange"}, {Level: "high", Above: f(23.5), Severity: "orange"},
			{Level: "low-low", Below: f(18), Severity: "red"},
		}, Deadband: 0.5})
}

func levelName(r *rule, i int) string {
	if i < 0 {
		return "normal"
	}
	return r.levels[i].name
}

func TestTarget(t *testing.T) {
	gas := gasRule(t, 2, 0, 0)
	o2 := o2Rule(t)
	idx := func(r *rule, name string) int {
		for i, l := range r.levels {
			if l.name == name {
				return i
			}
		}
		if name != "normal" {
			t.Fatalf("no level %s", name)
		}
		return -1
	}
	tests := []struct {
		name string
		r    *rule
		cur  string
		x    float64
		want string
	}{
		{"below first level", gas, "normal", 24.9, "normal"},
		{"at the set point fires", gas, "normal", 25, "high"},
		{"between levels", gas, "normal", 49.99, "high"},
		{"highest breached level wins", gas, "normal", 60, "high-high"},
		{"deadband holds high", gas, "high", 23.5, "high"},
		{"deadband edge still held", gas, "high", 23, "high"},
		{"past the deadband clears", gas, "high", 22.99, "normal"},
		{"deadband does not arm a level not in force", gas, "high", 49, "high"},
		{"high-high held in its deadband", gas, "high-high", 48.5, "high-high"},
		{"high-high drops to high past its deadband", gas, "high-high", 47.9, "high"},
		{"from high-high straight to normal", gas, "high-high", 10, "normal"},
		{"from high-high, high held by deadband", gas, "high-high", 24, "high"},
		{"NaN keeps what is in force", gas, "high", math.NaN(), "high"},
		{"NaN from normal", gas, "normal", math.NaN(), "normal"},
		{"below limit", o2, "normal", 19.4, "low"},
		{"below limit, more extreme and more severe", o2, "normal", 17, "low-low"},
		{"below deadband holds", o2, "low", 19.9, "low"},
		{"below clears above limit+deadband", o2, "low", 20.1, "normal"},
		{"low-low held, low beneath it", o2, "low-low", 18.4, "low-low"},
		{"low-low clears to low", o2, "low-low", 18.6, "low"},
		{"other direction is not held", o2, "low", 23.6, "high"},
		{"high direction deadband", o2, "high", 23.1, "high"},
		{"normal band", o2, "normal", 20.9, "normal"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.r.target(tc.x, idx(tc.r, tc.cur))
			if levelName(tc.r, got) != tc.want {
				t.Errorf("target(%v, %s) = %s, want %s", tc.x, tc.cur, levelName(tc.r, got), tc.want)
			}
		})
	}
}

func TestStepDelays(t *testing.T) {
	r := gasRule(t, 0, 2*time.Second, 5*time.Second)
	type in struct {
		d      time.Duration
		target int
	}
	tests := []struct {
		name   string
		steps  []in
		levels []int // level in force after each step
	}{
		{"breach must persist for on_delay",
			[]in{{0, 0}, {time.Second, 0}, {2 * time.Second, 0}},
			[]int{-1, -1, 0}},
		{"a short breach never fires",
			[]in{{0, 0}, {time.Second, -1}, {1500 * time.Millisecond, 0}, {3 * time.Second, 0}, {3500 * time.Millisecond, 0}},
			[]int{-1, -1, -1, -1, 0}},
		{"escalation within the wait goes straight to the worst level",
			[]in{{0, 0}, {time.Second, 1}, {2 * time.Second, 1}},
			[]int{-1, -1, 1}},
		{"normal must persist for off_delay",
			[]in{{0, 0}, {2 * time.Second, 0}, {3 * time.Second, -1}, {7 * time.Second, -1}, {8 * time.Second, -1}},
			[]int{-1, 0, 0, 0, -1}},
		{"a relapse restarts off_delay",
			[]in{{0, 0}, {2 * time.Second, 0}, {3 * time.Second, -1}, {6 * time.Second, 0}, {7 * time.Second, -1}, {11 * time.Second, -1}, {12 * time.Second, -1}},
			[]int{-1, 0, 0, 0, 0, 0, -1}},
		{"de-escalation waits for off_delay too",
			[]in{{0, 1}, {2 * time.Second, 1}, {3 * time.Second, 0}, {7 * time.Second, 0}, {8 * time.Second, 0}},
			[]int{-1, 1, 1, 1, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := normalState
			for i, st := range tc.steps {
				s = r.step(s, st.target, at(st.d))
				if s.Level != tc.levels[i] {
					t.Fatalf("step %d (t=%v target %d): level %d, want %d (state %+v)", i, st.d, st.target, s.Level, tc.levels[i], s)
				}
			}
		})
	}
}

func TestStepNoDelayIsImmediate(t *testing.T) {
	r := gasRule(t, 0, 0, 0)
	s := r.step(normalState, 1, t0)
	if s.Level != 1 || !s.Since.IsZero() {
		t.Fatalf("state %+v", s)
	}
	s = r.step(s, -1, t0)
	if s.Level != -1 {
		t.Fatalf("state %+v", s)
	}
}

func TestDelayRunsFromFirstGoodReading(t *testing.T) {
	// Readings missing between two breaching ones (failed polls) do not
	// restart on_delay: it runs from the first good breaching reading.
	r := gasRule(t, 0, 2*time.Second, 0)
	s := r.step(normalState, 0, at(0))
	if s.Level != -1 {
		t.Fatalf("fired at once: %+v", s)
	}
	s = r.step(s, 0, at(2*time.Second)) // the reading at 1s was missing
	if s.Level != 0 {
		t.Fatalf("not fired after on_delay across a missing reading: %+v", s)
	}
}

func TestRateWindow(t *testing.T) {
	// series returns n readings one every step, value f(i).
	series := func(n int, step time.Duration, f func(i int) float64) []float64 {
		out := make([]float64, n)
		for i := range out {
			out[i] = f(i)
		}
		return out
	}
	still := func(i int) float64 { return 12000 }
	tests := []struct {
		name    string
		rising  bool
		step    time.Duration
		vals    []float64
		wantOK  bool
		atLeast float64 // rising: slope ≥; falling: slope ≤
		atMost  float64 // rising: slope ≤; falling: slope ≥
	}{
		{"steady rise of 2 mm/s is 120 per minute", true, time.Second, series(40, time.Second, func(i int) float64 { return 1000 + 2*float64(i) }), true, 119.9, 120.1},
		{"steady fall of 1 mm/s is -60 per minute", false, time.Second, series(40, time.Second, func(i int) float64 { return 1000 - float64(i) }), true, -60.1, -59.9},
		{"still tank", true, time.Second, series(40, time.Second, still), true, -0.001, 0.001},
		{"one zero reading last does not rise", true, time.Second, append(series(39, time.Second, still), 0), true, -1e9, 0.001},
		{"one zero reading last does not fall", false, time.Second, append(series(39, time.Second, still), 0), true, -0.001, 1e9},
		{"one zero reading in the middle does not rise", true, time.Second, func() []float64 { v := series(40, time.Second, still); v[20] = 0; return v }(), true, -1e9, 0.001},
		{"one spike in the middle does not fall", false, time.Second, func() []float64 { v := series(40, time.Second, still); v[20] = 99999; return v }(), true, -0.001, 1e9},
		{"three readings with one outlier", true, 20 * time.Second, []float64{12000, 12000, 0}, true, -1e9, 0.001},
		{"two readings are too few", true, 30 * time.Second, []float64{1, 100}, false, 0, 0},
		{"readings spanning less than half the window", true, time.Second, series(20, time.Second, func(i int) float64 { return float64(i) * 10 }), false, 0, 0},
		{"fast polling thins but keeps the slope", true, 100 * time.Millisecond, series(1200, 0, func(i int) float64 { return float64(i) * 0.2 }), true, 119.9, 120.1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newRateWindow(time.Minute, tc.rising)
			var got float64
			var ok bool
			for i, v := range tc.vals {
				got, ok = w.add(t0.Add(time.Duration(i)*tc.step), v)
			}
			if len(w.t) > maxRateSamples {
				t.Errorf("window keeps %d readings, bound %d", len(w.t), maxRateSamples)
			}
			if ok != tc.wantOK {
				t.Fatalf("ok %v, want %v (slope %v)", ok, tc.wantOK, got)
			}
			if ok && (got < tc.atLeast || got > tc.atMost) {
				t.Fatalf("slope %v per minute, want in [%v, %v]", got, tc.atLeast, tc.atMost)
			}
		})
	}
	t.Run("late reading is ignored", func(t *testing.T) {
		w := newRateWindow(time.Minute, true)
		for i := range 40 {
			w.add(t0.Add(time.Duration(i)*time.Second), 5)
		}
		if _, ok := w.add(t0, 1e6); ok || len(w.t) != 40 {
			t.Fatalf("late reading taken: ok %v, %d readings", ok, len(w.t))
		}
	})
}

func TestStaleTarget(t *testing.T) {
	byCount := mustRule(t, RuleConfig{Stale: &Stale{After: StaleAfter{Intervals: 3}}})
	byTime := mustRule(t, RuleConfig{Stale: &Stale{After: StaleAfter{Duration: 2 * time.Minute}}})
	tests := []struct {
		name string
		r    *rule
		d    deviceSeen
		now  time.Duration
		want bool
	}{
		{"fresh polled device", byCount, deviceSeen{Interval: time.Second, LastGood: t0}, 1500 * time.Millisecond, false},
		{"one failed poll is not offline", byCount, deviceSeen{Interval: time.Second, LastGood: t0, Failures: 1}, 1500 * time.Millisecond, false},
		{"three failed polls in a row", byCount, deviceSeen{Interval: time.Second, LastGood: t0, Failures: 3}, 1500 * time.Millisecond, true},
		{"three silent intervals", byCount, deviceSeen{Interval: time.Second, LastGood: t0}, 3 * time.Second, true},
		{"just under three intervals", byCount, deviceSeen{Interval: time.Second, LastGood: t0}, 2999 * time.Millisecond, false},
		{"no interval: offline when reported", byCount, deviceSeen{LastGood: t0, Failures: 1}, time.Second, true},
		{"no interval: silence alone is not counted", byCount, deviceSeen{LastGood: t0}, time.Hour, false},
		{"duration: silence", byTime, deviceSeen{LastGood: t0}, 2 * time.Minute, true},
		{"duration: not yet", byTime, deviceSeen{LastGood: t0}, 119 * time.Second, false},
		{"duration: MQTT source reported offline", byTime, deviceSeen{LastGood: t0, Failures: 1}, time.Second, true},
		{"duration: polled device's one failure waits for the duration", byTime, deviceSeen{Interval: time.Second, LastGood: t0, Failures: 1}, time.Second, false},
		{"answering with bad values for three intervals", byCount, deviceSeen{Interval: time.Second, LastGood: t0, BadValue: true}, 3 * time.Second, true},
		{"bad values, not yet three intervals", byCount, deviceSeen{Interval: time.Second, LastGood: t0, BadValue: true}, 2 * time.Second, false},
		{"duration: bad values", byTime, deviceSeen{LastGood: t0, BadValue: true}, 2 * time.Minute, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.r.staleTarget(tc.d, at(tc.now))
			if (got >= 0) != tc.want {
				t.Errorf("stale = %v (%d), want %v", got >= 0, got, tc.want)
			}
			if want := staleOffline; got >= 0 && tc.d.BadValue && tc.d.Failures == 0 {
				if got != staleBadValue {
					t.Errorf("level %d, want bad_value", got)
				}
			} else if got >= 0 && got != want {
				t.Errorf("level %d, want offline", got)
			}
		})
	}
}

func TestEventMatches(t *testing.T) {
	r := mustRule(t, RuleConfig{Match: Match{Kind: "fire_detection"}, Event: &Event{Types: []string{"smoke", "fire"}, MinConfidence: 0.7}})
	any := mustRule(t, RuleConfig{Event: &Event{}})
	tests := []struct {
		r    *rule
		typ  string
		conf float64
		want bool
	}{
		{r, "fire", 0.9, true},
		{r, "fire", 0.7, true},
		{r, "smoke", 0.5, false},
		{r, "hotspot", 0.99, false},
		{r, "fire", math.NaN(), false},
		{any, "hotspot", 0.01, true},
	}
	for _, tc := range tests {
		if got := tc.r.eventMatches(tc.typ, tc.conf); got != tc.want {
			t.Errorf("%v eventMatches(%s, %v) = %v, want %v", tc.r.eventTypes, tc.typ, tc.conf, got, tc.want)
		}
	}
}

func TestCompileRules(t *testing.T) {
	bad := []struct {
		name string
		c    RuleConfig
	}{
		{"no name", RuleConfig{Thresholds: []Threshold{{Level: "h", Above: f(1)}}}},
		{"no condition", RuleConfig{Name: "x"}},
		{"two conditions", RuleConfig{Name: "x", Thresholds: []Threshold{{Level: "h", Above: f(1)}}, Stale: &Stale{}}},
		{"above and below", RuleConfig{Name: "x", Thresholds: []Threshold{{Level: "h", Above: f(1), Below: f(0)}}}},
		{"neither above nor below", RuleConfig{Name: "x", Thresholds: []Threshold{{Level: "h"}}}},
		{"bad glob", RuleConfig{Name: "x", Match: Match{Device: "GD-["}, Stale: &Stale{}}},
		{"rate without per", RuleConfig{Name: "x", Rate: &Rate{Above: f(1)}}},
		{"rate above not positive", RuleConfig{Name: "x", Rate: &Rate{Above: f(-1), Per: time.Minute}}},
		{"rate below not negative", RuleConfig{Name: "x", Rate: &Rate{Below: f(1), Per: time.Minute}}},
		{"rate above and below", RuleConfig{Name: "x", Rate: &Rate{Above: f(1), Below: f(-1), Per: time.Minute}}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := compileRules([]RuleConfig{tc.c}); err == nil {
				t.Error("compiled")
			}
		})
	}
	if _, err := compileRules([]RuleConfig{{Name: "a", Stale: &Stale{}}, {Name: "a", Stale: &Stale{}}}); err == nil {
		t.Error("duplicate names compiled")
	}
	r := mustRule(t, RuleConfig{State: &StateCondition{Value: true, Level: "fault"}})
	if r.levels[0].severity != SeverityRed || r.levels[0].name != "fault" {
		t.Errorf("state rule defaults: %+v", r.levels[0])
	}
	r = mustRule(t, RuleConfig{Stale: &Stale{}})
	if r.staleIntervals != DefaultStaleIntervals {
		t.Errorf("stale default %d", r.staleIntervals)
	}
}

func TestMatch(t *testing.T) {
	r := mustRule(t, RuleConfig{Match: Match{Kind: "gas_*", Device: "GD-1??", Point: "ch4"}, Thresholds: []Threshold{{Level: "h", Above: f(1)}}})
	stale := mustRule(t, RuleConfig{Match: Match{Device: "*", Point: "ch4"}, Stale: &Stale{}})
	tests := []struct {
		r                   *rule
		kind, device, point string
		want                bool
	}{
		{r, "gas_detector", "GD-101", "ch4", true},
		{r, "gas_detector", "GD-1011", "ch4", false},
		{r, "tank", "GD-101", "ch4", false},
		{r, "gas_detector", "GD-101", "h2s", false},
		{stale, "tank", "TK-1", "online", true}, // stale rules are about devices
	}
	for _, tc := range tests {
		if got := tc.r.matches(tc.kind, tc.device, tc.point); got != tc.want {
			t.Errorf("%+v matches(%s,%s,%s) = %v", tc.r.match, tc.kind, tc.device, tc.point, got)
		}
	}
}
