package modbussim

import (
	"fmt"
	"math"
	"math/bits"
	"strings"
)

// dataType is a parsed point type.
type dataType uint8

const (
	typeInt16 dataType = iota + 1
	typeUint16
	typeInt32
	typeUint32
	typeInt64
	typeUint64
	typeFloat32
	typeFloat64
	typeBool
)

var typeNames = [...]string{
	typeInt16: "int16", typeUint16: "uint16", typeInt32: "int32", typeUint32: "uint32",
	typeInt64: "int64", typeUint64: "uint64", typeFloat32: "float32", typeFloat64: "float64",
	typeBool: "bool",
}

func (t dataType) String() string { return typeNames[t] }

func parseType(s string) (dataType, error) {
	for t := typeInt16; t <= typeBool; t++ {
		if strings.EqualFold(s, typeNames[t]) {
			return t, nil
		}
	}
	return 0, fmt.Errorf("parse type %q: want int16, uint16, int32, uint32, int64, uint64, float32, float64 or bool", s)
}

// words is the number of registers a value of type t occupies; 0 for bool.
func (t dataType) words() int {
	switch t {
	case typeInt16, typeUint16:
		return 1
	case typeInt32, typeUint32, typeFloat32:
		return 2
	case typeInt64, typeUint64, typeFloat64:
		return 4
	}
	return 0
}

// byteOrder is where the bytes of a value land in its registers. Name the
// bytes of the value, most significant first, A B C D (E F G H for 64-bit
// values); registers are listed in address order, each high byte first.
type byteOrder uint8

const (
	orderABCD byteOrder = iota // big-endian: most significant word first, high byte first
	orderCDAB                  // word swap: least significant word first, high byte first
	orderBADC                  // byte swap: most significant word first, low byte first
	orderDCBA                  // little-endian: least significant word first, low byte first
)

var orderNames = [...]string{orderABCD: "ABCD", orderCDAB: "CDAB", orderBADC: "BADC", orderDCBA: "DCBA"}

func (o byteOrder) String() string { return orderNames[o] }

// parseOrder parses an order name; the empty string means ABCD.
func parseOrder(s string) (byteOrder, error) {
	if s == "" {
		return orderABCD, nil
	}
	for o := orderABCD; o <= orderDCBA; o++ {
		if strings.EqualFold(s, orderNames[o]) {
			return o, nil
		}
	}
	return 0, fmt.Errorf("parse order %q: want ABCD, CDAB, BADC or DCBA", s)
}

func (o byteOrder) swapsWords() bool { return o == orderCDAB || o == orderDCBA }
func (o byteOrder) swapsBytes() bool { return o == orderBADC || o == orderDCBA }

// putWords spreads the low n*16 bits of v over dst[:n] in order o.
func putWords(dst []uint16, v uint64, n int, o byteOrder) {
	for i := range n {
		w := uint16(v >> (16 * (n - 1 - i))) // word i, most significant first
		if o.swapsBytes() {
			w = bits.ReverseBytes16(w)
		}
		j := i
		if o.swapsWords() {
			j = n - 1 - i
		}
		dst[j] = w
	}
}

// getWords is the inverse of putWords.
func getWords(src []uint16, n int, o byteOrder) uint64 {
	var v uint64
	for i := range n {
		j := i
		if o.swapsWords() {
			j = n - 1 - i
		}
		w := src[j]
		if o.swapsBytes() {
			w = bits.ReverseBytes16(w)
		}
		v = v<<16 | uint64(w)
	}
	return v
}

// codec is a parsed (type, order, scale, offset) quadruple.
type codec struct {
	typ    dataType
	order  byteOrder
	scale  float64
	offset float64
}

func newCodec(typ, order string, scale, offset float64) (codec, error) {
	t, err := parseType(typ)
	if err != nil {
		return codec{}, err
	}
	o, err := parseOrder(order)
	if err != nil {
		return codec{}, err
	}
	if scale == 0 {
		scale = 1 // a zero scale means the default, as in the gateway's config
	}
	if math.IsNaN(scale) || math.IsInf(scale, 0) || math.IsNaN(offset) || math.IsInf(offset, 0) {
		return codec{}, fmt.Errorf("parse scale/offset: %v/%v is not finite", scale, offset)
	}
	return codec{typ: t, order: o, scale: scale, offset: offset}, nil
}

// integer ranges as float64; the upper bounds are exclusive and exact.
var intRange = [...]struct{ lo, hi float64 }{
	typeInt16:  {math.MinInt16, math.MaxInt16 + 1},
	typeUint16: {0, math.MaxUint16 + 1},
	typeInt32:  {math.MinInt32, math.MaxInt32 + 1},
	typeUint32: {0, math.MaxUint32 + 1},
	typeInt64:  {math.MinInt64, 1 << 63},
	typeUint64: {0, 1 << 64},
}

