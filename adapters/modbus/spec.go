package modbus

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hazardgw/hazardgw/internal/conf"
)

// area is one of the four Modbus data areas.
type area uint8

const (
	areaCoil     area = iota + 1 // function code 1
	areaDiscrete                 // function code 2
	areaHolding                  // function code 3
	areaInput                    // function code 4
)

var areaNames = [...]string{areaCoil: "coil", areaDiscrete: "discrete", areaHolding: "holding", areaInput: "input"}

func (a area) String() string {
	if a >= areaCoil && a <= areaInput {
		return areaNames[a]
	}
	return "area?"
}

// isBit reports whether a holds single bits rather than 16-bit registers.
func (a area) isBit() bool { return a == areaCoil || a == areaDiscrete }

// maxCount is the most registers or bits one read request may ask for
// (Modbus Application Protocol v1.1b3 §6.1–6.4).
func (a area) maxCount() int {
	if a.isBit() {
		return 2000
	}
	return 125
}

// respBytes is the length of the data in a response to a read of count
// registers or bits.
func (a area) respBytes(count int) int {
	if a.isBit() {
		return (count + 7) / 8
	}
	return 2 * count
}

func parseArea(s string) (area, error) {
	for a := areaCoil; a <= areaInput; a++ {
		if strings.EqualFold(s, areaNames[a]) {
			return a, nil
		}
	}
	return 0, fmt.Errorf("%q must be holding, input, coil or discrete", s)
}

// dataType is the type of a point's raw value.
type dataType uint8

const (
	typeInt8L dataType = iota + 1 // low byte of one register, signed
	typeInt8H                     // high byte of one register, signed
	typeUint8L
	typeUint8H
	typeInt16
	typeUint16
	typeInt32
	typeUint32
	typeInt64
	typeUint64
	typeFloat16 // IEEE 754 half precision
	typeFloat32
	typeFloat64
	typeBool
	typeString // `length` registers of two ASCII characters each
	typeEnd    // one past the last type
)

var typeNames = [...]string{
	typeInt8L: "int8l", typeInt8H: "int8h", typeUint8L: "uint8l", typeUint8H: "uint8h",
	typeInt16: "int16", typeUint16: "uint16", typeInt32: "int32", typeUint32: "uint32",
	typeInt64: "int64", typeUint64: "uint64",
	typeFloat16: "float16", typeFloat32: "float32", typeFloat64: "float64",
	typeBool: "bool", typeString: "string",
}

func (t dataType) String() string {
	if t > 0 && t < typeEnd {
		return typeNames[t]
	}
	return "type?"
}

// words is how many registers a value of type t occupies: 1, 2 or 4 for
// numbers; 0 for bool (one bit of a coil, a discrete input or a
// register) and for string (its length is configured per point).
func (t dataType) words() int {
	switch t {
	case typeInt8L, typeInt8H, typeUint8L, typeUint8H, typeInt16, typeUint16, typeFloat16:
		return 1
	case typeInt32, typeUint32, typeFloat32:
		return 2
	case typeInt64, typeUint64, typeFloat64:
		return 4
	}
	return 0
}

// numeric reports whether t decodes to a number, to which scale and
// offset apply.
func (t dataType) numeric() bool { return t.words() > 0 }

// typeList is every type name, in the order messages and docs give them.
func typeList() []string { return slices.Clone(typeNames[1:]) }

func parseType(s string) (dataType, error) {
	for t := dataType(1); t < typeEnd; t++ {
		if strings.EqualFold(s, typeNames[t]) {
			return t, nil
		}
	}
	return 0, fmt.Errorf("%q must be one of %s", s, strings.Join(typeList(), " "))
}

// byteOrder says how the bytes of a value are laid out over its registers.
// Naming the value's bytes A (most significant) to D (or H), the registers
// in address order hold: ABCD "AB CD", CDAB "CD AB", BADC "BA DC", DCBA
// "DC BA". For 64-bit values the pattern extends and has its own names:
// ABCDEFGH, GHEFCDAB (the least significant word first), BADCFEHG (the
// bytes of each word swapped) and HGFEDCBA (fully little-endian). A 16-bit
// value is AB or BA; the byte of an 8-bit type and the characters of a
// string are taken after that swap.
type byteOrder uint8

const (
	orderABCD byteOrder = iota // big-endian; AB, ABCDEFGH
	orderCDAB                  // word swap; GHEFCDAB
	orderBADC                  // byte swap within words; BADCFEHG
	orderDCBA                  // little-endian; BA, HGFEDCBA
)

// String is o's 32-bit name; see orderString for the name by width.
func (o byteOrder) String() string { return orderString(o, typeInt32) }

