package modbus

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
)

// value is one decoded point. A float value that is NaN or infinite is
// bad: it is never stored as a reading.
type value struct {
	f   float64
	b   bool
	bad bool
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
// unless the length is wrong, in which case vals is left untouched.
func (pl *plan) decode(ri int, data []byte, vals []value) error {
	r := &pl.reads[ri]
	if want := r.bytes(); len(data) != want {
		return &lengthError{area: r.area, want: want, got: len(data)}
	}
	for i := r.first; i < r.first+r.n; i++ {
		s := &pl.slots[i]
		v := &vals[s.point]
		if s.typ == typeBool {
			*v = value{b: data[s.off]&s.mask != 0}
			continue
		}
		f := toFloat(s.typ, rawBits(data[s.off:s.off+2*s.words], s.order))*s.scale + s.offset
		*v = value{f: f, bad: math.IsNaN(f) || math.IsInf(f, 0)}
	}
	return nil
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

// toFloat interprets a raw bit pattern as t.
func toFloat(t dataType, raw uint64) float64 {
	switch t {
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
