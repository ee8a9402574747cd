package modbus

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/hazardgw/hazardgw/gateway"
)

// decodeOne plans a single point at address 0 and decodes data with it.
func decodeOne(t *testing.T, pc PointConfig, data []byte) (value, error) {
	t.Helper()
	p, err := parsePoint(pc)
	if err != nil {
		t.Fatalf("parse %+v: %v", pc, err)
	}
	pl := makePlan([]pointSpec{p}, 16)
	vals := make([]value, 1)
	err = pl.decode(0, data, vals)
	return vals[0], err
}

// The wire bytes below are written out by hand from the definition of each
// order (bytes of the value named A.. most significant first; registers
// travel high byte first), not computed by the code under test.
func TestDecodeEveryTypeAndOrder(t *testing.T) {
	type tc struct {
		typ   string
		order string
		wire  []byte
		want  float64
	}
	cases := []tc{
		// 16-bit: 0x1234 = 4660; CDAB = ABCD, DCBA = BADC.
		{"uint16", "ABCD", []byte{0x12, 0x34}, 0x1234},
		{"uint16", "CDAB", []byte{0x12, 0x34}, 0x1234},
		{"uint16", "BADC", []byte{0x34, 0x12}, 0x1234},
		{"uint16", "DCBA", []byte{0x34, 0x12}, 0x1234},
		{"int16", "ABCD", []byte{0xFF, 0x38}, -200},
		{"int16", "CDAB", []byte{0xFF, 0x38}, -200},
		{"int16", "BADC", []byte{0x38, 0xFF}, -200},
		{"int16", "DCBA", []byte{0x38, 0xFF}, -200},
		{"uint16", "ABCD", []byte{0xFF, 0xFF}, 65535},
		{"int16", "ABCD", []byte{0x80, 0x00}, -32768},
		// 32-bit: 0x12345678 = 305419896.
		{"uint32", "ABCD", []byte{0x12, 0x34, 0x56, 0x78}, 0x12345678},
		{"uint32", "CDAB", []byte{0x56, 0x78, 0x12, 0x34}, 0x12345678},
		{"uint32", "BADC", []byte{0x34, 0x12, 0x78, 0x56}, 0x12345678},
		{"uint32", "DCBA", []byte{0x78, 0x56, 0x34, 0x12}, 0x12345678},
		{"uint32", "ABCD", []byte{0xFF, 0xFF, 0xFF, 0xFF}, 4294967295},
		// int32 -200 = 0xFFFFFF38.
		{"int32", "ABCD", []byte{0xFF, 0xFF, 0xFF, 0x38}, -200},
		{"int32", "CDAB", []byte{0xFF, 0x38, 0xFF, 0xFF}, -200},
		{"int32", "BADC", []byte{0xFF, 0xFF, 0x38, 0xFF}, -200},
		{"int32", "DCBA", []byte{0x38, 0xFF, 0xFF, 0xFF}, -200},
		// float32 23.5 = 0x41BC0000.
		{"float32", "ABCD", []byte{0x41, 0xBC, 0x00, 0x00}, 23.5},
		{"float32", "CDAB", []byte{0x00, 0x00, 0x41, 0xBC}, 23.5},
		{"float32", "BADC", []byte{0xBC, 0x41, 0x00, 0x00}, 23.5},
		{"float32", "DCBA", []byte{0x00, 0x00, 0xBC, 0x41}, 23.5},
		// float32 -1.5 = 0xBFC00000.
		{"float32", "CDAB", []byte{0x00, 0x00, 0xBF, 0xC0}, -1.5},
		// 64-bit: 0x0102030405060708 = 72623859790382856.
		{"uint64", "ABCD", []byte{1, 2, 3, 4, 5, 6, 7, 8}, 0x0102030405060708},
		{"uint64", "CDAB", []byte{7, 8, 5, 6, 3, 4, 1, 2}, 0x0102030405060708},
		{"uint64", "BADC", []byte{2, 1, 4, 3, 6, 5, 8, 7}, 0x0102030405060708},
		{"uint64", "DCBA", []byte{8, 7, 6, 5, 4, 3, 2, 1}, 0x0102030405060708},
		{"uint64", "ABCD", []byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, 18446744073709551615},
		// int64 -200 = 0xFFFFFFFFFFFFFF38.
		{"int64", "ABCD", []byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x38}, -200},
		{"int64", "CDAB", []byte{0xFF, 0x38, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, -200},
		{"int64", "BADC", []byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x38, 0xFF}, -200},
		{"int64", "DCBA", []byte{0x38, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, -200},
		{"int64", "ABCD", []byte{0x80, 0, 0, 0, 0, 0, 0, 0}, math.MinInt64},
		// float64 23.5 = 0x4037800000000000.
		{"float64", "ABCD", []byte{0x40, 0x37, 0x80, 0, 0, 0, 0, 0}, 23.5},
		{"float64", "CDAB", []byte{0, 0, 0, 0, 0x80, 0, 0x40, 0x37}, 23.5},
		{"float64", "BADC", []byte{0x37, 0x40, 0, 0x80, 0, 0, 0, 0}, 23.5},
		{"float64", "DCBA", []byte{0, 0, 0, 0, 0, 0x80, 0x37, 0x40}, 23.5},
		// float64 pi = 0x400921FB54442D18.
		{"float64", "CDAB", []byte{0x2D, 0x18, 0x54, 0x44, 0x21, 0xFB, 0x40, 0x09}, math.Pi},
		{"float64", "BADC", []byte{0x09, 0x40, 0xFB, 0x21, 0x44, 0x54, 0x18, 0x2D}, math.Pi},
	}
	seen := map[string]bool{}
	for _, c := range cases {
		seen[c.typ+"/"+c.order] = true
		t.Run(fmt.Sprintf("%s_%s_%x", c.typ, c.order, c.wire), func(t *testing.T) {
			v, err := decodeOne(t, PointConfig{Name: "p", Area: "holding", Type: c.typ, Order: c.order}, c.wire)
			if err != nil {
				t.Fatal(err)
			}
			if v.bad || v.f != c.want {
				t.Errorf("got %v (bad=%v), want %v", v.f, v.bad, c.want)
			}
		})
	}
	for _, typ := range allTypes {
		for _, o := range allOrders {
			if !seen[typ+"/"+o] {
				t.Errorf("no case for %s %s", typ, o)
			}
		}
	}
}

