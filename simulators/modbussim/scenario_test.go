package modbussim

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func compileGen(t *testing.T, src string, def float64, nk noiseKey) generator {
	t.Helper()
	var g genSpec
	mustNoErr(t, yaml.Unmarshal([]byte(src), &g))
	gen, err := g.compile(def, nk)
	if err != nil {
		t.Fatalf("compile %s: %v", src, err)
	}
	return gen
}

func TestGenerators(t *testing.T) {
	s := time.Second
	tests := []struct {
		name string
		src  string
		at   []time.Duration
		want []float64
	}{
		{"const", "{const: 4.5}", []time.Duration{0, time.Hour}, []float64{4.5, 4.5}},
		{"ramp then hold", "{ramp: {from: 10, to: 20, at: 10s, over: 10s}}",
			[]time.Duration{0, 10 * s, 15 * s, 20 * s, time.Hour}, []float64{10, 10, 15, 20, 20}},
		{"ramp down", "{ramp: {from: 50, to: 0, over: 100s}}",
			[]time.Duration{25 * s, 100 * s}, []float64{37.5, 0}},
		{"step, default before the first", "{step: [{at: 5s, value: 1}, {at: 10s, value: 2}]}",
			[]time.Duration{0, 5 * s, 9 * s, 10 * s, time.Hour}, []float64{-1, 1, 1, 2, 2}},
		{"curve", "{curve: [{at: 0s, value: 3}, {at: 60s, value: 3}, {at: 120s, value: 30}, {at: 180s, value: 0}]}",
			[]time.Duration{30 * s, 90 * s, 120 * s, 150 * s, time.Hour}, []float64{3, 16.5, 30, 15, 0}},
		{"sine", "{sine: {base: 20, amplitude: 5, period: 40s}}",
			[]time.Duration{0, 10 * s, 20 * s, 30 * s}, []float64{20, 25, 20, 15}},
		{"sine with phase", "{sine: {base: 0, amplitude: 1, period: 4s, phase: 90}}",
			[]time.Duration{0, 2 * s}, []float64{1, -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := compileGen(t, tt.src, -1, noiseKey{})
			for i, at := range tt.at {
				if got := g(at); math.Abs(got-tt.want[i]) > 1e-9 {
					t.Errorf("at %v: %v, want %v", at, got, tt.want[i])
				}
			}
		})
	}
}

func TestNoise(t *testing.T) {
	nk := noiseKey{seed: 7, unit: 1, point: "ch4", quantum: 100 * time.Millisecond}
	a := compileGen(t, "{noise: {base: 20, amplitude: 0.5}}", 0, nk)
	b := compileGen(t, "{noise: {base: 20, amplitude: 0.5}}", 0, nk)
	other := compileGen(t, "{noise: {base: 20, amplitude: 0.5}}", 0, noiseKey{seed: 8, unit: 1, point: "ch4", quantum: nk.quantum})
	onRamp := compileGen(t, "{ramp: {from: 0, to: 100, over: 100s}, noise: {amplitude: 1}}", 0, nk)
	var differs, varies bool
	for i := range 1000 {
		at := time.Duration(i) * nk.quantum
		v := a(at)
		if v != b(at) {
			t.Fatalf("same seed, different noise at %v", at)
		}
		if v < 19.5 || v > 20.5 {
			t.Fatalf("noise %v outside 20 ± 0.5", v)
		}
		differs = differs || v != other(at)
		varies = varies || v != a(0)
		if r := onRamp(at); math.Abs(r-float64(i)/10) > 1 {
			t.Fatalf("ramp+noise at %v: %v", at, r)
		}
	}
	if !differs || !varies {
		t.Fatalf("noise not random enough: differs=%v varies=%v", differs, varies)
	}
	if a(nk.quantum) != a(nk.quantum+nk.quantum/2) {
		t.Fatal("noise changed within one tick")
	}
}

