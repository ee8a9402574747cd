package modbus

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/simulators/modbussim"
)

func TestProbeInterpretations(t *testing.T) {
	sim, addr := startSim(t)
	// 23.5 as float32 ABCD, then "GD-1" and a half 1.5.
	regs := []uint16{0x41BC, 0x0000, 0x4744, 0x2D31, 0x3E00}
	if err := sim.Unit(3).SetRegisters(modbussim.Input, 100, regs...); err != nil {
		t.Fatal(err)
	}
	res, err := Probe(context.Background(), ProbeRequest{URL: "tcp://" + addr, UnitID: 3, Area: "input", Address: 100, Count: len(regs)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Area() != "input" || res.Address != 100 || fmt.Sprint(res.Words()) != fmt.Sprint(regs) || res.Bits() != nil {
		t.Fatalf("result %+v, words %x", res, res.Words())
	}
	in := res.Interpretations()
	// Per address: 7 one-register types × 2 orders, 3 two-register types
	// × 4 and 3 four-register types × 4 where they fit; then 2 strings.
	want := 5*14 + 4*12 + 2*12 + 2
	if len(in) != want {
		t.Fatalf("%d interpretations, want %d", len(in), want)
	}
	find := func(addr int, typ, order string) Interpretation {
		for _, i := range in {
			if i.Address == addr && i.Type == typ && i.Order == order {
				return i
			}
		}
		t.Fatalf("no %s %s at %d", typ, order, addr)
		return Interpretation{}
	}
	for _, c := range []struct {
		addr       int
		typ, order string
		want       any
	}{
		{100, "float32", "ABCD", 23.5},
		{100, "uint16", "AB", float64(0x41BC)},
		{100, "uint16", "BA", float64(0xBC41)},
		{100, "int8h", "AB", 65.0},
		{100, "uint8l", "AB", 188.0},
		{100, "int8l", "AB", -68.0},
		{101, "int32", "ABCD", float64(0x00004744)},
		{102, "uint32", "CDAB", float64(0x2D314744)},
		{104, "float16", "AB", 1.5},
		{100, "uint64", "ABCDEFGH", float64(0x41BC000047442D31)},
		{100, "string", "AB", "A\xbc\x00\x00GD-1>"},
		{100, "string", "BA", "\xbcA\x00\x00DG1-\x00>"},
	} {
		got := find(c.addr, c.typ, c.order)
		if s, ok := c.want.(string); ok {
			c.want = strings.ToValidUTF8(s, "\uFFFD")
		}
		if got.Value != c.want || got.Bad {
			t.Errorf("%s %s at %d: %#v (bad %v), want %#v", c.typ, c.order, c.addr, got.Value, got.Bad, c.want)
		}
	}
	// Every interpretation is what a configured point decodes.
	for _, i := range in {
		pc := PointConfig{Name: "p", Area: "input", Address: i.Address, Type: i.Type, Order: i.Order}
		if i.Type == "string" {
			pc.Length = len(regs)
		}
		p, err := parsePoint(pc)
		if err != nil {
			t.Fatalf("%+v: %v", i, err)
		}
		rel := 2 * (i.Address - 100)
		v, err := decodeOne(t, pc, res.Data[rel:rel+2*p.span()])
		if err != nil {
			t.Fatal(err)
		}
		if g := p.valueOf(&v); !(g == i.Value || math.IsNaN(v.f) && i.Bad) {
			t.Errorf("%+v: a point decodes %#v", i, g)
		}
	}
}

func TestProbeBits(t *testing.T) {
	sim, addr := startSim(t)
	bits := []bool{true, false, false, true, true, false, true, false, false, true}
	if err := sim.Unit(1).SetBits(modbussim.Discrete, 7, bits...); err != nil {
		t.Fatal(err)
	}
	res, err := Probe(context.Background(), ProbeRequest{URL: "tcp://" + addr, UnitID: 1, Area: "discrete", Address: 7, Count: len(bits)})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(res.Bits()) != fmt.Sprint(bits) || res.Words() != nil || res.Interpretations() != nil {
		t.Errorf("bits %v, words %v", res.Bits(), res.Words())
	}
}

func TestProbeRequestProblems(t *testing.T) {
	ok := ProbeRequest{URL: "tcp://127.0.0.1:1", UnitID: 1, Area: "holding", Count: 1}
	for _, c := range []struct {
		name string
		edit func(*ProbeRequest)
		want string
	}{
		{"url", func(r *ProbeRequest) { r.URL = "udp://x" }, "url: want tcp://host:port or rtu:///dev/ttyUSB0"},
		{"area", func(r *ProbeRequest) { r.Area = "holdings" }, `area: "holdings" must be holding, input, coil or discrete`},
		{"count 0", func(r *ProbeRequest) { r.Count = 0 }, "count 0 must be 1..125 for the holding area"},
		{"count 126", func(r *ProbeRequest) { r.Count = 126 }, "count 126 must be 1..125 for the holding area"},
		{"2000 coils", func(r *ProbeRequest) { r.Area, r.Count = "coil", 2001 }, "count 2001 must be 1..2000 for the coil area"},
		{"address", func(r *ProbeRequest) { r.Address = 65536 }, "address 65536 must be 0..65535"},
		{"past the end", func(r *ProbeRequest) { r.Address, r.Count = 65530, 10 }, "65530+10 runs past address 65535"},
		{"tcp unit", func(r *ProbeRequest) { r.UnitID = 256 }, "unit 256 must be 0..255"},
		{"rtu unit", func(r *ProbeRequest) { r.URL, r.UnitID = "rtu:///dev/null", 0 }, "unit 0 must be 1..247 on a serial bus"},
		{"rtu serial", func(r *ProbeRequest) { r.URL, r.Serial = "rtu:///dev/null", &SerialConfig{Baud: 1234} }, "serial.baud: 1234 is not a standard rate"},
		{"serial on tcp", func(r *ProbeRequest) { r.Serial = &SerialConfig{} }, "serial settings are only for rtu:// URLs"},
	} {
		req := ok
		c.edit(&req)
		_, err := Probe(context.Background(), req)
		if err == nil || !strings.HasPrefix(err.Error(), "check probe request: ") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
		if h := Hint(err); h != "" {
			t.Errorf("%s: hint %q for a request that was not sent", c.name, h)
		}
	}
}

// TestProbeFailuresAndHints: each way a commissioning read fails on site
// is classified and explained.
func TestProbeFailuresAndHints(t *testing.T) {
	sim, addr := startSim(t)
	sim.Unit(1)
	if err := sim.Unit(2).SetFault(modbussim.Fault{Mode: modbussim.Exception, Code: 2}); err != nil {
		t.Fatal(err)
	}
	if err := sim.Unit(3).SetFault(modbussim.Fault{Mode: modbussim.Exception, Code: 0x0B}); err != nil {
		t.Fatal(err)
	}
	if err := sim.Unit(4).SetFault(modbussim.Fault{Mode: modbussim.Drop}); err != nil {
		t.Fatal(err)
	}
	probe := func(url string, unit int) error {
		_, err := Probe(context.Background(), ProbeRequest{URL: url, UnitID: unit, Area: "holding", Count: 4, Timeout: 300 * time.Millisecond})
		return err
	}
	for _, c := range []struct {
		name       string
		err        error
		class      string
		text, hint string
	}{
		{"refused", probe("tcp://"+closedPort(t), 1), classConnect, "connection refused", "nothing listens on that port"},
		{"wrong unit", probe("tcp://"+addr, 9), classTimeout, "read holding 0+4 from unit 9", "the unit id is probably wrong"},
		{"illegal data address", probe("tcp://"+addr, 2), classException, "illegal data address", "exception 2, illegal data address"},
		{"gateway target", probe("tcp://"+addr, 3), classException, "gateway target device failed to respond", "exception 11, gateway target device failed to respond"},
		{"dropped", probe("tcp://"+addr, 4), classConnection, "read holding 0+4 from unit 4", "accept only one Modbus TCP client"},
		{"no serial device", probe("rtu:///dev/hazardgw-no-such-tty", 1), classConnect, "open /dev/hazardgw-no-such-tty: ", "the serial device does not exist"},
		{"dial timeout", &connectError{err: fmt.Errorf("dial tcp 10.0.0.1:502: %w", os.ErrDeadlineExceeded)}, classConnect, "", "the connection attempt timed out"},
		{"unreachable", &connectError{err: fmt.Errorf("dial tcp 10.0.0.1:502: %w", syscall.EHOSTUNREACH)}, classConnect, "", "no route to the host"},
		{"serial permission", &connectError{err: fmt.Errorf("open /dev/ttyS0: %w", os.ErrPermission)}, classConnect, "", "dialout"},
		{"wrong length", &lengthError{area: areaHolding, want: 8, got: 6}, classDecode, "", "wrong length"},
		{"protocol", errors.New("modbus: response crc does not match"), classProtocol, "", "baud rate, parity"},
	} {
		if c.err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if got := classify(c.err); got != c.class || !strings.Contains(c.err.Error(), c.text) {
			t.Errorf("%s: class %s, %q; want %s containing %q", c.name, got, c.err, c.class, c.text)
		}
		if h := Hint(c.err); !strings.Contains(h, c.hint) {
			t.Errorf("%s: hint %q, want %q", c.name, h, c.hint)
		}
	}
	if h := Hint(context.Canceled); h != "" {
		t.Errorf("hint for a cancellation: %q", h)
	}
}
