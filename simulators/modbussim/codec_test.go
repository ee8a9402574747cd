package modbussim

import (
	"math"
	"slices"
	"strings"
	"testing"
)

// The expected registers are worked out by hand from IEEE 754 and the order
// definitions in the configuration: bytes of the value A B C D [E F G H], most
// significant first; ABCD keeps them, CDAB swaps words, BADC swaps bytes in
// each word, DCBA does both.
func TestEncodeVectors(t *testing.T) {
	tests := []struct {
		typ   string
		value float64
		want  map[string][]uint16 // order -> registers
	}{
		{"uint16", 0x1234, map[string][]uint16{
			"ABCD": {0x1234}, "CDAB": {0x1234}, "BADC": {0x3412}, "DCBA": {0x3412}}},
		{"int16", -12345, map[string][]uint16{ // 12345 = 0x3039, two's complement 0xCFC7
			"ABCD": {0xCFC7}, "CDAB": {0xCFC7}, "BADC": {0xC7CF}, "DCBA": {0xC7CF}}},
		{"uint32", 0x11223344, map[string][]uint16{
			"ABCD": {0x1122, 0x3344}, "CDAB": {0x3344, 0x1122}, "BADC": {0x2211, 0x4433}, "DCBA": {0x4433, 0x2211}}},
		{"int32", -123456789, map[string][]uint16{ // 123456789 = 0x075BCD15, negated 0xF8A432EB
			"ABCD": {0xF8A4, 0x32EB}, "CDAB": {0x32EB, 0xF8A4}, "BADC": {0xA4F8, 0xEB32}, "DCBA": {0xEB32, 0xA4F8}}},
		{"float32", 23.5, map[string][]uint16{ // 1.46875 * 2^4: sign 0, exponent 131, fraction 0x3C0000
			"ABCD": {0x41BC, 0x0000}, "CDAB": {0x0000, 0x41BC}, "BADC": {0xBC41, 0x0000}, "DCBA": {0x0000, 0xBC41}}},
		{"float32", float64(float32(math.Pi)), map[string][]uint16{ // 0x40490FDB
			"ABCD": {0x4049, 0x0FDB}, "CDAB": {0x0FDB, 0x4049}, "BADC": {0x4940, 0xDB0F}, "DCBA": {0xDB0F, 0x4940}}},
		{"float32", -1.5, map[string][]uint16{ // 0xBFC00000
			"ABCD": {0xBFC0, 0x0000}, "CDAB": {0x0000, 0xBFC0}, "BADC": {0xC0BF, 0x0000}, "DCBA": {0x0000, 0xC0BF}}},
		// 0x0001020304050607 is below 2^53 (exact in a float64); negated:
		// ^0x0001020304050607 + 1 = 0xFFFEFDFCFBFAF9F9.
		{"int64", -0x0001020304050607, map[string][]uint16{
			"ABCD": {0xFFFE, 0xFDFC, 0xFBFA, 0xF9F9}, "CDAB": {0xF9F9, 0xFBFA, 0xFDFC, 0xFFFE},
			"BADC": {0xFEFF, 0xFCFD, 0xFAFB, 0xF9F9}, "DCBA": {0xF9F9, 0xFAFB, 0xFCFD, 0xFEFF}}},
		{"int64", -2, map[string][]uint16{
			"ABCD": {0xFFFF, 0xFFFF, 0xFFFF, 0xFFFE}, "CDAB": {0xFFFE, 0xFFFF, 0xFFFF, 0xFFFF},
			"BADC": {0xFFFF, 0xFFFF, 0xFFFF, 0xFEFF}, "DCBA": {0xFEFF, 0xFFFF, 0xFFFF, 0xFFFF}}},
		{"uint64", 0x0011223344556677, map[string][]uint16{ // below 2^53: exact in a float64
			"ABCD": {0x0011, 0x2233, 0x4455, 0x6677}, "CDAB": {0x6677, 0x4455, 0x2233, 0x0011},
			"BADC": {0x1100, 0x3322, 0x5544, 0x7766}, "DCBA": {0x7766, 0x5544, 0x3322, 0x1100}}},
		{"float64", math.Pi, map[string][]uint16{ // 0x400921FB54442D18
			"ABCD": {0x4009, 0x21FB, 0x5444, 0x2D18}, "CDAB": {0x2D18, 0x5444, 0x21FB, 0x4009},
			"BADC": {0x0940, 0xFB21, 0x4454, 0x182D}, "DCBA": {0x182D, 0x4454, 0xFB21, 0x0940}}},
		{"float64", 1, map[string][]uint16{ // 0x3FF0000000000000
			"ABCD": {0x3FF0, 0, 0, 0}, "CDAB": {0, 0, 0, 0x3FF0}, "BADC": {0xF03F, 0, 0, 0}, "DCBA": {0, 0, 0, 0xF03F}}},
	}
	for _, tt := range tests {
		for _, order := range []string{"ABCD", "CDAB", "BADC", "DCBA"} {
			t.Run(tt.typ+"/"+order, func(t *testing.T) {
				want := tt.want[order]
				got, err := Encode(tt.typ, order, 1, 0, tt.value)
				if err != nil {
					t.Fatalf("Encode: %v", err)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("Encode(%v) = %04X, want %04X", tt.value, got, want)
				}
				back, err := Decode(tt.typ, order, 1, 0, want)
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if back != tt.value {
					t.Fatalf("Decode(%04X) = %v, want %v", want, back, tt.value)
				}
			})
		}
	}
}

