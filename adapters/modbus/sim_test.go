package modbus

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/gateway"
	"github.com/hazardgw/hazardgw/simulators/modbussim"
)

// Raw test values per type, each exactly representable as float64 so the
// simulator (which encodes from a float64) and the expectation agree.
var rawByType = map[string]float64{
	"int16": -12345, "uint16": 54321,
	"int32": -123456789, "uint32": 3456789012,
	"int64": -1234567890123456, "uint64": 1<<60 + 4096,
	"float32": 1234.5625, "float64": -98765.4321,
}

var allTypes = []string{"int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64"}
var allOrders = []string{"ABCD", "CDAB", "BADC", "DCBA"}

func typeWords(typ string) int {
	switch typ {
	case "int16", "uint16":
		return 1
	case "int32", "uint32", "float32":
		return 2
	}
	return 4
}

// matrixDevice returns points covering every type × order in area a (plus a
// scaled and offset point per type), writes their raw values into u, and
// returns the expected engineering values.
func matrixDevice(t *testing.T, u *modbussim.Unit, a modbussim.Area, areaName string, base int) ([]PointConfig, map[string]any) {
	t.Helper()
	var pts []PointConfig
	want := map[string]any{}
	addr := base
	for _, typ := range allTypes {
		for _, ord := range allOrders {
			name := fmt.Sprintf("%s_%s_%s", areaName, typ, strings.ToLower(ord))
			if err := u.SetValue(a, uint16(addr), typ, ord, 1, 0, rawByType[typ]); err != nil {
				t.Fatalf("set %s: %v", name, err)
			}
			pts = append(pts, PointConfig{Name: name, Area: areaName, Address: addr, Type: typ, Order: ord})
			want[name] = rawByType[typ]
			addr += typeWords(typ)
		}
		// The same registers again, scaled and offset: overlapping points.
		name := fmt.Sprintf("%s_%s_scaled", areaName, typ)
		pts = append(pts, PointConfig{Name: name, Area: areaName, Address: addr - typeWords(typ), Type: typ, Order: "DCBA", Scale: ptr(0.1), Offset: -40})
		want[name] = rawByType[typ]*0.1 + -40
		addr += 3 // a gap to bridge
	}
	return pts, want
}

