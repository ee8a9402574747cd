package modbus

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/hazardgw/hazardgw/internal/conf"
)

// ProbeRequest is one read of raw registers or bits, for commissioning: it
// answers "what is in these registers?" without a register map.
type ProbeRequest struct {
	URL     string        // tcp://host[:port] (port 502) or rtu:///dev/ttyX
	Serial  *SerialConfig // for rtu:// only; zero fields mean 9600 8E1
	Timeout time.Duration // for the dial and the request; zero means 1s
	UnitID  int           // 0..255 on TCP, 1..247 on a serial bus
	Area    string        // holding | input | coil | discrete
	Address int           // zero-based
	Count   int           // registers (1..125) or bits (1..2000)
}

// ProbeResult is what [Probe] read.
type ProbeResult struct {
	area    area
	Address int
	Count   int
	// Data is the response's data bytes: registers high byte first, or
	// bits packed eight to a byte, lowest address in the lowest bit.
	Data []byte
	RTT  time.Duration // connecting included
}

// Area is the area that was read.
func (r *ProbeResult) Area() string { return r.area.String() }

// Probe checks req, connects, sends its one read request and closes the
// connection. It blocks for at most about two timeouts (dial and
// request); ctx is checked before each. Errors are classified like a
// poll's: [Hint] explains them.
func Probe(ctx context.Context, req ProbeRequest) (*ProbeResult, error) {
	ep, lc, a, err := req.check()
	if err != nil {
		return nil, &requestError{err: err}
	}
	c := newConn(ep, lc)
	defer c.close()
	start := time.Now()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("probe: %w", err)
	}
	if err := c.connect(); err != nil {
		if ep.rtu { // the serial library's errors do not name the device
			err = fmt.Errorf("open %s: %w", ep.addr, err)
		}
		return nil, &connectError{err: err}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("probe: %w", err)
	}
	data, err := c.read(byte(req.UnitID), a, uint16(req.Address), uint16(req.Count))
	if err != nil {
		return nil, err
	}
	if want := a.respBytes(req.Count); len(data) != want {
		return nil, fmt.Errorf("read %s %d+%d from unit %d: %w", a, req.Address, req.Count, req.UnitID,
			&lengthError{area: a, want: want, got: len(data)})
	}
	return &ProbeResult{area: a, Address: req.Address, Count: req.Count, Data: append([]byte(nil), data...), RTT: time.Since(start)}, nil
}

// requestError is a ProbeRequest that cannot be sent as it is.
type requestError struct{ err error }

func (e *requestError) Error() string { return "check probe request: " + e.err.Error() }
func (e *requestError) Unwrap() error { return e.err }

// check reports every problem of req and returns what Probe needs.
func (req *ProbeRequest) check() (endpoint, LinkConfig, area, error) {
	var errs []error
	var p conf.Problems
	ep, ok := checkEndpoint(req.URL, "url", &p)
	if ok && ep.rtu && req.Serial != nil {
		checkSerial(req.Serial, "serial", &p)
	}
	if err := problemsError(p); err != nil {
		errs = append(errs, err)
	}
	lc := withLinkDefaults(LinkConfig{URL: req.URL, Timeout: req.Timeout, Serial: req.Serial})
	switch {
	case !ok:
	case ep.rtu:
		if req.UnitID < 1 || req.UnitID > 247 {
			errs = append(errs, fmt.Errorf("unit %d must be 1..247 on a serial bus", req.UnitID))
		}
	case req.Serial != nil:
		errs = append(errs, errors.New("serial settings are only for rtu:// URLs"))
	case req.UnitID < 0 || req.UnitID > 255:
		errs = append(errs, fmt.Errorf("unit %d must be 0..255", req.UnitID))
	}
	a, err := parseArea(req.Area)
	if err != nil {
		errs = append(errs, fmt.Errorf("area: %w", err))
	}
	switch {
	case req.Address < 0 || req.Address > 0xFFFF:
		errs = append(errs, fmt.Errorf("address %d must be 0..65535", req.Address))
	case a != 0 && (req.Count < 1 || req.Count > a.maxCount()):
		errs = append(errs, fmt.Errorf("count %d must be 1..%d for the %s area", req.Count, a.maxCount(), a))
	case req.Address+req.Count > 0x10000:
		errs = append(errs, fmt.Errorf("%d+%d runs past address 65535", req.Address, req.Count))
	}
	return ep, lc, a, errors.Join(errs...)
}

// Words returns the registers read, in address order; nil for a bit area.
func (r *ProbeResult) Words() []uint16 {
	if r.area.isBit() {
		return nil
	}
	w := make([]uint16, len(r.Data)/2)
	for i := range w {
		w[i] = binary.BigEndian.Uint16(r.Data[2*i:])
	}
	return w
}

// Bits returns the bits read, in address order; nil for a register area.
func (r *ProbeResult) Bits() []bool {
	if !r.area.isBit() {
		return nil
	}
	b := make([]bool, r.Count)
	for i := range b {
		b[i] = r.Data[i/8]&(1<<(i%8)) != 0
	}
	return b
}

// Interpretation is one way to read the registers of a [ProbeResult]: the
// value a point of this type and order at this address would have (scale 1,
// offset 0), decoded by the gateway's own decoder.
type Interpretation struct {
	Address int
	Type    string
	Order   string // the order's canonical name for the type's width
	Value   any    // float64, or string for type string
	Bad     bool   // NaN or infinite: the gateway would not store it
}

// Interpretations returns, for every address read and every type that
// fits in the registers from there on, the value in each order of that
// type; then the whole range as a string, AB and BA. Sorted by address,
// then type (in the order of the type list), then order. Nil for a bit
// area.
func (r *ProbeResult) Interpretations() []Interpretation {
	if r.area.isBit() || r.Count == 0 {
		return nil
	}
	var pts []pointSpec
	var out []Interpretation
	add := func(p pointSpec) {
		p.name, p.area, p.scale = "p", r.area, 1
		pts = append(pts, p)
		out = append(out, Interpretation{Address: int(p.addr), Type: p.typ.String(), Order: orderString(p.order, p.typ)})
	}
	end := r.Address + r.Count
	for addr := r.Address; addr < end; addr++ {
		for t := dataType(1); t < typeEnd; t++ {
			if !t.numeric() || addr+t.words() > end {
				continue
			}
			for _, name := range orderList(t) {
				o, _ := parseOrder(name, t)
				add(pointSpec{addr: uint16(addr), typ: t, order: o})
			}
		}
	}
	for _, o := range []byteOrder{orderABCD, orderDCBA} {
		add(pointSpec{addr: uint16(r.Address), typ: typeString, order: o, length: r.Count})
	}
	pl := makePlan(pts, r.Count)
	vals := make([]value, len(pts))
	if len(pl.reads) != 1 || pl.decode(0, r.Data, vals) != nil {
		return nil // Probe checked the length; every point lies in the one read
	}
	for i := range out {
		out[i].Value = pts[i].valueOf(&vals[i])
		out[i].Bad = vals[i].bad
	}
	return out
}
