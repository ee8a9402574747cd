package modbus

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"strings"
	"unicode/utf8"

	"github.com/hazardgw/hazardgw/gateway"
)

// value is one decoded point: f for numbers, b for bool, s for string. A
// number that is NaN or infinite is bad: it is never stored as a reading.
type value struct {
	f   float64
	b   bool
	bad bool
	s   string
}

// valueOf is v as a point of p's type holds it: float64, bool or string.
func (p *pointSpec) valueOf(v *value) any {
	switch p.typ {
	case typeBool:
		return v.b
	case typeString:
		return v.s
	}
	return v.f
}

// field is v as the InfluxDB field of p: boolean, string or float.
func (p *pointSpec) field(v *value) gateway.Field {
	switch p.typ {
	case typeBool:
		return gateway.Bool(p.name, v.b)
	case typeString:
		return gateway.String(p.name, v.s)
	}
	return gateway.Float(p.name, v.f)
}

// lengthError is a response whose data does not have the length its read
// asked for.
type lengthError struct {
	area      area
	want, got int
}

func (e *lengthError) Error() string {
	return fmt.Sprintf("decode %s response: %d data bytes, want %d", e.area, e.got, e.want)
}

// decode decodes the points of read ri from data, the response's data bytes
// (after the byte count), into vals, indexed by point. It does not allocate
// unless the length is wrong, in which case vals is left untouched, or a
// string point's text differs from the one already in vals.
func (pl *plan) decode(ri int, data []byte, vals []value) error {
	r := &pl.reads[ri]
	if want := r.bytes(); len(data) != want {
		return &lengthError{area: r.area, want: want, got: len(data)}
	}
	for i := r.first; i < r.first+r.n; i++ {
		s := &pl.slots[i]
		v := &vals[s.point]
		switch s.typ {
		case typeBool:
			*v = value{b: data[s.off]&s.mask != 0}
		case typeString:
			*v = value{s: decodeString(data[s.off:s.off+2*s.words], s.order, v.s)}
		default:
			f := toFloat(s.typ, rawBits(data[s.off:s.off+2*s.words], s.order))*s.scale + s.offset
			*v = value{f: f, bad: math.IsNaN(f) || math.IsInf(f, 0)}
		}
	}
	return nil
}

// decodeString returns the text held in b (whole registers as they came
// off the wire): two characters per register, high byte first (AB) or low
// byte first (BA), trailing NULs and spaces trimmed, each run of bytes
// that is not UTF-8 replaced by U+FFFD (InfluxDB string fields are
// UTF-8). It returns
// prev itself when the text is unchanged, so that polling a constant
// string does not allocate.
func decodeString(b []byte, order byteOrder, prev string) string {
	var buf [2 * maxStringLength]byte
	if len(b) > len(buf) {
		b = b[:len(buf)] // never for a planned point (length ≤ 125)
	}
	if order == orderBADC || order == orderDCBA {
		for i := 0; i+1 < len(b); i += 2 {
			buf[i], buf[i+1] = b[i+1], b[i]
		}
		b = buf[:len(b)]
	}
	b = bytes.TrimRight(b, "\x00 ")
	if string(b) == prev { // compiled without a conversion
		return prev
	}
	if !utf8.Valid(b) {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	return string(b)
}

// rawBits assembles the value held in b (2, 4 or 8 bytes, as they came off
// the wire) into its bit pattern, most significant byte first per order.
func rawBits(b []byte, order byteOrder) uint64 {
	switch len(b) {
	case 2:
		v := binary.BigEndian.Uint16(b)
		if order == orderBADC || order == orderDCBA {
			v = bits.ReverseBytes16(v)
		}
		return uint64(v)
	case 4:
		v := binary.BigEndian.Uint32(b)
		switch order {
		case orderCDAB:
			v = bits.RotateLeft32(v, 16)
		case orderBADC:
			v = (v&0x00FF00FF)<<8 | (v>>8)&0x00FF00FF
		case orderDCBA:
			v = bits.ReverseBytes32(v)
		}
		return uint64(v)
	case 8:
		v := binary.BigEndian.Uint64(b)
		const lo = 0x00FF00FF00FF00FF
		switch order {
		case orderCDAB: // reverse the words: reverse all bytes, then restore each word's byte order
			v = bits.ReverseBytes64(v)
			v = (v&lo)<<8 | (v>>8)&lo
		case orderBADC:
			v = (v&lo)<<8 | (v>>8)&lo
		case orderDCBA:
			v = bits.ReverseBytes64(v)
		}
		return v
	}
	return 0
}

// toFloat interprets a raw bit pattern as t. For the 8-bit types raw is
// the register's value, high byte in bits 15..8.
func toFloat(t dataType, raw uint64) float64 {
	switch t {
	case typeInt8L:
		return float64(int8(raw))
	case typeInt8H:
		return float64(int8(raw >> 8))
	case typeUint8L:
		return float64(uint8(raw))
	case typeUint8H:
		return float64(uint8(raw >> 8))
	case typeFloat16:
		return halfToFloat(uint16(raw))
	case typeInt16:
		return float64(int16(raw))
	case typeUint16:
		return float64(uint16(raw))
	case typeInt32:
		return float64(int32(raw))
	case typeUint32:
		return float64(uint32(raw))
	case typeInt64:
		return float64(int64(raw))
	case typeUint64:
		return float64(raw)
	case typeFloat32:
		return float64(math.Float32frombits(uint32(raw)))
	case typeFloat64:
		return math.Float64frombits(raw)
	}
	return math.NaN()
}

// halfToFloat converts an IEEE 754 binary16 value: 1 sign bit, 5 exponent
// bits (bias 15), 10 fraction bits. Every half value is exact in float64.
func halfToFloat(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp, frac := int(h>>10)&0x1F, float64(h&0x3FF)
	switch exp {
	case 0: // zero and subnormals: frac × 2^-24
		return sign * math.Ldexp(frac, -24)
	case 0x1F:
		if frac != 0 {
			return math.NaN()
		}
		return math.Inf(int(sign))
	}
	return sign * math.Ldexp(1024+frac, exp-25) // (1 + frac/1024) × 2^(exp-15)
}