func TestEveryTypeAndOrderThroughSimulator(t *testing.T) {
	sim, addr := startSim(t)
	u := sim.Unit(7)
	hold, want := matrixDevice(t, u, modbussim.Holding, "holding", 0)
	in, wantIn := matrixDevice(t, u, modbussim.Input, "input", 1000)
	for k, v := range wantIn {
		want[k] = v
	}
	pts := append(hold, in...)
	// Bits: every bit of a register, coils and discrete inputs.
	const word = 0xA5C3
	if err := u.SetRegisters(modbussim.Holding, 500, word); err != nil {
		t.Fatal(err)
	}
	for b := range 16 {
		name := fmt.Sprintf("bit%d", b)
		pts = append(pts, PointConfig{Name: name, Area: "holding", Address: 500, Type: "bool", Bit: ptr(b)})
		want[name] = word&(1<<b) != 0
	}
	coils := []bool{true, false, false, true, true, false, true, false, false, true}
	if err := u.SetBits(modbussim.Coil, 3, coils...); err != nil {
		t.Fatal(err)
	}
	if err := u.SetBits(modbussim.Discrete, 20, coils...); err != nil {
		t.Fatal(err)
	}
	for i, v := range coils {
		pts = append(pts,
			PointConfig{Name: fmt.Sprintf("coil%d", i), Area: "coil", Address: 3 + i, Type: "bool"},
			PointConfig{Name: fmt.Sprintf("di%d", i), Area: "discrete", Address: 20 + i, Type: "bool"})
		want[fmt.Sprintf("coil%d", i)], want[fmt.Sprintf("di%d", i)] = v, v
	}

	r := runSource(t, Config{Links: []LinkConfig{{
		Name: "l1", URL: "tcp://" + addr, Timeout: time.Second,
		Devices: []DeviceConfig{{ID: "D7", UnitID: 7, Kind: "matrix", Interval: 100 * time.Millisecond, Tags: map[string]string{"area": "A"}, Points: pts}},
	}}})
	waitFor(t, 5*time.Second, "a poll with values", func() bool { return len(r.acc.points("matrix", "D7")) > 0 })
	r.stop()

	p := r.acc.points("matrix", "D7")[0]
	if len(p.Fields) != len(want) {
		t.Errorf("got %d fields, want %d", len(p.Fields), len(want))
	}
	for name, w := range want {
		f, ok := p.Field(name)
		if !ok {
			t.Errorf("%s missing", name)
			continue
		}
		switch w := w.(type) {
		case bool:
			if f.Kind != gateway.KindBool || f.B != w {
				t.Errorf("%s = %+v, want bool %v", name, f, w)
			}
		case float64:
			if f.Kind != gateway.KindFloat || f.F != w {
				t.Errorf("%s = %+v, want float %v", name, f, w)
			}
		}
	}
	for _, k := range []string{"site", "device", "area"} {
		if _, ok := p.Tag(k); !ok {
			t.Errorf("tag %s missing: %v", k, p.Tags)
		}
	}
	// One read per area, plus one for the register of bits far away.
	var reads []string
	for _, rd := range r.src.links[0].devs[0].plan.reads {
		reads = append(reads, fmt.Sprintf("%s %d+%d", rd.area, rd.start, rd.count))
	}
	if got, want := strings.Join(reads, ", "), "coil 3+10, discrete 20+10, holding 0+101, holding 500+1, input 1000+101"; got != want {
		t.Errorf("reads %s, want %s", got, want)
	}
	if got := r.src.Devices()[0]; !got.Online || len(got.Values) != len(pts) {
		t.Errorf("Devices() = %+v", got)
	}
	st := r.acc.status("D7")
	if len(st) == 0 || !online(st[0]) {
		t.Fatalf("device_status = %+v", st)
	}
	if v, _ := st[0].Tag("source"); v != "modbus" {
		t.Errorf("device_status tags %v", st[0].Tags)
	}
}

func TestNaNIsNeverAGoodReading(t *testing.T) {
	sim, addr := startSim(t)
	u := sim.Unit(1)
	_ = u.SetRegisters(modbussim.Holding, 0, 0x7FC0, 0x0000) // float32 NaN
	_ = u.SetRegisters(modbussim.Holding, 2, 0x7F80, 0x0000) // float32 +Inf
	_ = u.SetValue(modbussim.Holding, 4, "float32", "ABCD", 1, 0, 21.5)
	r := runSource(t, Config{Links: []LinkConfig{{Name: "l", URL: "tcp://" + addr, Devices: []DeviceConfig{{
		ID: "G1", UnitID: 1, Kind: "gas_detector", Interval: 50 * time.Millisecond,
		Points: []PointConfig{
			{Name: "ch4", Area: "holding", Address: 0, Type: "float32"},
			{Name: "h2s", Area: "holding", Address: 2, Type: "float32"},
			{Name: "o2", Area: "holding", Address: 4, Type: "float32", Unit: "%VOL"},
		},
	}}}}})
	waitFor(t, 5*time.Second, "a poll", func() bool { return len(r.acc.points("gas_detector", "G1")) > 0 })
	p := r.acc.points("gas_detector", "G1")[0]
	if len(p.Fields) != 1 || p.Fields[0].Key != "o2" || p.Fields[0].F != 21.5 {
		t.Errorf("fields %+v, want only o2=21.5", p.Fields)
	}
	if !p.Valid() {
		t.Errorf("point not valid: %+v", p)
	}
	ds := r.src.Devices()[0]
	q := map[string]Quality{}
	for _, v := range ds.Values {
		q[v.Name] = v.Quality
	}
	if q["ch4"] != QualityBad || q["h2s"] != QualityBad || q["o2"] != QualityGood {
		t.Errorf("qualities %v", q)
	}
	if !ds.Online {
		t.Errorf("device with a NaN point should still be online")
	}
}