func TestEncodeScaleOffset(t *testing.T) {
	tests := []struct {
		name          string
		typ           string
		scale, offset float64
		value         float64
		want          []uint16
	}{
		{"h2s 0.1 ppm rounds", "uint16", 0.1, 0, 23.47, []uint16{235}},
		{"half rounds away from zero", "int16", 0.1, 0, -0.25, []uint16{0xFFFD}}, // -2.5 -> -3
		{"o2 0.01 %VOL", "int16", 0.01, 0, 20.9, []uint16{2090}},                 // 0x082A
		{"offset -40", "uint16", 0.1, -40, 25, []uint16{650}},
		{"negative temperature", "int16", 0.1, 0, -12.3, []uint16{0xFF85}}, // -123
		{"scale 0 means 1", "uint16", 0, 0, 7, []uint16{7}},
		{"scaled float", "float32", 0.5, 0, 10, []uint16{0x41A0, 0x0000}},       // raw 20.0
		{"level 0.1 mm CDAB", "uint32", 0.1, 0, 8000, []uint16{0x3880, 0x0001}}, // raw 80000 = 0x00013880
		{"flow 0.01 BADC", "int32", 0.01, 0, -1, []uint16{0xFFFF, 0x9CFF}},      // raw -100 = 0xFFFFFF9C
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			order := "ABCD"
			if strings.Contains(tt.name, "CDAB") {
				order = "CDAB"
			} else if strings.Contains(tt.name, "BADC") {
				order = "BADC"
			}
			got, err := Encode(tt.typ, order, tt.scale, tt.offset, tt.value)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("Encode = %04X, want %04X", got, tt.want)
			}
			back, err := Decode(tt.typ, order, tt.scale, tt.offset, got)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if math.Abs(back-tt.value) > max(math.Abs(tt.scale), 1)/2 {
				t.Fatalf("Decode = %v, want about %v", back, tt.value)
			}
		})
	}
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name, typ, order string
		value            float64
	}{
		{"uint16 negative", "uint16", "ABCD", -1},
		{"uint16 too big", "uint16", "ABCD", 65536},
		{"int16 too big", "int16", "ABCD", 32768},
		{"int16 too small", "int16", "ABCD", -32769},
		{"uint32 too big", "uint32", "ABCD", 1 << 32},
		{"int32 NaN", "int32", "ABCD", math.NaN()},
		{"int64 overflow", "int64", "ABCD", 1 << 63},
		{"uint64 overflow", "uint64", "ABCD", 1 << 64},
		{"float32 overflow", "float32", "ABCD", 1e39},
		{"unknown type", "int8", "ABCD", 1},
		{"unknown order", "uint16", "ACBD", 1},
		{"bool", "bool", "ABCD", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := Encode(tt.typ, tt.order, 1, 0, tt.value); err == nil {
				t.Fatalf("Encode(%v) = %04X, want an error", tt.value, got)
			}
		})
	}
	if _, err := Decode("float32", "ABCD", 1, 0, []uint16{1}); err == nil {
		t.Fatal("Decode with one register for a float32: want an error")
	}
}