func TestScenarioErrors(t *testing.T) {
	unit := func(points string) string {
		return "modbus: {listeners: {tcp: {units: [{unit: 1, profile: gas_detector, points: {" + points + "}}]}}}"
	}
	tests := []struct {
		name, src string
		want      []string
	}{
		{"unknown key", "modbus: {tick: 1s, tock: 2s}", []string{"tock"}},
		{"not yaml", "modbus: [", []string{"yaml"}},
		{"no units", "seed: 1", []string{"no units"}},
		{"unknown profile", "modbus: {listeners: {tcp: {units: [{unit: 1, profile: toaster}]}}}", []string{"units[0].profile", "toaster"}},
		{"unit out of range", "modbus: {listeners: {rtu: {units: [{unit: 248, profile: tank}]}}}", []string{"rtu.units[0].unit", "1..247"}},
		{"duplicate unit", "modbus: {listeners: {tcp: {units: [{unit: 2, profile: tank}]}, rtu: {units: [{unit: 2, profile: tank}]}}}",
			[]string{"rtu.units[0].unit: 2 already declared"}},
		{"unknown point", unit("benzene: {const: 1}"), []string{"points.benzene", "no such point"}},
		{"two generators", unit("ch4: {const: 1, sine: {period: 1s}}"), []string{"points.ch4", "one of"}},
		{"empty generator", unit("ch4: {}"), []string{"no generator"}},
		{"ramp without over", unit("ch4: {ramp: {from: 1, to: 2}}"), []string{"ramp.over"}},
		{"steps out of order", unit("ch4: {step: [{at: 2s, value: 1}, {at: 1s, value: 2}]}"), []string{"step[1].at"}},
		{"noise base with a base", unit("ch4: {const: 1, noise: {base: 3, amplitude: 1}}"), []string{"noise.base"}},
		{"bad duration", "modbus: {tick: soon}", []string{"soon"}},
		{"fault for undeclared unit", "modbus: {listeners: {tcp: {units: [{unit: 1, profile: tank}]}}, faults: [{unit: 2, mode: drop}]}",
			[]string{"faults[0].unit: 2 is not declared"}},
		{"bad fault mode", "modbus: {listeners: {tcp: {units: [{unit: 1, profile: tank}]}}, faults: [{unit: 1, mode: melt, from: 1s, to: 2s}]}",
			[]string{"faults[0]", "melt"}},
		{"empty fault window", "modbus: {listeners: {tcp: {units: [{unit: 1, profile: tank}]}}, faults: [{unit: 1, mode: drop, from: 2s, to: 1s}]}",
			[]string{"faults[0]", "empty"}},
		{"several problems at once", "modbus: {listeners: {tcp: {units: [{unit: 0, profile: tank}, {unit: 3, profile: toaster}]}}, faults: [{unit: 9, mode: melt}]}",
			[]string{"units[0].unit", "units[1].profile", "faults[0].unit"}},
		{"other simulators' sections are not ours to check", "mqtt: {anything: [1, 2]}\ndutydesk: 3\nmodbus: {tock: 1}", []string{"tock"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestServer(t)
			err := s.LoadScenario(strings.NewReader(tt.src))
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestDefaultScenario(t *testing.T) {
	s := newTestServer(t)
	mustNoErr(t, s.LoadScenario(strings.NewReader(string(DefaultScenario()))))
	want := map[uint8]struct {
		profile string
		on      transports
	}{
		1: {"gas_detector", onTCP}, 2: {"gas_detector", onTCP}, 3: {"tank", onTCP},
		4: {"weather_station", onTCP}, 11: {"tank", onRTU}, 12: {"gas_detector", onRTU},
	}
	units := s.Units()
	if len(units) != len(want) {
		t.Fatalf("%d units, want %d", len(units), len(want))
	}
	for _, u := range units {
		w := want[u.ID()]
		name, label := u.Profile()
		if name != w.profile || transports(u.on.Load()) != w.on || label == "" {
			t.Errorf("unit %d: profile %q label %q transports %v", u.ID(), name, label, transports(u.on.Load()))
		}
	}
	v := s.UnitValues(1)
	if math.Abs(v["ch4"]-3) > 0.3 || math.Abs(v["o2"]-20.9) > 0.06 || v["alarm"] != 0 {
		t.Errorf("unit 1 at t=0: %v", v)
	}
	if v := s.UnitValues(3); math.Abs(v["level_mm"]-8000) > 1.1 {
		t.Errorf("unit 3 at t=0: %v", v)
	}
}

// The timeline is a pure function of time: step it by hand.
func TestScenarioTimeline(t *testing.T) {
	s := newTestServer(t)
	mustNoErr(t, s.LoadScenario(strings.NewReader(string(DefaultScenario()))))
	sc := s.scen
	applied, failing := map[uint8]Fault{}, map[uint8]bool{}
	at := func(d time.Duration) { s.step(sc, d, applied, failing) }
	u1, u3, u12 := s.Unit(1), s.Unit(3), s.Unit(12)

	at(150 * time.Second) // between high (25) and high-high (50)
	if v := u1.Values(); v["ch4"] < 40 || v["ch4"] > 45 || v["alarm"] != 1 {
		t.Errorf("at 150s: %v", v)
	}
	at(70 * time.Second)
	if f := u3.Fault(); f.Mode != NoReply {
		t.Errorf("unit 3 fault at 70s: %+v", f)
	}
	at(95 * time.Second)
	if f := u3.Fault(); f.Mode != None {
		t.Errorf("unit 3 fault at 95s: %+v", f)
	}
	at(210 * time.Second)
	if f := u12.Fault(); f.Mode != Slow || f.Delay != 2*time.Second {
		t.Errorf("unit 12 fault at 210s: %+v", f)
	}
	at(10*time.Minute + 75*time.Second) // the timeline loops every 10m
	if f := u3.Fault(); f.Mode != NoReply {
		t.Errorf("unit 3 fault at 11m15s: %+v", f)
	}

	// A hand-set fault survives until the scenario's next transition.
	mustNoErr(t, u1.SetFault(Fault{Mode: Drop}))
	at(100 * time.Second)
	if f := u1.Fault(); f.Mode != Drop {
		t.Errorf("hand-set fault replaced: %+v", f)
	}

	// An override pins a point against the generator until cleared.
	mustNoErr(t, u1.Override("ch4", 99))
	at(20 * time.Second)
	if v := u1.Values()["ch4"]; v != 99 {
		t.Errorf("overridden ch4 = %v", v)
	}
	mustNoErr(t, u1.ClearOverride("ch4"))
	at(20 * time.Second)
	if v := u1.Values()["ch4"]; math.Abs(v-3) > 0.3 {
		t.Errorf("ch4 after clearing the override = %v", v)
	}

	// Points without a generator keep what a master writes.
	mustNoErr(t, u1.SetBits(Coil, 0, true))
	at(30 * time.Second)
	if v := u1.Values()["relay"]; v != 1 {
		t.Errorf("relay = %v after a tick, want the written 1", v)
	}
}

func TestGeneratedValuesAreClamped(t *testing.T) {
	s := newTestServer(t)
	mustNoErr(t, s.LoadScenario(strings.NewReader(
		"modbus: {listeners: {tcp: {units: [{unit: 1, profile: gas_detector, points: {h2s: {const: -5}, ch4: {const: 250}}}]}}}")))
	if v := s.UnitValues(1); v["h2s"] != 0 || v["ch4"] != 100 {
		t.Fatalf("values %v, want h2s clamped to 0 and ch4 to 100", v)
	}
}

func TestRunScenario(t *testing.T) {
	s := New(Options{Logger: testLogger(t), Tick: 5 * time.Millisecond})
	defer s.Close()
	if err := s.RunScenario(context.Background()); err == nil {
		t.Fatal("RunScenario without a scenario: want an error")
	}
	mustNoErr(t, s.LoadScenario(strings.NewReader(
		"modbus: {listeners: {tcp: {units: [{unit: 1, profile: tank, points: {level_mm: {ramp: {from: 100, to: 200, over: 50ms}}}}]}}}")))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.RunScenario(ctx) }()
	waitFor(t, "the ramp to reach 200", func() bool { return s.UnitValues(1)["level_mm"] == 200 })
	if err := s.LoadScenario(strings.NewReader("seed: 1")); err == nil {
		t.Error("LoadScenario while running: want an error")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("RunScenario: %v", err)
	}

	go func() { done <- s.RunScenario(context.Background()) }()
	waitFor(t, "the scenario to run again", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.running
	})
	mustNoErr(t, s.Close()) // stops RunScenario and waits for it
	if err := <-done; err != nil {
		t.Fatalf("RunScenario after Close: %v", err)
	}
}