func TestDecodeScaleOffset(t *testing.T) {
	for _, c := range []struct {
		typ           string
		wire          []byte
		scale, offset float64
		want          float64
	}{
		{"int16", []byte{0x01, 0xF4}, 0.1, -40, 500*0.1 - 40}, // 500 → 10 °C
		{"uint16", []byte{0x00, 0x64}, 0.5, 0, 50},
		{"int16", []byte{0xFF, 0x9C}, 1, 273.5, 173.5},
		{"uint32", []byte{0x00, 0x01, 0x86, 0xA0}, 0.001, 0, 100000 * 0.001},
		{"float32", []byte{0x41, 0xBC, 0x00, 0x00}, 2, 1, 48},
		{"int32", []byte{0xFF, 0xFF, 0xFF, 0xFE}, -3, 0, 6},
	} {
		v, err := decodeOne(t, PointConfig{Name: "p", Area: "input", Type: c.typ, Scale: ptr(c.scale), Offset: c.offset}, c.wire)
		if err != nil || v.f != c.want {
			t.Errorf("%s %x ×%v %+v: got %v, %v; want %v", c.typ, c.wire, c.scale, c.offset, v.f, err, c.want)
		}
	}
	// No scale given means 1.
	if v, _ := decodeOne(t, PointConfig{Name: "p", Area: "holding", Type: "uint16"}, []byte{0, 7}); v.f != 7 {
		t.Errorf("default scale: got %v", v.f)
	}
}

