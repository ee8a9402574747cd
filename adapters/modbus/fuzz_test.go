package modbus

import (
	"errors"
	"math"
	"testing"
)

// fuzzPoints turns bytes into up to 64 valid points, 5 bytes each: area,
// type, order / bit, address high and low byte. Invalid combinations are
// dropped, as New would refuse them.
func fuzzPoints(spec []byte) []pointSpec {
	var out []pointSpec
	for i := 0; i+5 <= len(spec) && len(out) < 64; i += 5 {
		a := area(spec[i]%4 + 1)
		pc := PointConfig{
			Name:    "p",
			Area:    a.String(),
			Type:    dataType(spec[i+1]%9 + 1).String(),
			Order:   byteOrder(spec[i+2] % 4).String(),
			Address: int(spec[i+3])<<8 | int(spec[i+4]),
		}
		if a.isBit() {
			pc.Type, pc.Order = "bool", ""
		} else if pc.Type == "bool" {
			pc.Bit = ptr(int(spec[i+2] % 16))
		}
		if spec[i+1]&0x80 != 0 {
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
				if s.typ == typeBool {
					continue
				}
				if bad := math.IsNaN(v.f) || math.IsInf(v.f, 0); bad != v.bad {
					t.Fatalf("point %+v: value %v marked bad=%v", pts[s.point], v.f, v.bad)
				}
			}
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