// TestDeadUnitDoesNotStallTheLink: a unit that stops answering goes offline
// within two intervals plus the timeout, the other units on its link keep
// their interval (no gap beyond interval + timeout), and it comes back.
func TestDeadUnitDoesNotStallTheLink(t *testing.T) {
	const interval, timeout = 300 * time.Millisecond, 200 * time.Millisecond
	const slack = 500 * time.Millisecond // a noisy shared machine
	sim, addr := startSim(t)
	var devs []DeviceConfig
	for u := 1; u <= 3; u++ {
		_ = sim.Unit(uint8(u)).SetRegisters(modbussim.Holding, 0, uint16(u), 2, 3, 4)
		devs = append(devs, DeviceConfig{
			ID: fmt.Sprintf("U%d", u), UnitID: u, Kind: "k", Interval: interval,
			Points: []PointConfig{{Name: "a", Area: "holding", Address: 0, Type: "uint16"}, {Name: "b", Area: "holding", Address: 2, Type: "uint32"}},
		})
	}
	r := runSource(t, Config{Links: []LinkConfig{{Name: "l", URL: "tcp://" + addr, Timeout: timeout, Devices: devs}}})
	waitFor(t, 5*time.Second, "all online", func() bool {
		for _, d := range r.src.Devices() {
			if !d.Online {
				return false
			}
		}
		return true
	})

	faultAt := time.Now()
	if err := sim.Unit(2).SetFault(modbussim.Fault{Mode: modbussim.NoReply}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*interval+timeout+slack, "U2 offline", func() bool {
		st := r.acc.statusesSince("U2", faultAt)
		return len(st) > 0 && !online(st[len(st)-1])
	})
	// Let several dead polls happen, then revive the unit.
	waitFor(t, 10*time.Second, "3 offline polls", func() bool {
		n := 0
		for _, p := range r.acc.statusesSince("U2", faultAt) {
			if !online(p) {
				n++
			}
		}
		return n >= 3
	})
	healAt := time.Now()
	_ = sim.Unit(2).SetFault(modbussim.Fault{})
	waitFor(t, 2*interval+timeout+slack, "U2 back online", func() bool {
		st := r.acc.statusesSince("U2", healAt)
		return len(st) > 0 && online(st[len(st)-1])
	})
	r.stop()

	for _, id := range []string{"U1", "U3"} {
		st := r.acc.statusesSince(id, faultAt.Add(-interval))
		for i := 1; i < len(st); i++ {
			if gap := st[i].Time.Sub(st[i-1].Time); gap > interval+timeout+slack {
				t.Errorf("%s: %v between polls %d and %d while U2 was dead", id, gap, i-1, i)
			}
			if !online(st[i]) {
				t.Errorf("%s offline at %v: %+v", id, st[i].Time, st[i].Fields)
			}
		}
		if len(st) < 3 {
			t.Errorf("%s: only %d polls", id, len(st))
		}
	}
	// The offline status says why, and there are no values from dead polls.
	for _, p := range r.acc.statusesSince("U2", faultAt) {
		if online(p) {
			continue
		}
		if e, _ := p.Field("error"); !strings.HasPrefix(e.S, "timeout: ") {
			t.Errorf("offline error %q, want a timeout", e.S)
		}
		for _, v := range r.acc.points("k", "U2") {
			if v.Time.Equal(p.Time) {
				t.Errorf("values stored from a failed poll at %v", p.Time)
			}
		}
	}
}

