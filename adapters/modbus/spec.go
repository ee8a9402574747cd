package modbus

import (
	"errors"
	"fmt"
	"math"
	"strings"
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

func (t dataType) String() string {
	if t >= typeInt16 && t <= typeBool {
		return typeNames[t]
	}
	return "type?"
}

// words is how many registers a value of type t occupies; bool is 0
// because it takes one bit (of a coil, a discrete input or a register).
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

func parseType(s string) (dataType, error) {
	for t := typeInt16; t <= typeBool; t++ {
		if strings.EqualFold(s, typeNames[t]) {
			return t, nil
		}
	}
	return 0, fmt.Errorf("%q must be one of int16 uint16 int32 uint32 int64 uint64 float32 float64 bool", s)
}

// byteOrder says how the bytes of a value are laid out over its registers.
// Naming the value's bytes A (most significant) to D (or H), the registers
// in address order hold: ABCD "AB CD", CDAB "CD AB", BADC "BA DC", DCBA
// "DC BA". For 64-bit values the pattern extends: CDAB puts the least
// significant word first (GH EF CD AB), BADC swaps the bytes of each word
// (BA DC FE HG), DCBA is fully little-endian. For 16-bit values CDAB is
// ABCD and DCBA is BADC.
type byteOrder uint8

const (
	orderABCD byteOrder = iota // big-endian
	orderCDAB                  // word swap
	orderBADC                  // byte swap within words
	orderDCBA                  // little-endian
)

var orderNames = [...]string{orderABCD: "ABCD", orderCDAB: "CDAB", orderBADC: "BADC", orderDCBA: "DCBA"}

func (o byteOrder) String() string {
	if o <= orderDCBA {
		return orderNames[o]
	}
	return "order?"
}

func parseOrder(s string) (byteOrder, error) {
	if s == "" {
		return orderABCD, nil
	}
	for o := orderABCD; o <= orderDCBA; o++ {
		if strings.EqualFold(s, orderNames[o]) {
			return o, nil
		}
	}
	return 0, fmt.Errorf("%q must be ABCD, CDAB, BADC or DCBA", s)
}

// pointSpec is a PointConfig parsed and checked: everything planning and
// decoding need, with defaults applied.
type pointSpec struct {
	name, unit    string
	area          area
	addr          uint16
	typ           dataType
	order         byteOrder
	bit           uint8 // bool in a register: 0 = least significant
	scale, offset float64
}

// span is how many registers (register areas) or bits (bit areas) the point
// occupies.
func (p *pointSpec) span() int {
	if p.typ == typeBool {
		return 1
	}
	return p.typ.words()
}

// parsePoint checks pc and returns its spec. Every problem is reported, not
// only the first.
func parsePoint(pc PointConfig) (pointSpec, error) {
	var errs []error
	p := pointSpec{name: pc.Name, unit: pc.Unit, scale: 1, offset: pc.Offset}
	if pc.Name == "" {
		errs = append(errs, fieldErr("name", errors.New("required")))
	}
	a, err := parseArea(pc.Area)
	if err != nil {
		errs = append(errs, fieldErr("area", err))
	}
	p.area = a
	t, err := parseType(pc.Type)
	if err != nil {
		errs = append(errs, fieldErr("type", err))
	}
	p.typ = t
	o, err := parseOrder(pc.Order)
	if err != nil {
		errs = append(errs, fieldErr("order", err))
	}
	p.order = o
	if pc.Scale != nil {
		p.scale = *pc.Scale
	}
	if math.IsNaN(p.scale) || math.IsInf(p.scale, 0) || p.scale == 0 {
		errs = append(errs, fieldErr("scale", fmt.Errorf("%v must be a finite non-zero number", p.scale)))
	}
	if math.IsNaN(p.offset) || math.IsInf(p.offset, 0) {
		errs = append(errs, fieldErr("offset", fmt.Errorf("%v must be finite", p.offset)))
	}
	if a != 0 && t != 0 {
		switch {
		case a.isBit() && t != typeBool:
			errs = append(errs, fieldErr("type", fmt.Errorf("%s area holds only bool points, not %s", a, t)))
		case a.isBit() && pc.Bit != nil:
			errs = append(errs, fieldErr("bit", errors.New("applies only to bool points in a register area")))
		case t != typeBool && pc.Bit != nil:
			errs = append(errs, fieldErr("bit", fmt.Errorf("applies only to type bool, not %s", t)))
		}
	}
	if pc.Bit != nil {
		if *pc.Bit < 0 || *pc.Bit > 15 {
			errs = append(errs, fieldErr("bit", fmt.Errorf("%d must be 0..15", *pc.Bit)))
		} else {
			p.bit = uint8(*pc.Bit)
		}
	}
	if pc.Address < 0 || pc.Address > 0xFFFF {
		errs = append(errs, fieldErr("address", fmt.Errorf("%d must be 0..65535", pc.Address)))
	} else {
		p.addr = uint16(pc.Address)
		if t != 0 && pc.Address+p.span() > 0x10000 {
			errs = append(errs, fieldErr("address", fmt.Errorf("%s at %d runs past 65535", t, pc.Address)))
		}
	}
	if len(errs) > 0 {
		return pointSpec{}, errors.Join(errs...)
	}
	return p, nil
}

// fieldError is a problem with one field of a config struct.
type fieldError struct {
	field string
	err   error
}

func fieldErr(field string, err error) error { return &fieldError{field, err} }

func (e *fieldError) Error() string { return e.field + ": " + e.err.Error() }
func (e *fieldError) Unwrap() error { return e.err }