func TestDecodeBits(t *testing.T) {
	// Register 0xA5C3: bits 0,1,6,7 (0xC3) and 8,10,13,15 (0xA5).
	wire := []byte{0xA5, 0xC3}
	for b := range 16 {
		v, err := decodeOne(t, PointConfig{Name: "p", Area: "holding", Type: "bool", Bit: ptr(b)}, wire)
		if err != nil {
			t.Fatal(err)
		}
		if want := 0xA5C3&(1<<b) != 0; v.b != want {
			t.Errorf("bit %d = %v, want %v", b, v.b, want)
		}
	}
	// Coils are packed LSB first: coil 0 is bit 0 of the first byte, coil
	// 8 bit 0 of the second. A read of 11 coils at 0: 0b00000101, 0b00000110.
	pts := make([]pointSpec, 11)
	for i := range pts {
		pts[i] = pointSpec{name: fmt.Sprint("c", i), area: areaCoil, addr: uint16(i), typ: typeBool, scale: 1}
	}
	pl := makePlan(pts, 16)
	vals := make([]value, len(pts))
	if err := pl.decode(0, []byte{0x05, 0x06}, vals); err != nil {
		t.Fatal(err)
	}
	want := []bool{true, false, true, false, false, false, false, false, false, true, true}
	for i, w := range want {
		if vals[i].b != w {
			t.Errorf("coil %d = %v, want %v", i, vals[i].b, w)
		}
	}
}

func TestDecodeNaNAndInfAreBad(t *testing.T) {
	for _, c := range []struct {
		typ  string
		wire []byte
	}{
		{"float32", []byte{0x7F, 0xC0, 0, 0}},
		{"float32", []byte{0xFF, 0xC0, 0, 1}},
		{"float32", []byte{0x7F, 0x80, 0, 0}},
		{"float32", []byte{0xFF, 0x80, 0, 0}},
		{"float64", []byte{0x7F, 0xF8, 0, 0, 0, 0, 0, 0}},
		{"float64", []byte{0x7F, 0xF0, 0, 0, 0, 0, 0, 0}},
		{"float64", []byte{0xFF, 0xF0, 0, 0, 0, 0, 0, 0}},
	} {
		v, err := decodeOne(t, PointConfig{Name: "p", Area: "holding", Type: c.typ}, c.wire)
		if err != nil || !v.bad {
			t.Errorf("%s %x: bad=%v err=%v, want bad", c.typ, c.wire, v.bad, err)
		}
	}
	// Scaling a finite value out of range is bad too.
	v, _ := decodeOne(t, PointConfig{Name: "p", Area: "holding", Type: "float32", Scale: ptr(math.MaxFloat64)}, []byte{0x7F, 0x7F, 0xFF, 0xFF})
	if !v.bad {
		t.Errorf("MaxFloat32 × MaxFloat64 = %v should be bad", v.f)
	}
}

func TestDecodeWrongLengthIsAnError(t *testing.T) {
	p, _ := parsePoint(PointConfig{Name: "p", Area: "holding", Type: "float32"})
	pl := makePlan([]pointSpec{p}, 16)
	vals := []value{{f: 7}}
	for _, data := range [][]byte{nil, {1}, {1, 2, 3}, {1, 2, 3, 4, 5}} {
		err := pl.decode(0, data, vals)
		var le *lengthError
		if !errors.As(err, &le) {
			t.Errorf("%d bytes: err %v, want a length error", len(data), err)
		}
		if vals[0].f != 7 {
			t.Errorf("vals changed by a failed decode")
		}
		if classify(err) != classDecode {
			t.Errorf("class %q", classify(err))
		}
	}
}