// TestFaultsThenRecovery: a dropped connection, garbage and an exception
// each make the device offline (no values), and it recovers afterwards.
func TestFaultsThenRecovery(t *testing.T) {
	const interval = 100 * time.Millisecond
	sim, addr := startSim(t)
	_ = sim.Unit(1).SetValue(modbussim.Holding, 0, "float32", "ABCD", 1, 0, 1.5)
	_ = sim.Unit(2).SetValue(modbussim.Holding, 0, "float32", "ABCD", 1, 0, 2.5)
	dev := func(id string, unit int) DeviceConfig {
		return DeviceConfig{ID: id, UnitID: unit, Kind: "k", Interval: interval,
			Points: []PointConfig{{Name: "v", Area: "holding", Address: 0, Type: "float32"}}}
	}
	r := runSource(t, Config{Links: []LinkConfig{{Name: "l", URL: "tcp://" + addr, Timeout: 300 * time.Millisecond,
		Devices: []DeviceConfig{dev("A", 1), dev("B", 2)}}}})
	waitFor(t, 5*time.Second, "A online", func() bool { return len(r.acc.points("k", "A")) > 0 })

	for _, tc := range []struct {
		fault modbussim.Fault
		class string
	}{
		{modbussim.Fault{Mode: modbussim.Drop}, "connection"},
		{modbussim.Fault{Mode: modbussim.Garbage}, "protocol"},
		{modbussim.Fault{Mode: modbussim.Exception, Code: 6}, "exception"},
		{modbussim.Fault{Mode: modbussim.Slow, Delay: time.Second}, "timeout"},
	} {
		t.Run(string(tc.fault.Mode), func(t *testing.T) {
			at := time.Now()
			_ = sim.Unit(1).SetFault(tc.fault)
			waitFor(t, 5*time.Second, "A offline", func() bool {
				st := r.acc.statusesSince("A", at)
				return len(st) > 1 && !online(st[len(st)-1])
			})
			st := r.acc.statusesSince("A", at)
			e, _ := st[len(st)-1].Field("error")
			if !strings.HasPrefix(e.S, tc.class+": ") {
				t.Errorf("error %q, want class %s", e.S, tc.class)
			}
			healed := time.Now()
			_ = sim.Unit(1).SetFault(modbussim.Fault{})
			waitFor(t, 5*time.Second, "A online again", func() bool {
				st := r.acc.statusesSince("A", healed)
				return len(st) > 0 && online(st[len(st)-1])
			})
			// B, on the same link, stayed online throughout.
			for _, p := range r.acc.statusesSince("B", at) {
				if !online(p) {
					e, _ := p.Field("error")
					t.Errorf("B offline at %v: %s", p.Time, e.S)
				}
			}
			// Every value stored for A is the real one: a failed poll never
			// produced values.
			for _, p := range r.acc.points("k", "A") {
				if f, _ := p.Field("v"); f.F != 1.5 {
					t.Errorf("A stored %v at %v", f.F, p.Time)
				}
			}
		})
	}
}

// TestReconnectWithBackoffAfterServerRestart: with the server gone the link
// backs off (far fewer dials than polls) and reconnects once it is back.
func TestReconnectWithBackoffAfterServerRestart(t *testing.T) {
	const interval = 50 * time.Millisecond
	sim, addr := startSim(t)
	_ = sim.Unit(1).SetRegisters(modbussim.Holding, 0, 42)
	r := runSource(t, Config{Links: []LinkConfig{{
		Name: "l", URL: "tcp://" + addr, Timeout: 200 * time.Millisecond, MaxBackoff: 800 * time.Millisecond,
		Devices: []DeviceConfig{{ID: "A", UnitID: 1, Kind: "k", Interval: interval,
			Points: []PointConfig{{Name: "v", Area: "holding", Address: 0, Type: "uint16"}}}},
	}}})
	waitFor(t, 5*time.Second, "A online", func() bool { return len(r.acc.points("k", "A")) > 0 })

	sim.Close()
	down := time.Now()
	before := r.src.Stats()
	waitFor(t, 10*time.Second, "40 polls while down", func() bool { return len(r.acc.statusesSince("A", down)) >= 40 })
	st := r.acc.statusesSince("A", down)
	after := r.src.Stats()
	dials := after.ConnectFailures - before.ConnectFailures
	if dials < 2 || dials > int64(len(st))/3 {
		t.Errorf("%d failed dials over %d polls: want backoff (2 ≤ dials ≤ polls/3)", dials, len(st))
	}
	for _, p := range st[1:] {
		if online(p) {
			t.Fatalf("online while the server is down: %+v", p)
		}
		if e, _ := p.Field("error"); !strings.HasPrefix(e.S, "connect: ") {
			t.Errorf("error %q, want connect", e.S)
		}
	}

	sim2 := modbussim.New(modbussim.Options{Logger: testLogger(t)})
	t.Cleanup(func() { sim2.Close() })
	if _, err := sim2.ListenTCP(addr); err != nil {
		t.Fatalf("relisten on %s: %v", addr, err)
	}
	_ = sim2.Unit(1).SetRegisters(modbussim.Holding, 0, 43)
	up := time.Now()
	waitFor(t, 800*time.Millisecond+2*time.Second, "A online after restart", func() bool {
		for _, p := range r.acc.points("k", "A") {
			if f, _ := p.Field("v"); !p.Time.Before(up) && f.F == 43 {
				return true
			}
		}
		return false
	})
}

