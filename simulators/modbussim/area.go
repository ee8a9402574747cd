package modbussim

import (
	"fmt"
	"strings"
)

// Area is one of the four Modbus data areas. The zero Area is invalid.
type Area uint8

// The four data areas, named as in hazardgw's configuration.
const (
	Coil     Area = iota + 1 // read/write bits, function codes 1, 5, 15
	Discrete                 // read-only bits (discrete inputs), function code 2
	Holding                  // read/write registers, function codes 3, 6, 16
	Input                    // read-only registers (input registers), function code 4
)

var areaNames = [...]string{Coil: "coil", Discrete: "discrete", Holding: "holding", Input: "input"}

// String returns the configuration name of a: "coil", "discrete", "holding"
// or "input".
func (a Area) String() string {
	if a >= Coil && a <= Input {
		return areaNames[a]
	}
	return fmt.Sprintf("area(%d)", uint8(a))
}

// ParseArea parses a configuration area name, case-insensitively.
func ParseArea(s string) (Area, error) {
	for a := Coil; a <= Input; a++ {
		if strings.EqualFold(s, areaNames[a]) {
			return a, nil
		}
	}
	return 0, fmt.Errorf("parse area %q: want coil, discrete, holding or input", s)
}

// IsRegister reports whether a holds 16-bit registers (holding or input).
func (a Area) IsRegister() bool { return a == Holding || a == Input }

// IsBit reports whether a holds bits (coil or discrete).
func (a Area) IsBit() bool { return a == Coil || a == Discrete }

// MarshalText encodes a as its name.
func (a Area) MarshalText() ([]byte, error) {
	if !a.IsRegister() && !a.IsBit() {
		return nil, fmt.Errorf("marshal area: invalid area %d", uint8(a))
	}
	return []byte(a.String()), nil
}

// UnmarshalText decodes an area name.
func (a *Area) UnmarshalText(b []byte) error {
	v, err := ParseArea(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// checkSpan reports whether n entries starting at addr fit in the 65536
// addresses of an area.
func checkSpan(addr uint16, n int) error {
	if int(addr)+n > 1<<16 {
		return fmt.Errorf("check span: %d entries at %d run past address 65535", n, addr)
	}
	return nil
}

// Storage is sparse: 256 pages of 256 entries, allocated on first write, so a
// unit costs a few KiB until it is written all over.
const pageBits = 8
const pageSize = 1 << pageBits

type regStore struct {
	pages [1 << (16 - pageBits)]*[pageSize]uint16
}

func (r *regStore) get(addr uint16) uint16 {
	p := r.pages[addr>>pageBits]
	if p == nil {
		return 0
	}
	return p[addr&(pageSize-1)]
}

func (r *regStore) set(addr, v uint16) {
	p := r.pages[addr>>pageBits]
	if p == nil {
		if v == 0 {
			return
		}
		p = new([pageSize]uint16)
		r.pages[addr>>pageBits] = p
	}
	p[addr&(pageSize-1)] = v
}

type bitStore struct {
	pages [1 << (16 - pageBits)]*[pageSize]bool
}

func (b *bitStore) get(addr uint16) bool {
	p := b.pages[addr>>pageBits]
	return p != nil && p[addr&(pageSize-1)]
}

func (b *bitStore) set(addr uint16, v bool) {
	p := b.pages[addr>>pageBits]
	if p == nil {
		if !v {
			return
		}
		p = new([pageSize]bool)
		b.pages[addr>>pageBits] = p
	}
	p[addr&(pageSize-1)] = v
}