// orderName is one accepted spelling of an order.
type orderName struct {
	name  string
	order byteOrder
}

// Order names by value width. 16-bit values also accept the 32-bit names
// (CDAB is AB, BADC and DCBA are BA), as configurations written before AB
// and BA existed use them.
var (
	orders16 = []orderName{{"AB", orderABCD}, {"BA", orderDCBA},
		{"ABCD", orderABCD}, {"CDAB", orderABCD}, {"BADC", orderDCBA}, {"DCBA", orderDCBA}}
	orders32 = []orderName{{"ABCD", orderABCD}, {"CDAB", orderCDAB}, {"BADC", orderBADC}, {"DCBA", orderDCBA}}
	orders64 = []orderName{{"ABCDEFGH", orderABCD}, {"GHEFCDAB", orderCDAB}, {"BADCFEHG", orderBADC}, {"HGFEDCBA", orderDCBA},
		{"ABCD", orderABCD}, {"CDAB", orderCDAB}, {"BADC", orderBADC}, {"DCBA", orderDCBA}}
)

// orders returns the order names a value of type t accepts, canonical
// ones first; nil for an unknown type. bool and string count as 16-bit.
func (t dataType) orders() []orderName {
	switch {
	case t == 0 || t >= typeEnd:
		return nil
	case t.words() == 2:
		return orders32
	case t.words() == 4:
		return orders64
	}
	return orders16
}

// orderList is the names of orders, for messages: the canonical ones of
// t, or of every width when t is unknown.
func orderList(t dataType) []string {
	if t.orders() == nil {
		return []string{"AB", "BA", "ABCD", "CDAB", "BADC", "DCBA", "ABCDEFGH", "GHEFCDAB", "BADCFEHG", "HGFEDCBA"}
	}
	var out []string
	for _, on := range t.orders() {
		if len(on.name) == 2*t.orderLen() {
			out = append(out, on.name)
		}
	}
	return out
}

// orderLen is the number of byte letters in t's canonical order names.
func (t dataType) orderLen() int {
	switch t.words() {
	case 2:
		return 2
	case 4:
		return 4
	}
	return 1
}

// orderString is the canonical name of o for a value of type t.
func orderString(o byteOrder, t dataType) string {
	for _, on := range t.orders() {
		if on.order == o && len(on.name) == 2*t.orderLen() {
			return on.name
		}
	}
	return "order?"
}

// parseOrder parses the order of a value of type t; "" is big-endian. An
// unknown t accepts every name (its type error is reported on its own).
func parseOrder(s string, t dataType) (byteOrder, error) {
	if s == "" {
		return orderABCD, nil
	}
	names := t.orders()
	if names == nil {
		names = append(append(append([]orderName(nil), orders16...), orders32...), orders64...)
	}
	for _, on := range names {
		if strings.EqualFold(s, on.name) {
			return on.order, nil
		}
	}
	if t.orders() == nil {
		return 0, fmt.Errorf("%q must be one of %s", s, strings.Join(orderList(t), " "))
	}
	return 0, fmt.Errorf("%q is not an order of %s: want %s", s, t, strings.Join(orderList(t), " "))
}

// maxStringLength is the longest string, in registers: one read.
const maxStringLength = 125

// pointSpec is a PointConfig parsed and checked: everything planning and
// decoding need, with defaults applied.
type pointSpec struct {
	name, unit    string
	area          area
	addr          uint16
	typ           dataType
	order         byteOrder
	bit           uint8 // bool in a register: 0 = least significant
	length        int   // string: registers
	scale, offset float64
}

// span is how many registers (register areas) or bits (bit areas) the point
// occupies.
func (p *pointSpec) span() int {
	switch p.typ {
	case typeBool:
		return 1
	case typeString:
		return p.length
	}
	return p.typ.words()
}

// parsePoint checks pc, with its name, as a device's point and returns its
// spec; the error lists every problem, one per line ("field: what").
func parsePoint(pc PointConfig) (pointSpec, error) {
	var p conf.Problems
	conf.CheckName(&p, "name", pc.Name)
	spec, ok := compilePoint(&pc, "", &p)
	if err := problemsError(p); err != nil || !ok {
		return pointSpec{}, err
	}
	return spec, nil
}

// problemsError is p's problems (not its warnings) as one error, a line
// each, "path: what"; nil if there are none.
func problemsError(p conf.Problems) error {
	if p.Len() == 0 {
		return nil
	}
	errs := make([]error, len(p.List))
	for i, pr := range p.List {
		if pr.Path == "" {
			errs[i] = errors.New(pr.Msg)
		} else {
			errs[i] = fmt.Errorf("%s: %s", pr.Path, pr.Msg)
		}
	}
	return errors.Join(errs...)
}