func TestRunReturnsAndLeavesNoGoroutines(t *testing.T) {
	base := runtime.NumGoroutine()
	func() {
		sim, addr := startSim(t)
		_ = sim.Unit(1).SetRegisters(modbussim.Holding, 0, 1)
		_ = sim.Unit(2).SetFault(modbussim.Fault{Mode: modbussim.NoReply})
		r := runSource(t, Config{Links: []LinkConfig{
			{Name: "a", URL: "tcp://" + addr, Timeout: 100 * time.Millisecond, Devices: []DeviceConfig{
				{ID: "A1", UnitID: 1, Kind: "k", Interval: 20 * time.Millisecond, Points: []PointConfig{{Name: "v", Area: "holding", Type: "uint16"}}},
				{ID: "A2", UnitID: 2, Kind: "k", Interval: 20 * time.Millisecond, Points: []PointConfig{{Name: "v", Area: "holding", Type: "uint16"}}},
			}},
			{Name: "dead", URL: "tcp://127.0.0.1:1", Timeout: 100 * time.Millisecond, Devices: []DeviceConfig{
				{ID: "B1", UnitID: 1, Kind: "k", Interval: 20 * time.Millisecond, Points: []PointConfig{{Name: "v", Area: "holding", Type: "uint16"}}},
			}},
		}})
		waitFor(t, 5*time.Second, "polls on both links", func() bool {
			return len(r.acc.points("k", "A1")) > 2 && len(r.acc.status("A2")) > 0 && len(r.acc.status("B1")) > 2
		})
		r.stop() // fails the test unless Run returns
		sim.Close()
	}()
	checkNoLeak(t, base)
}

func TestAcceptErrorsAreCountedAndPollingGoesOn(t *testing.T) {
	sim, addr := startSim(t)
	_ = sim.Unit(1).SetRegisters(modbussim.Holding, 0, 1)
	src, err := New(Config{Links: []LinkConfig{{Name: "l", URL: "tcp://" + addr, Devices: []DeviceConfig{
		{ID: "A", UnitID: 1, Kind: "k", Interval: 20 * time.Millisecond, Points: []PointConfig{{Name: "v", Area: "holding", Type: "uint16"}}},
	}}}}, "s", testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	acc := &collector{fail: fmt.Errorf("spool full")}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, acc) }()
	waitFor(t, 5*time.Second, "5 failed accepts", func() bool { return src.Stats().AcceptErrors >= 5 })
	acc.mu.Lock()
	acc.fail = nil
	acc.mu.Unlock()
	waitFor(t, 5*time.Second, "accepting again", func() bool { return len(acc.points("k", "A")) > 0 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s := src.Stats(); s.Polls < 6 || s.PollFailures != 0 {
		t.Errorf("stats %+v", s)
	}
}