// rawBits converts an engineering value to the bit pattern of the raw value,
// right-aligned in a uint64: raw = (v-offset)/scale, rounded half away from
// zero for integer types.
func (c codec) rawBits(v float64) (uint64, error) {
	raw := (v - c.offset) / c.scale
	switch c.typ {
	case typeFloat32:
		f := float32(raw)
		if math.IsInf(float64(f), 0) && !math.IsInf(raw, 0) {
			return 0, fmt.Errorf("encode %v: raw %v overflows float32", v, raw)
		}
		return uint64(math.Float32bits(f)), nil
	case typeFloat64:
		return math.Float64bits(raw), nil
	case typeBool:
		return 0, fmt.Errorf("encode %v: bool is not a register type", v)
	}
	if math.IsNaN(raw) || math.IsInf(raw, 0) {
		return 0, fmt.Errorf("encode %v: raw %v is not a finite %s", v, raw, c.typ)
	}
	r := math.Round(raw)
	rg := intRange[c.typ]
	if r < rg.lo || r >= rg.hi {
		return 0, fmt.Errorf("encode %v: raw %v out of %s range", v, r, c.typ)
	}
	switch c.typ {
	case typeInt16:
		return uint64(uint16(int16(r))), nil
	case typeInt32:
		return uint64(uint32(int32(r))), nil
	case typeInt64:
		return uint64(int64(r)), nil
	}
	return uint64(r), nil // unsigned types, range already checked
}

// fromBits converts a raw bit pattern to an engineering value.
func (c codec) fromBits(b uint64) float64 {
	var raw float64
	switch c.typ {
	case typeInt16:
		raw = float64(int16(uint16(b)))
	case typeUint16:
		raw = float64(uint16(b))
	case typeInt32:
		raw = float64(int32(uint32(b)))
	case typeUint32:
		raw = float64(uint32(b))
	case typeInt64:
		raw = float64(int64(b))
	case typeUint64:
		raw = float64(b)
	case typeFloat32:
		raw = float64(math.Float32frombits(uint32(b)))
	case typeFloat64:
		raw = math.Float64frombits(b)
	}
	return raw*c.scale + c.offset
}

// encode writes v into dst, which must hold c.typ.words() registers.
func (c codec) encode(dst []uint16, v float64) error {
	b, err := c.rawBits(v)
	if err != nil {
		return err
	}
	putWords(dst, b, c.typ.words(), c.order)
	return nil
}

// decode reads a value from src, which must hold c.typ.words() registers.
func (c codec) decode(src []uint16) float64 {
	return c.fromBits(getWords(src, c.typ.words(), c.order))
}

// Encode returns the registers that hold the engineering value v as type typ
// (int16 uint16 int32 uint32 int64 uint64 float32 float64) in order
// (ABCD, CDAB, BADC, DCBA; empty means ABCD), with
// raw = (v-offset)/scale rounded half away from zero for integer types.
// A zero scale means 1. For 16-bit types CDAB equals ABCD and DCBA equals
// BADC. For 64-bit types the orders extend naturally: CDAB reverses the order
// of all four words (GH EF CD AB), BADC swaps the bytes inside each word.
func Encode(typ, order string, scale, offset, v float64) ([]uint16, error) {
	c, err := newCodec(typ, order, scale, offset)
	if err != nil {
		return nil, fmt.Errorf("encode value: %w", err)
	}
	if c.typ == typeBool {
		return nil, fmt.Errorf("encode value: type bool has no register encoding")
	}
	dst := make([]uint16, c.typ.words())
	if err := c.encode(dst, v); err != nil {
		return nil, fmt.Errorf("encode value: %w", err)
	}
	return dst, nil
}

// Decode is the inverse of Encode: it returns raw*scale + offset of the value
// held in words, which must be exactly as long as the type.
func Decode(typ, order string, scale, offset float64, words []uint16) (float64, error) {
	c, err := newCodec(typ, order, scale, offset)
	if err != nil {
		return 0, fmt.Errorf("decode value: %w", err)
	}
	if c.typ == typeBool {
		return 0, fmt.Errorf("decode value: type bool has no register encoding")
	}
	if len(words) != c.typ.words() {
		return 0, fmt.Errorf("decode value: %s needs %d registers, got %d", c.typ, c.typ.words(), len(words))
	}
	return c.decode(words), nil
}
