package modbus

import (
	"errors"
	"math"
	"strings"
	"testing"
	"unicode/utf8"
	"unsafe"
)

// fuzzPoints turns bytes into up to 64 valid points, 5 bytes each: area,
// type, order / bit, address high and low byte. Invalid combinations are
// dropped, as New would refuse them.
func fuzzPoints(spec []byte) []pointSpec {
	var out []pointSpec
	for i := 0; i+5 <= len(spec) && len(out) < 64; i += 5 {
		a := area(spec[i]%4 + 1)
		t := dataType(spec[i+1]&0x7F%uint8(typeEnd-1) + 1)
		orders := t.orders()
		pc := PointConfig{
			Name:    "p",
			Area:    a.String(),
			Type:    t.String(),
			Order:   orders[int(spec[i+2])%len(orders)].name,
			Address: int(spec[i+3])<<8 | int(spec[i+4]),
		}
		switch {
		case a.isBit():
			pc.Type, pc.Order = "bool", ""
		case t == typeBool:
			pc.Bit = ptr(int(spec[i+2] % 16))
		case t == typeString:
			pc.Length = int(spec[i+2]) % (maxStringLength + 4) // 0 and > 125 are refused
		}
		if spec[i+1]&0x80 != 0 && t.numeric() {
			pc.Scale, pc.Offset = ptr(-0.001), 1e300 // extreme, still finite
		}
		p, err := parsePoint(pc)
		if err != nil {
			continue
		}
		out = append(out, p)
	}
	return out
}

// FuzzDecode: arbitrary response bytes against arbitrary point specs never
// panic; a wrong length is an error; a right length decodes every point of
// the read, and a float value is marked bad exactly when it is NaN or Inf.
func FuzzDecode(f *testing.F) {
	f.Add([]byte{2, 6, 0, 0, 0}, []byte{0x41, 0xBC, 0, 0})
	f.Add([]byte{2, 8, 1, 0, 0, 2, 8, 3, 0, 4}, []byte{0x7F, 0xF8, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0, 8, 0, 0, 7, 1, 8, 0, 0, 9}, []byte{0xFF, 0x01})
	f.Add([]byte{3, 8, 15, 0xFF, 0xFF}, []byte{0x80, 0x00})
	f.Add([]byte{2, 0x85, 2, 0, 1}, []byte{})
	f.Fuzz(func(t *testing.T, spec, data []byte) {
		pts := fuzzPoints(spec)
		pl := makePlan(pts, int(len(spec)%40)-4)
		vals := make([]value, len(pts))
		for ri := range pl.reads {
			err := pl.decode(ri, data, vals)
			r := &pl.reads[ri]
			if len(data) != r.bytes() {
				var le *lengthError
				if !errors.As(err, &le) {
					t.Fatalf("read %+v: %d bytes decoded without a length error (%v)", r, len(data), err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("read %+v: %v", r, err)
			}
			for _, s := range pl.slots[r.first : r.first+r.n] {
				v := vals[s.point]
				switch s.typ {
				case typeBool:
				case typeString:
					checkString(t, v.s, s.words)
				default:
					if bad := math.IsNaN(v.f) || math.IsInf(v.f, 0); bad != v.bad {
						t.Fatalf("point %+v: value %v marked bad=%v", pts[s.point], v.f, v.bad)
					}
				}
			}
		}
	})
}

// checkString fails unless s could be the text of a string point of
// length registers: UTF-8, no trailing NUL or space, at most two bytes per
// register (three per replaced byte).
func checkString(t *testing.T, s string, length int) {
	t.Helper()
	if !utf8.ValidString(s) || strings.TrimRight(s, "\x00 ") != s || len(s) > 3*2*length {
		t.Fatalf("string %q of %d registers", s, length)
	}
}

// FuzzDecodeString: any register bytes in either order decode to valid
// UTF-8 without trailing NULs or spaces; text that was valid UTF-8 is kept
// as it came (after the byte swap of BA); decoding the same bytes again
// returns the previous string itself, without allocating.
func FuzzDecodeString(f *testing.F) {
	f.Add([]byte("Modbus String\x00"), false)
	f.Add([]byte("oMbdsuS rtni\x00g"), true)
	f.Add([]byte{0xE7, 0x94, 0xB2, 0xE7, 0x83, 0xB7, 0x20, 0x00}, false)
	f.Add([]byte{0xFF, 0xFE, 0x00, 0x41}, true)
	f.Add([]byte{}, false)
	f.Fuzz(func(t *testing.T, b []byte, ba bool) {
		b = b[:len(b)&^1] // whole registers
		if len(b) > 2*maxStringLength {
			b = b[:2*maxStringLength]
		}
		o := orderABCD
		swapped := append([]byte(nil), b...)
		if ba {
			o = orderDCBA
			for i := 0; i < len(swapped); i += 2 {
				swapped[i], swapped[i+1] = swapped[i+1], swapped[i]
			}
		}
		s := decodeString(b, o, "")
		checkString(t, s, len(b)/2)
		if utf8.Valid(swapped) && !strings.HasPrefix(string(swapped), s) {
			t.Fatalf("%q decoded to %q, not a prefix", swapped, s)
		}
		again := decodeString(b, o, s)
		if again != s {
			t.Fatalf("second decode gave %q, first %q", again, s)
		}
		// Text with replaced bytes is rebuilt every time (documented).
		if s != "" && utf8.Valid(swapped) && unsafe.StringData(again) != unsafe.StringData(s) {
			t.Fatalf("second decode of %q built a new string", s)
		}
	})
}

// FuzzPlan: any set of valid points and any max_gap gives a plan that
// holds every invariant (see checkPlan).
func FuzzPlan(f *testing.F) {
	f.Add([]byte{2, 6, 0, 0, 0, 2, 1, 0, 0, 2, 2, 8, 0, 0, 120}, 16)
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 7, 208, 1, 0, 0, 0, 1}, 0)
	f.Add([]byte{3, 8, 3, 0xFF, 0xFC, 3, 1, 0, 0xFF, 0xFF}, 125)
	f.Add([]byte{2, 2, 0, 0, 122, 2, 8, 0, 0, 123, 2, 1, 0, 0, 0}, 200)
	f.Fuzz(func(t *testing.T, spec []byte, maxGap int) {
		maxGap %= 300
		pts := fuzzPoints(spec)
		checkPlan(t, makePlan(pts, maxGap), pts, maxGap)
	})
}
