package modbus

import (
	"context"
	"errors"
	"math"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/simulators/modbussim"
)

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestPollOnce(t *testing.T) {
	sim, addr := startSim(t)
	u := sim.Unit(1)
	if err := u.SetValue(modbussim.Holding, 0, "float32", "ABCD", 1, 0, 12.5); err != nil {
		t.Fatal(err)
	}
	// "GD-101" as a string of 4 registers, then 0x7FC0 0x0000: a float32 NaN.
	if err := u.SetRegisters(modbussim.Holding, 2, 0x4744, 0x2D31, 0x3031, 0x0000, 0x7FC0, 0x0000); err != nil {
		t.Fatal(err)
	}
	if err := u.SetBits(modbussim.Coil, 3, true); err != nil {
		t.Fatal(err)
	}
	dead := closedPort(t)
	cfg := Config{Links: []LinkConfig{
		{Name: "panel", URL: "tcp://" + addr, Timeout: 300 * time.Millisecond, Devices: []DeviceConfig{
			{ID: "GD-1", UnitID: 1, Kind: "gas_detector", Label: "东侧", Points: []PointConfig{
				{Name: "ch4", Area: "holding", Address: 0, Type: "float32", Unit: "%LEL"},
				{Name: "model", Area: "holding", Address: 2, Type: "string", Length: 4},
				{Name: "broken", Area: "holding", Address: 6, Type: "float32"},
				{Name: "relay", Area: "coil", Address: 3, Type: "bool"},
			}},
			{ID: "GD-9", UnitID: 9, Kind: "gas_detector", Points: []PointConfig{ // no such unit
				{Name: "ch4", Area: "holding", Address: 0, Type: "float32", Unit: "%LEL"},
			}},
		}},
		{Name: "gone", URL: "tcp://" + dead, Devices: []DeviceConfig{
			{ID: "T-1", UnitID: 1, Kind: "tank", Points: []PointConfig{{Name: "level", Area: "input", Type: "uint16"}}},
			{ID: "T-2", UnitID: 2, Kind: "tank", Points: []PointConfig{{Name: "level", Area: "input", Type: "uint16"}}},
		}},
	}}
	src, err := New(cfg, "s", testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	res, err := src.PollOnce(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 4 {
		t.Fatalf("%d results", len(res))
	}
	gd1 := res[0]
	if gd1.Device != "GD-1" || gd1.Link != "panel" || gd1.UnitID != 1 || gd1.Label != "东侧" || gd1.Err != nil || gd1.Error != "" {
		t.Fatalf("GD-1: %+v", gd1)
	}
	want := []PolledValue{
		{Name: "ch4", Unit: "%LEL", Value: 12.5, Quality: QualityGood},
		{Name: "model", Value: "GD-101", Quality: QualityGood},
		{Name: "broken", Quality: QualityBad}, // NaN, checked below
		{Name: "relay", Value: true, Quality: QualityGood},
	}
	for i, w := range want {
		g := gd1.Values[i]
		if i == 2 {
			if f, ok := g.Value.(float64); !ok || !math.IsNaN(f) || g.Quality != QualityBad {
				t.Errorf("broken: %+v, want NaN with bad quality", g)
			}
			continue
		}
		if g != w {
			t.Errorf("value %d: %+v, want %+v", i, g, w)
		}
	}
	if r := res[1]; r.Device != "GD-9" || classify(r.Err) != classTimeout || !strings.HasPrefix(r.Error, "timeout: read holding 0+2 from unit 9") ||
		r.Values[0].Value != nil || r.Values[0].Quality != QualityBad {
		t.Errorf("GD-9: %+v", r)
	}
	for _, r := range res[2:] {
		if classify(r.Err) != classConnect || !errors.Is(r.Err, syscall.ECONNREFUSED) || r.Values[0].Quality != QualityBad {
			t.Errorf("%s: %+v", r.Device, r)
		}
	}
	if len(src.Devices()[0].Values) != 4 || src.Devices()[0].Polls != 0 {
		t.Errorf("PollOnce changed the devices' state: %+v", src.Devices()[0])
	}

	one, err := src.PollOnce(context.Background(), "GD-1")
	if err != nil || len(one) != 1 || one[0].Device != "GD-1" || one[0].Err != nil {
		t.Errorf("GD-1 only: %+v %v", one, err)
	}
	if _, err := src.PollOnce(context.Background(), "GD-7"); err == nil || !strings.Contains(err.Error(), `"GD-7": no such device (configured: GD-1, GD-9, T-1, T-2)`) {
		t.Errorf("unknown device: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := src.PollOnce(ctx, ""); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestPollOnceWhileRunning(t *testing.T) {
	sim, addr := startSim(t)
	sim.Unit(1)
	r := runSource(t, Config{Links: []LinkConfig{{Name: "l", URL: "tcp://" + addr, Devices: []DeviceConfig{
		{ID: "D", UnitID: 1, Kind: "k", Points: []PointConfig{{Name: "v", Area: "holding", Type: "uint16"}}},
	}}}})
	waitFor(t, 5*time.Second, "a poll", func() bool { return len(r.acc.points("k", "D")) > 0 })
	if _, err := r.src.PollOnce(context.Background(), ""); !errors.Is(err, ErrRunning) {
		t.Errorf("PollOnce during Run: %v", err)
	}
}
