package modbussim

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// transports is a set of transports a unit answers on.
type transports uint32

const (
	onTCP transports = 1 << iota
	onRTU
	onAll = onTCP | onRTU
)

// Unit is one simulated Modbus device (one unit id). Its methods are safe for
// concurrent use; values written here are visible to the next request.
type Unit struct {
	id  uint8
	srv *Server

	fault atomic.Pointer[Fault] // read on every request
	on    atomic.Uint32         // transports

	mu        sync.RWMutex // guards the areas and the profile state
	holding   regStore
	input     regStore
	coils     bitStore
	discrete  bitStore
	prof      *profile
	label     string
	overrides map[string]float64
}

func newUnit(s *Server, id uint8) *Unit {
	u := &Unit{id: id, srv: s}
	u.fault.Store(&Fault{Mode: None})
	u.on.Store(uint32(onAll))
	return u
}

// ID returns the unit id.
func (u *Unit) ID() uint8 { return u.id }

func (u *Unit) servedOn(t transports) bool { return transports(u.on.Load())&t != 0 }

func (u *Unit) regs(a Area) *regStore {
	if a == Input {
		return &u.input
	}
	return &u.holding
}

func (u *Unit) bits(a Area) *bitStore {
	if a == Discrete {
		return &u.discrete
	}
	return &u.coils
}

