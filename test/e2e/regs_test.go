package e2e

import (
	"encoding/binary"
	"math"
)

// decode is the test's own reading of the configuration's types and orders, written
// from the specification and shared with neither the gateway nor the
// simulator: three independent implementations must agree.
//
// Orders name the byte sequence as sent, for a big-endian value ABCD(EFGH):
// ABCD as is, CDAB words in reverse order, BADC bytes swapped within each
// word, DCBA all bytes reversed.
func decode(words []uint16, typ, order string, scale, offset float64) float64 {
	raw := make([]byte, 2*len(words))
	for i, w := range words {
		binary.BigEndian.PutUint16(raw[2*i:], w)
	}
	b := make([]byte, len(raw))
	n := len(raw)
	switch order {
	case "ABCD", "":
		copy(b, raw)
	case "CDAB":
		for i := 0; i < n; i += 2 {
			copy(b[i:i+2], raw[n-2-i:n-i])
		}
	case "BADC":
		for i := 0; i < n; i += 2 {
			b[i], b[i+1] = raw[i+1], raw[i]
		}
	case "DCBA":
		for i := range n {
			b[i] = raw[n-1-i]
		}
	}
	var v float64
	switch typ {
	case "int16":
		v = float64(int16(binary.BigEndian.Uint16(b)))
	case "uint16":
		v = float64(binary.BigEndian.Uint16(b))
	case "int32":
		v = float64(int32(binary.BigEndian.Uint32(b)))
	case "uint32":
		v = float64(binary.BigEndian.Uint32(b))
	case "int64":
		v = float64(int64(binary.BigEndian.Uint64(b)))
	case "uint64":
		v = float64(binary.BigEndian.Uint64(b))
	case "float32":
		v = float64(math.Float32frombits(binary.BigEndian.Uint32(b)))
	case "float64":
		v = math.Float64frombits(binary.BigEndian.Uint64(b))
	}
	return v*scale + offset
}

func width(typ string) int {
	switch typ {
	case "int32", "uint32", "float32":
		return 2
	case "int64", "uint64", "float64":
		return 4
	}
	return 1
}
