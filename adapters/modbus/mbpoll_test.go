package modbus

import (
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/gateway"
	"github.com/hazardgw/hazardgw/simulators/modbussim"
)

const mbpollPath = "/usr/bin/mbpoll"

var mbpollLine = regexp.MustCompile(`(?m)^\[(\d+)\]:\s+(\S+)(?: \((-?\d+)\))?\s*$`)

// mbpoll reads count values of mbpoll type typ (e.g. "4:float") at the
// 1-based reference ref of unit on the TCP server at port, and returns them
// by reference.
func mbpoll(t *testing.T, port string, unit int, typ string, ref, count int, extra ...string) map[int]float64 {
	t.Helper()
	args := append([]string{"-m", "tcp", "-a", strconv.Itoa(unit), "-r", strconv.Itoa(ref), "-c", strconv.Itoa(count),
		"-t", typ, "-1", "-o", "2", "-p", port}, extra...)
	args = append(args, "127.0.0.1")
	out, err := exec.Command(mbpollPath, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("mbpoll %v: %v\n%s", args, err, out)
	}
	got := map[int]float64{}
	for _, m := range mbpollLine.FindAllStringSubmatch(string(out), -1) {
		r, _ := strconv.Atoi(m[1])
		s := m[2]
		if m[3] != "" { // 16-bit registers show "unsigned (signed)" when negative
			s = m[3]
		}
		var v float64
		if h, ok := strings.CutPrefix(s, "0x"); ok {
			u, err := strconv.ParseUint(h, 16, 16)
			if err != nil {
				t.Fatalf("mbpoll value %q: %v", s, err)
			}
			v = float64(u)
		} else if v, err = strconv.ParseFloat(s, 64); err != nil {
			t.Fatalf("mbpoll value %q: %v", s, err)
		}
		got[r] = v
	}
	if len(got) != count {
		t.Fatalf("mbpoll %v: %d values in\n%s", args, len(got), out)
	}
	return got
}

// TestCrossCheckWithMbpoll reads the same registers with mbpoll, an
// independent Modbus client (libmodbus), and compares with what the Source
// decoded, for every type and word order mbpoll can show.
func TestCrossCheckWithMbpoll(t *testing.T) {
	mustLookPath(t, mbpollPath)
	sim, addr := startSim(t)
	port := addr[strings.LastIndex(addr, ":")+1:]
	u := sim.Unit(9)
	type check struct {
		pc    PointConfig
		v     float64 // engineering value written into the simulator
		typ   string  // mbpoll -t
		extra []string
	}
	checks := []check{
		{PointConfig{Name: "i16", Area: "holding", Address: 0, Type: "int16"}, -12345, "4", nil},
		{PointConfig{Name: "u16", Area: "holding", Address: 1, Type: "uint16"}, 0xBEEF, "4:hex", nil},
		{PointConfig{Name: "i32_abcd", Area: "holding", Address: 2, Type: "int32", Order: "ABCD"}, -123456789, "4:int", []string{"-B"}},
		{PointConfig{Name: "i32_cdab", Area: "holding", Address: 4, Type: "int32", Order: "CDAB"}, 987654321, "4:int", nil},
		{PointConfig{Name: "u32_cdab", Area: "holding", Address: 6, Type: "uint32", Order: "CDAB"}, 2000000001, "4:int", nil},
		{PointConfig{Name: "f32_abcd", Area: "holding", Address: 8, Type: "float32", Order: "ABCD"}, 1234.5, "4:float", []string{"-B"}},
		{PointConfig{Name: "f32_cdab", Area: "holding", Address: 10, Type: "float32", Order: "CDAB"}, -0.375, "4:float", nil},
		{PointConfig{Name: "in_i16", Area: "input", Address: 0, Type: "int16"}, -2, "3", nil},
		{PointConfig{Name: "in_u16", Area: "input", Address: 1, Type: "uint16"}, 65535, "3:hex", nil},
		{PointConfig{Name: "in_f32", Area: "input", Address: 2, Type: "float32", Order: "CDAB"}, 98.25, "3:float", nil},
		{PointConfig{Name: "in_i32", Area: "input", Address: 4, Type: "int32", Order: "ABCD"}, -7, "3:int", []string{"-B"}},
	}
	var pts []PointConfig
	for _, c := range checks {
		a := modbussim.Holding
		if c.pc.Area == "input" {
			a = modbussim.Input
		}
		if err := u.SetValue(a, uint16(c.pc.Address), c.pc.Type, c.pc.Order, 1, 0, c.v); err != nil {
			t.Fatal(err)
		}
		pts = append(pts, c.pc)
	}
	bits := []bool{true, false, true, true, false, false, true, false, true, true, false}
	_ = u.SetBits(modbussim.Coil, 4, bits...)
	_ = u.SetBits(modbussim.Discrete, 30, bits...)
	for i := range bits {
		pts = append(pts,
			PointConfig{Name: fmt.Sprint("coil", i), Area: "coil", Address: 4 + i, Type: "bool"},
			PointConfig{Name: fmt.Sprint("di", i), Area: "discrete", Address: 30 + i, Type: "bool"})
	}

	r := runSource(t, Config{Links: []LinkConfig{{Name: "l", URL: "tcp://" + addr, Devices: []DeviceConfig{
		{ID: "X", UnitID: 9, Kind: "x", Interval: time.Second, Points: pts},
	}}}})
	waitFor(t, 5*time.Second, "a poll", func() bool { return len(r.acc.points("x", "X")) > 0 })
	r.stop()
	got := r.acc.points("x", "X")[0]

	for _, c := range checks {
		ref := c.pc.Address + 1 // mbpoll references are 1-based
		want := mbpoll(t, port, 9, c.typ, ref, 1, c.extra...)[ref]
		f, ok := got.Field(c.pc.Name)
		if !ok || f.Kind != gateway.KindFloat || f.F != want {
			t.Errorf("%s: Source decoded %+v, mbpoll -t %s %v read %v", c.pc.Name, f, c.typ, c.extra, want)
		}
	}
	for _, area := range []struct {
		typ, prefix string
		base        int
	}{{"0", "coil", 4}, {"1", "di", 30}} {
		vals := mbpoll(t, port, 9, area.typ, area.base+1, len(bits))
		for i := range bits {
			f, _ := got.Field(fmt.Sprint(area.prefix, i))
			if f.Kind != gateway.KindBool || f.B != (vals[area.base+1+i] == 1) {
				t.Errorf("%s%d: Source %+v, mbpoll %v", area.prefix, i, f, vals[area.base+1+i])
			}
		}
	}
}
