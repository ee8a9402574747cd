package modbus

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/gateway"
	"github.com/hazardgw/hazardgw/simulators/modbussim"
)

// benchPoints is a 20-register gas/tank device with 10 points of mixed
// types and orders, two of them bits of one register.
var benchPoints = []PointConfig{
	{Name: "ch4", Area: "holding", Address: 0, Type: "float32"},
	{Name: "h2s", Area: "holding", Address: 2, Type: "uint16", Scale: ptr(0.1)},
	{Name: "co", Area: "holding", Address: 3, Type: "uint32", Order: "CDAB"},
	{Name: "pressure", Area: "holding", Address: 5, Type: "float32", Order: "BADC"},
	{Name: "temperature", Area: "holding", Address: 7, Type: "int16", Scale: ptr(0.1), Offset: -40},
	{Name: "total", Area: "holding", Address: 8, Type: "float64", Order: "DCBA"},
	{Name: "level", Area: "holding", Address: 12, Type: "int64"},
	{Name: "alarm", Area: "holding", Address: 16, Type: "bool", Bit: ptr(3)},
	{Name: "fault", Area: "holding", Address: 16, Type: "bool", Bit: ptr(12)},
	{Name: "flow", Area: "holding", Address: 18, Type: "float32", Order: "CDAB"},
}

// benchDevice returns the plan of benchPoints, one response per read, and
// the decode target.
func benchDevice() (plan, [][]byte, []value) {
	specs := make([]pointSpec, len(benchPoints))
	for i, pc := range benchPoints {
		p, err := parsePoint(pc)
		if err != nil {
			panic(err)
		}
		specs[i] = p
	}
	pl := makePlan(specs, 16)
	data := make([][]byte, len(pl.reads))
	for i := range pl.reads {
		data[i] = make([]byte, pl.reads[i].bytes())
		for j := range data[i] {
			data[i][j] = byte(0x21 + j)
		}
	}
	return pl, data, make([]value, len(specs))
}

func BenchmarkDecode(b *testing.B) {
	pl, data, vals := benchDevice()
	if len(pl.reads) != 1 || pl.reads[0].count != 20 {
		b.Fatalf("plan %+v", pl.reads)
	}
	b.ReportAllocs()
	for b.Loop() {
		for ri := range pl.reads {
			if err := pl.decode(ri, data[ri], vals); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkDecodeAllTypes decodes one point of every numeric type in
// every order and an unchanged string from one 40-register read.
func BenchmarkDecodeAllTypes(b *testing.B) {
	pl, data, vals := allTypesDevice(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := pl.decode(0, data, vals); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPlan(b *testing.B) {
	// A large device: 200 points over all four areas.
	var specs []pointSpec
	for i := range 200 {
		pc := PointConfig{Name: fmt.Sprint("p", i), Address: (i * 7919) % 3000, Type: "float32", Area: "holding"}
		switch i % 4 {
		case 1:
			pc.Area = "input"
			pc.Type = "int16"
		case 2:
			pc.Area, pc.Type = "coil", "bool"
		case 3:
			pc.Area, pc.Type = "discrete", "bool"
		}
		p, err := parsePoint(pc)
		if err != nil {
			b.Fatal(err)
		}
		specs = append(specs, p)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = makePlan(specs, 16)
	}
}

// BenchmarkPollTCP measures one full device poll — a read of 20 holding
// registers through goburrow over loopback, decoding and building the
// points — against the simulator. It reports µs of wall time and of CPU
// time (user+system of the whole process, simulator included) per poll.
func BenchmarkPollTCP(b *testing.B) {
	sim, addr := startSim(b)
	u := sim.Unit(1)
	for _, pc := range benchPoints {
		if pc.Type == "bool" {
			continue
		}
		scale := 1.0
		if pc.Scale != nil {
			scale = *pc.Scale
		}
		if err := u.SetValue(modbussim.Holding, uint16(pc.Address), pc.Type, pc.Order, scale, pc.Offset, 12.5); err != nil {
			b.Fatal(err)
		}
	}
	src, err := New(Config{Links: []LinkConfig{{Name: "l", URL: "tcp://" + addr, Devices: []DeviceConfig{
		{ID: "D1", UnitID: 1, Kind: "gas_detector", Tags: map[string]string{"area": "A"}, Points: benchPoints},
	}}}}, "bench", nil)
	if err != nil {
		b.Fatal(err)
	}
	l, d := src.links[0], src.links[0].devs[0]
	defer l.conn.close()
	ctx := context.Background()
	var fields int
	acc := gateway.AcceptFunc(func(_ context.Context, pts []gateway.Point) error {
		fields = len(pts[len(pts)-1].Fields)
		return nil
	})
	l.poll(ctx, acc, d) // connect outside the measurement
	if fields != len(benchPoints) {
		b.Fatalf("first poll gave %d fields: %+v", fields, src.Devices())
	}
	b.ReportAllocs()
	cpu0 := cpuTime()
	start := time.Now()
	for b.Loop() {
		l.poll(ctx, acc, d)
	}
	n := float64(b.N)
	b.ReportMetric(float64(time.Since(start).Microseconds())/n, "µs/poll")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/n, "µs-cpu/poll")
	if s := src.Stats(); s.PollFailures > 0 {
		b.Fatalf("%d failed polls", s.PollFailures)
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