func TestEncodeAcceptsNonFiniteFloats(t *testing.T) {
	// A transmitter in fault may send NaN; the gateway must cope, so the
	// simulator must be able to send it.
	got, err := Encode("float32", "ABCD", 1, 0, math.Inf(-1))
	if err != nil || !slices.Equal(got, []uint16{0xFF80, 0x0000}) {
		t.Fatalf("Encode(-Inf) = %04X, %v; want FF80 0000", got, err)
	}
	got, err = Encode("float32", "ABCD", 1, 0, math.NaN())
	if err != nil || got[0]&0x7F80 != 0x7F80 || got[0]&0x7F|got[1] == 0 {
		t.Fatalf("Encode(NaN) = %04X, %v; want a NaN pattern", got, err)
	}
}

func TestWordsRoundTrip(t *testing.T) {
	for _, v := range []uint64{0, 1, 0xFFFF, 0x8000_0001, 0x0102_0304_0506_0708, math.MaxUint64} {
		for _, n := range []int{1, 2, 4} {
			for o := orderABCD; o <= orderDCBA; o++ {
				var buf [4]uint16
				putWords(buf[:n], v, n, o)
				mask := uint64(math.MaxUint64) >> (64 - 16*n)
				if got := getWords(buf[:n], n, o); got != v&mask {
					t.Errorf("n=%d %s: %#x -> %04X -> %#x", n, o, v&mask, buf[:n], got)
				}
			}
		}
	}
}

func TestUnitPointsBoolBits(t *testing.T) {
	s := newTestServer(t)
	u := s.Unit(1)
	mustNoErr(t, u.SetRegisters(Holding, 5, 0x8000))
	alarm := Point{Area: Holding, Address: 5, Type: "bool", Bit: 0}
	fault := Point{Area: Holding, Address: 5, Type: "bool", Bit: 1}
	mustNoErr(t, u.WritePoint(alarm, 1))
	mustNoErr(t, u.WritePoint(fault, 1))
	mustNoErr(t, u.WritePoint(alarm, 0))
	regs, err := u.Registers(Holding, 5, 1)
	mustNoErr(t, err)
	if regs[0] != 0x8002 {
		t.Fatalf("status register = %04X, want 8002 (bit 15 untouched, fault bit 1 set)", regs[0])
	}
	if v, _ := u.ReadPoint(fault); v != 1 {
		t.Fatalf("fault = %v, want 1", v)
	}
	mustNoErr(t, u.SetValue(Coil, 3, "bool", "", 1, 0, 1))
	bits, err := u.Bits(Coil, 2, 3)
	mustNoErr(t, err)
	if !slices.Equal(bits, []bool{false, true, false}) {
		t.Fatalf("coils 2..4 = %v", bits)
	}
	if err := u.WritePoint(Point{Area: Coil, Type: "uint16"}, 1); err == nil {
		t.Fatal("uint16 point in the coil area: want an error")
	}
	if err := u.SetRegisters(Coil, 0, 1); err == nil {
		t.Fatal("SetRegisters on coils: want an error")
	}
	if err := u.SetBits(Input, 0, true); err == nil {
		t.Fatal("SetBits on input registers: want an error")
	}
	if err := u.SetRegisters(Holding, 65535, 1, 2); err == nil {
		t.Fatal("SetRegisters past 65535: want an error")
	}
}

func TestSetValueThenValue(t *testing.T) {
	s := newTestServer(t)
	u := s.Unit(5)
	mustNoErr(t, u.SetValue(Holding, 0, "float32", "CDAB", 1, 0, 23.5))
	regs, err := u.Registers(Holding, 0, 2)
	mustNoErr(t, err)
	if !slices.Equal(regs, []uint16{0x0000, 0x41BC}) {
		t.Fatalf("registers = %04X, want 0000 41BC", regs)
	}
	v, err := u.Value(Holding, 0, "float32", "CDAB", 1, 0)
	if err != nil || v != 23.5 {
		t.Fatalf("Value = %v, %v", v, err)
	}
}