func TestDecodeDoesNotAllocate(t *testing.T) {
	pl, data, vals := benchDevice()
	allocs := testing.AllocsPerRun(100, func() {
		for ri := range pl.reads {
			if err := pl.decode(ri, data[ri], vals); err != nil {
				t.Fatal(err)
			}
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per decode", allocs)
	}
}

// TestDecodeNewTypesAndOrderNames covers the one-byte types, float16 and
// the AB/BA and 64-bit order names, with wire bytes written by hand.
func TestDecodeNewTypesAndOrderNames(t *testing.T) {
	cases := []struct {
		typ, order string
		wire       []byte
		want       float64
	}{
		// Register 0x988D: high byte 0x98 (152, int8 -104), low 0x8D (141, -115).
		{"int8h", "", []byte{0x98, 0x8D}, -104},
		{"int8h", "AB", []byte{0x98, 0x8D}, -104},
		{"int8h", "BA", []byte{0x8D, 0x98}, -104},
		{"int8l", "AB", []byte{0x98, 0x8D}, -115},
		{"int8l", "BA", []byte{0x8D, 0x98}, -115},
		{"uint8h", "AB", []byte{0x98, 0x8D}, 152},
		{"uint8h", "BA", []byte{0x8D, 0x98}, 152},
		{"uint8l", "AB", []byte{0x98, 0x8D}, 141},
		{"uint8l", "BA", []byte{0x8D, 0x98}, 141},
		{"uint8l", "ab", []byte{0x00, 0x7F}, 127},
		// float16 1.5 = 0x3E00, -0.509765625 = 0xB814.
		{"float16", "AB", []byte{0x3E, 0x00}, 1.5},
		{"float16", "BA", []byte{0x14, 0xB8}, -0.509765625},
		{"float16", "DCBA", []byte{0x00, 0x3E}, 1.5},
		{"uint16", "AB", []byte{0x12, 0x34}, 0x1234},
		{"uint16", "BA", []byte{0x34, 0x12}, 0x1234},
		{"int16", "AB", []byte{0xFF, 0x38}, -200},
		{"int16", "BA", []byte{0x38, 0xFF}, -200},
		// 64-bit names: 0x0102030405060708.
		{"uint64", "ABCDEFGH", []byte{1, 2, 3, 4, 5, 6, 7, 8}, 0x0102030405060708},
		{"uint64", "GHEFCDAB", []byte{7, 8, 5, 6, 3, 4, 1, 2}, 0x0102030405060708},
		{"uint64", "BADCFEHG", []byte{2, 1, 4, 3, 6, 5, 8, 7}, 0x0102030405060708},
		{"uint64", "HGFEDCBA", []byte{8, 7, 6, 5, 4, 3, 2, 1}, 0x0102030405060708},
		{"int64", "ghefcdab", []byte{0xFF, 0x38, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, -200},
		{"int64", "ABCDEFGH", []byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x38}, -200},
		{"int64", "BADCFEHG", []byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x38, 0xFF}, -200},
		{"int64", "HGFEDCBA", []byte{0x38, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, -200},
		{"float64", "ABCDEFGH", []byte{0x40, 0x37, 0x80, 0, 0, 0, 0, 0}, 23.5},
		{"float64", "GHEFCDAB", []byte{0, 0, 0, 0, 0x80, 0, 0x40, 0x37}, 23.5},
		{"float64", "BADCFEHG", []byte{0x37, 0x40, 0, 0x80, 0, 0, 0, 0}, 23.5},
		{"float64", "HGFEDCBA", []byte{0, 0, 0, 0, 0, 0x80, 0x37, 0x40}, 23.5},
	}
	seen := map[string]bool{}
	for _, c := range cases {
		seen[c.typ+"/"+strings.ToUpper(c.order)] = true
		t.Run(fmt.Sprintf("%s_%s_%x", c.typ, c.order, c.wire), func(t *testing.T) {
			v, err := decodeOne(t, PointConfig{Name: "p", Area: "holding", Type: c.typ, Order: c.order}, c.wire)
			if err != nil {
				t.Fatal(err)
			}
			if v.bad || v.f != c.want {
				t.Errorf("got %v (bad=%v), want %v", v.f, v.bad, c.want)
			}
		})
	}
	// Every canonical name of every numeric type is covered here or by
	// TestDecodeEveryTypeAndOrder (the 4-letter names of the old types).
	for tp := dataType(1); tp < typeEnd; tp++ {
		for _, o := range orderList(tp) {
			if tp.numeric() && !seen[tp.String()+"/"+o] && !(len(o) == 4 && slices.Contains(allTypes, tp.String())) {
				t.Errorf("no case for %s %s", tp, o)
			}
		}
	}
}

func TestParseOrderByWidth(t *testing.T) {
	for _, c := range []struct {
		typ, order string
		want       byteOrder
		ok         bool
	}{
		{"uint16", "", orderABCD, true},
		{"uint16", "CDAB", orderABCD, true}, // 4-letter names kept for 16-bit values
		{"uint16", "BADC", orderDCBA, true},
		{"uint16", "GHEFCDAB", 0, false},
		{"string", "BA", orderDCBA, true},
		{"int8l", "ba", orderDCBA, true},
		{"float32", "AB", 0, false},
		{"float32", "ABCDEFGH", 0, false},
		{"uint32", "cdab", orderCDAB, true},
		{"float64", "CDAB", orderCDAB, true},
		{"float64", "GHEFCDAB", orderCDAB, true},
		{"float64", "BA", 0, false},
	} {
		tp, err := parseType(c.typ)
		if err != nil {
			t.Fatal(err)
		}
		o, err := parseOrder(c.order, tp)
		if (err == nil) != c.ok || (c.ok && o != c.want) {
			t.Errorf("%s %q: %v, %v; want %v ok=%v", c.typ, c.order, o, err, c.want, c.ok)
		}
	}
}

// TestHalfToFloat checks every one of the 65536 half values against the
// definition, computed with math.Pow rather than bit assembly.
func TestHalfToFloat(t *testing.T) {
	for h := range 1 << 16 {
		sign := 1.0
		if h&0x8000 != 0 {
			sign = -1
		}
		e, m := (h>>10)&0x1F, float64(h&0x3FF)
		var want float64
		switch e {
		case 0:
			want = sign * m / 1024 * math.Pow(2, -14)
		case 31:
			want = math.Inf(int(sign))
			if m != 0 {
				want = math.NaN()
			}
		default:
			want = sign * (1 + m/1024) * math.Pow(2, float64(e-15))
		}
		got := halfToFloat(uint16(h))
		if got != want && !(math.IsNaN(got) && math.IsNaN(want)) || math.Signbit(got) != math.Signbit(want) && !math.IsNaN(want) {
			t.Fatalf("half %#04x = %v, want %v", h, got, want)
		}
	}
	for h, want := range map[uint16]float64{0x3C00: 1, 0xC000: -2, 0x7BFF: 65504, 0x0001: math.Ldexp(1, -24), 0x0400: math.Ldexp(1, -14), 0x3555: 0.333251953125} {
		if got := halfToFloat(h); got != want {
			t.Errorf("half %#04x = %v, want %v", h, got, want)
		}
	}
	// Decoded, a half NaN or infinity is bad.
	for _, w := range [][]byte{{0x7C, 0x00}, {0xFC, 0x00}, {0x7E, 0x00}} {
		if v, _ := decodeOne(t, PointConfig{Name: "p", Area: "holding", Type: "float16"}, w); !v.bad {
			t.Errorf("float16 %x not bad: %v", w, v.f)
		}
	}
}

func TestDecodeString(t *testing.T) {
	for _, c := range []struct {
		order string
		wire  []byte
		want  string
	}{
		{"", []byte("Modbus String\x00"), "Modbus String"},
		{"AB", []byte("GD-101\x00\x00\x00\x00"), "GD-101"},
		{"AB", []byte("GD-101  "), "GD-101"},
		{"AB", []byte("GD-101 \x00 \x00"), "GD-101"},
		{"AB", []byte(" lead\x00x "), " lead\x00x"}, // leading spaces and inner NULs are kept
		{"BA", []byte("oMbdsuS rtni\x00g"), "Modbus String"},
		{"BA", []byte("DG1-\x000"), "GD-10"},
		{"AB", []byte("\x00\x00\x00\x00"), ""},
		{"AB", []byte("    "), ""},
		{"AB", []byte("甲烷\x00\x00"), "甲烷"},
		{"AB", []byte{'o', 'k', 0xFF, 0xFE}, "ok\uFFFD"}, // not UTF-8 (InfluxDB refuses it): one U+FFFD per run
	} {
		p, err := parsePoint(PointConfig{Name: "s", Area: "holding", Type: "string", Length: len(c.wire) / 2, Order: c.order})
		if err != nil {
			t.Fatal(err)
		}
		pl := makePlan([]pointSpec{p}, 16)
		vals := make([]value, 1)
		if err := pl.decode(0, c.wire, vals); err != nil {
			t.Fatal(err)
		}
		if vals[0].s != c.want || vals[0].bad {
			t.Errorf("%s %q: got %q (bad %v), want %q", c.order, c.wire, vals[0].s, vals[0].bad, c.want)
		}
		if f := p.field(&vals[0]); f.Kind != gateway.KindString || f.S != c.want || f.Key != "s" {
			t.Errorf("field %+v", f)
		}
	}
}

// allTypesDevice is one point of every numeric type in every order its
// width accepts, and a string, over 40 holding registers.
func allTypesDevice(t testing.TB) (plan, []byte, []value) {
	var pcs []PointConfig
	for tp := dataType(1); tp < typeEnd; tp++ {
		if !tp.numeric() {
			continue
		}
		for i, on := range tp.orders() {
			pcs = append(pcs, PointConfig{Area: "holding", Address: i * 4, Type: tp.String(), Order: on.name, Scale: ptr(0.5), Offset: 1})
		}
	}
	pcs = append(pcs, PointConfig{Area: "holding", Address: 32, Type: "string", Length: 8, Order: "BA"})
	pts := specs(t, pcs...)
	pl := makePlan(pts, 16)
	if len(pl.reads) != 1 || pl.reads[0].count != 40 {
		t.Fatalf("plan %+v", pl.reads)
	}
	data := make([]byte, 80)
	for i := range data {
		data[i] = byte(0x41 + i%26)
	}
	return pl, data, make([]value, len(pts))
}

func TestDecodeAllTypesDoesNotAllocate(t *testing.T) {
	pl, data, vals := allTypesDevice(t)
	if err := pl.decode(0, data, vals); err != nil { // the string's first decode allocates it
		t.Fatal(err)
	}
	s := vals[len(vals)-1].s
	if s != "NMPORQTSVUXWZYBA" { // registers 32..39 hold "MN" "OP" ... "AB", swapped

		t.Fatalf("string %q", s)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if err := pl.decode(0, data, vals); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per decode", allocs)
	}
	if vals[len(vals)-1].s != s {
		t.Errorf("string changed")
	}
}

func TestPointValueAndField(t *testing.T) {
	for _, c := range []struct {
		pc   PointConfig
		v    value
		want any
		kind gateway.FieldKind
	}{
		{PointConfig{Name: "f", Area: "holding", Type: "float16"}, value{f: 1.5}, 1.5, gateway.KindFloat},
		{PointConfig{Name: "u", Area: "holding", Type: "uint8l"}, value{f: 7}, 7.0, gateway.KindFloat},
		{PointConfig{Name: "b", Area: "coil", Type: "bool"}, value{b: true}, true, gateway.KindBool},
		{PointConfig{Name: "s", Area: "input", Type: "string", Length: 2}, value{s: "ab"}, "ab", gateway.KindString},
	} {
		p, err := parsePoint(c.pc)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.valueOf(&c.v); got != c.want {
			t.Errorf("%s: value %#v, want %#v", c.pc.Type, got, c.want)
		}
		if f := p.field(&c.v); f.Kind != c.kind || f.Key != c.pc.Name {
			t.Errorf("%s: field %+v", c.pc.Type, f)
		}
	}
}