// SetRegisters writes words to consecutive registers of a (Holding or
// Input) starting at addr.
func (u *Unit) SetRegisters(a Area, addr uint16, words ...uint16) error {
	if !a.IsRegister() {
		return fmt.Errorf("set registers: %s is not a register area", a)
	}
	if err := checkSpan(addr, len(words)); err != nil {
		return fmt.Errorf("set registers: %w", err)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	r := u.regs(a)
	for i, w := range words {
		r.set(addr+uint16(i), w)
	}
	return nil
}

// Registers returns n registers of a starting at addr.
func (u *Unit) Registers(a Area, addr uint16, n int) ([]uint16, error) {
	if !a.IsRegister() {
		return nil, fmt.Errorf("get registers: %s is not a register area", a)
	}
	if err := checkSpan(addr, n); err != nil || n < 0 {
		return nil, fmt.Errorf("get registers: bad span %d at %d", n, addr)
	}
	out := make([]uint16, n)
	u.mu.RLock()
	defer u.mu.RUnlock()
	r := u.regs(a)
	for i := range out {
		out[i] = r.get(addr + uint16(i))
	}
	return out, nil
}

// SetBits writes vals to consecutive bits of a (Coil or Discrete) starting
// at addr.
func (u *Unit) SetBits(a Area, addr uint16, vals ...bool) error {
	if !a.IsBit() {
		return fmt.Errorf("set bits: %s is not a bit area", a)
	}
	if err := checkSpan(addr, len(vals)); err != nil {
		return fmt.Errorf("set bits: %w", err)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	b := u.bits(a)
	for i, v := range vals {
		b.set(addr+uint16(i), v)
	}
	return nil
}

// Bits returns n bits of a starting at addr.
func (u *Unit) Bits(a Area, addr uint16, n int) ([]bool, error) {
	if !a.IsBit() {
		return nil, fmt.Errorf("get bits: %s is not a bit area", a)
	}
	if err := checkSpan(addr, n); err != nil || n < 0 {
		return nil, fmt.Errorf("get bits: bad span %d at %d", n, addr)
	}
	out := make([]bool, n)
	u.mu.RLock()
	defer u.mu.RUnlock()
	b := u.bits(a)
	for i := range out {
		out[i] = b.get(addr + uint16(i))
	}
	return out, nil
}

// SetValue encodes the engineering value v as type typ in order at addr of
// area a, with raw = (v-offset)/scale (see [Encode]). For type bool, a
// non-zero v is true; in a register area it sets bit 0 (use [Unit.WritePoint]
// for other bits).
func (u *Unit) SetValue(a Area, addr uint16, typ, order string, scale, offset, v float64) error {
	return u.WritePoint(Point{Area: a, Address: addr, Type: typ, Order: order, Scale: scale, Offset: offset}, v)
}

// Value decodes the engineering value at addr of area a; the inverse of
// SetValue.
func (u *Unit) Value(a Area, addr uint16, typ, order string, scale, offset float64) (float64, error) {
	return u.ReadPoint(Point{Area: a, Address: addr, Type: typ, Order: order, Scale: scale, Offset: offset})
}

// WritePoint encodes v into the registers or bit of p.
func (u *Unit) WritePoint(p Point, v float64) error {
	c, err := compilePoint(p)
	if err != nil {
		return fmt.Errorf("write point: %w", err)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if err := u.writeLocked(&c, v); err != nil {
		return fmt.Errorf("write point: %w", err)
	}
	return nil
}

// ReadPoint decodes the engineering value of p; a bool is 0 or 1.
func (u *Unit) ReadPoint(p Point) (float64, error) {
	c, err := compilePoint(p)
	if err != nil {
		return 0, fmt.Errorf("read point: %w", err)
	}
	u.mu.RLock()
	defer u.mu.RUnlock()
	return u.readLocked(&c), nil
}

func (u *Unit) writeLocked(p *compiled, v float64) error {
	if p.c.typ == typeBool {
		if math.IsNaN(v) {
			return fmt.Errorf("encode %s: NaN is not a bool", p.Name)
		}
		u.writeBoolLocked(p, v != 0)
		return nil
	}
	var buf [4]uint16
	n := p.c.typ.words()
	if err := p.c.encode(buf[:n], v); err != nil {
		return err
	}
	r := u.regs(p.Area)
	for i, w := range buf[:n] {
		r.set(p.Address+uint16(i), w)
	}
	return nil
}

func (u *Unit) writeBoolLocked(p *compiled, b bool) {
	if p.Area.IsBit() {
		u.bits(p.Area).set(p.Address, b)
		return
	}
	r := u.regs(p.Area)
	w := r.get(p.Address)
	mask := uint16(1) << p.Bit
	if b {
		w |= mask
	} else {
		w &^= mask
	}
	r.set(p.Address, w)
}

func (u *Unit) readLocked(p *compiled) float64 {
	if p.c.typ == typeBool {
		var b bool
		if p.Area.IsBit() {
			b = u.bits(p.Area).get(p.Address)
		} else {
			b = u.regs(p.Area).get(p.Address)&(1<<p.Bit) != 0
		}
		if b {
			return 1
		}
		return 0
	}
	var buf [4]uint16
	n := p.c.typ.words()
	r := u.regs(p.Area)
	for i := range buf[:n] {
		buf[i] = r.get(p.Address + uint16(i))
	}
	return p.c.decode(buf[:n])
}

// SetFault sets the unit's misbehaviour; Fault{} or Fault{Mode: None}
// restores normal answers.
func (u *Unit) SetFault(f Fault) error {
	n, err := f.normalize()
	if err != nil {
		return fmt.Errorf("set fault: %w", err)
	}
	u.fault.Store(&n)
	return nil
}

// Fault returns the unit's current fault.
func (u *Unit) Fault() Fault { return *u.fault.Load() }

// UseProfile makes the unit follow the named built-in profile: its points
// are set to their defaults and earlier overrides are forgotten. Registers
// outside the profile's points are left as they are.
func (u *Unit) UseProfile(name, label string) error {
	p, ok := u.srv.profiles[name]
	if !ok {
		return fmt.Errorf("use profile: unknown profile %q", name)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.prof, u.label, u.overrides = p, label, nil
	for i := range p.points {
		if err := u.writeLocked(&p.points[i], p.points[i].Default); err != nil {
			return fmt.Errorf("use profile %s: %w", name, err)
		}
	}
	return nil
}

// Profile returns the name of the unit's profile ("" if none) and its label.
func (u *Unit) Profile() (name, label string) {
	u.mu.RLock()
	defer u.mu.RUnlock()
	if u.prof == nil {
		return "", u.label
	}
	return u.prof.Name, u.label
}

// Override writes v to the profile point name and pins it: the scenario no
// longer drives the point until ClearOverride.
func (u *Unit) Override(name string, v float64) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	p, err := u.pointLocked(name)
	if err != nil {
		return fmt.Errorf("override point: %w", err)
	}
	if err := u.writeLocked(p, v); err != nil {
		return fmt.Errorf("override point: %w", err)
	}
	if u.overrides == nil {
		u.overrides = make(map[string]float64)
	}
	u.overrides[name] = v
	return nil
}

// ClearOverride hands the point name back to the scenario. The value stays
// until the scenario next writes it.
func (u *Unit) ClearOverride(name string) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, err := u.pointLocked(name); err != nil {
		return fmt.Errorf("clear override: %w", err)
	}
	delete(u.overrides, name)
	return nil
}

// ErrNoPoint is returned for a point name the unit's profile lacks.
var ErrNoPoint = errors.New("no such point")

func (u *Unit) pointLocked(name string) (*compiled, error) {
	if u.prof == nil {
		return nil, fmt.Errorf("unit %d has no profile: %w", u.id, ErrNoPoint)
	}
	p, ok := u.prof.point(name)
	if !ok {
		return nil, fmt.Errorf("%s has no point %q: %w", u.prof.Name, name, ErrNoPoint)
	}
	return p, nil
}

// Values returns the current engineering value of every profile point,
// decoded from the registers (so raw writes by a client or the API show);
// bools are 0 or 1. A unit without a profile returns an empty map.
func (u *Unit) Values() map[string]float64 {
	u.mu.RLock()
	defer u.mu.RUnlock()
	out := make(map[string]float64)
	if u.prof == nil {
		return out
	}
	for i := range u.prof.points {
		p := &u.prof.points[i]
		out[p.Name] = u.readLocked(p)
	}
	return out
}

// pointState is one profile point and its current value, for the API.
type pointState struct {
	Point
	Value      float64
	Overridden bool
}

func (u *Unit) pointStates() []pointState {
	u.mu.RLock()
	defer u.mu.RUnlock()
	if u.prof == nil {
		return nil
	}
	out := make([]pointState, 0, len(u.prof.points))
	for i := range u.prof.points {
		p := &u.prof.points[i]
		_, pinned := u.overrides[p.Name]
		out = append(out, pointState{Point: p.Point, Value: u.readLocked(p), Overridden: pinned})
	}
	return out
}

// drive writes generated values for points that are not overridden; values
// are clamped to each point's measuring range first.
func (u *Unit) drive(gens []pointGen, at time.Duration) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	var first error
	for i := range gens {
		g := &gens[i]
		if _, pinned := u.overrides[g.p.Name]; pinned {
			continue
		}
		if err := u.writeLocked(g.p, g.p.clamp(g.gen(at))); err != nil && first == nil {
			first = fmt.Errorf("drive unit %d: %w", u.id, err)
		}
	}
	return first
}
