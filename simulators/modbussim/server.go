package modbussim

import (
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// ErrClosed is returned by methods called after Close.
var ErrClosed = errors.New("modbussim: server closed")

// Options configure a Server. The zero Options are valid.
type Options struct {
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
	// Tick is how often the scenario updates registers when the scenario
	// does not say; default 100ms.
	Tick time.Duration
	// ServedLog is how many served reads are kept for ServedLog and
	// GET /api/served; 0 means 1024, negative keeps none.
	ServedLog int
	// RTUGap is the line silence that ends an RTU frame whose length cannot
	// be told from its function code, and after which a corrupt frame is
	// discarded; default 20ms (t3.5 is 4ms at 9600 baud, but ptys and USB
	// adapters deliver in bursts).
	RTUGap time.Duration
	// Now is the clock for served-log times and the scenario; default
	// time.Now.
	Now func() time.Time
}

// Server is a simulated Modbus site: units served on any number of TCP
// listeners and RTU lines. Create it with New; its zero value is not usable.
type Server struct {
	log      *slog.Logger
	tick     time.Duration
	rtuGap   time.Duration
	now      func() time.Time
	profiles map[string]*profile

	units [256]atomic.Pointer[Unit]
	hooks atomic.Pointer[[]func(Served)]
	ring  *servedRing // nil when disabled
	seq   atomic.Uint64

	done chan struct{} // closed by Close
	wg   sync.WaitGroup

	mu        sync.Mutex // guards the fields below
	closed    bool
	listeners []net.Listener
	conns     map[net.Conn]struct{}
	ports     map[*rtuPort]struct{}
	scen      *scenario
	running   bool
}

// New returns a server with no units and no listeners. It does no I/O.
func New(opts Options) *Server {
	s := &Server{
		log:    opts.Logger,
		tick:   opts.Tick,
		rtuGap: opts.RTUGap,
		now:    opts.Now,
		done:   make(chan struct{}),
		conns:  make(map[net.Conn]struct{}),
		ports:  make(map[*rtuPort]struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.tick <= 0 {
		s.tick = 100 * time.Millisecond
	}
	if s.rtuGap <= 0 {
		s.rtuGap = 20 * time.Millisecond
	}
	if s.now == nil {
		s.now = time.Now
	}
	switch {
	case opts.ServedLog == 0:
		s.ring = newServedRing(1024)
	case opts.ServedLog > 0:
		s.ring = newServedRing(opts.ServedLog)
	}
	profiles, err := compileProfiles(builtinProfiles())
	if err != nil { // a bug in builtinProfiles; TestBuiltinProfilesCompile guards it
		s.log.Error("built-in profiles unusable", "err", err)
	}
	s.profiles = profiles
	return s
}

// Unit returns unit id, creating it (empty, no fault, answering on every
// transport) if it does not exist yet.
func (s *Server) Unit(id uint8) *Unit {
	if u := s.units[id].Load(); u != nil {
		return u
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.units[id].Load(); u != nil {
		return u
	}
	u := newUnit(s, id)
	s.units[id].Store(u)
	return u
}

// LookupUnit returns unit id if it exists.
func (s *Server) LookupUnit(id uint8) (*Unit, bool) {
	u := s.units[id].Load()
	return u, u != nil
}

// Units returns the existing units in id order.
func (s *Server) Units() []*Unit {
	var out []*Unit
	for i := range s.units {
		if u := s.units[i].Load(); u != nil {
			out = append(out, u)
		}
	}
	return out
}

// UnitValues returns the engineering values of the profile points of unit
// id (see Unit.Values), or nil if the unit does not exist.
func (s *Server) UnitValues(id uint8) map[string]float64 {
	u, ok := s.LookupUnit(id)
	if !ok {
		return nil
	}
	return u.Values()
}

// Close stops every listener, connection, serial line and the scenario, and
// waits for all goroutines the server started. It is safe to call twice.
func (s *Server) Close() error {
	s.mu.Lock()
	var errs []error
	if !s.closed {
		s.closed = true
		close(s.done)
		for _, ln := range s.listeners {
			if err := ln.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		for c := range s.conns {
			_ = c.Close() // the peer may have closed it already
		}
		for p := range s.ports {
			p.close()
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
	return errors.Join(errs...)
}

// goOwnedLocked starts f on a goroutine that Close waits for, unless the
// server is closed. The caller must hold s.mu.
func (s *Server) goOwnedLocked(f func()) bool {
	if s.closed {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}

// sleep waits d or until Close; it reports whether the full delay passed.
func (s *Server) sleep(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.done:
		return false
	}
}

// outcome is what a transport does with a dispatched request.
type outcome uint8

const (
	reply  outcome = iota // send the response
	silent                // send nothing
	hangup                // close the connection (TCP)
	garble                // send a corrupted response of the same length
)

// dispatch executes one request PDU for unitID arriving on transport t,
// applying the unit's fault, and appends the response PDU to dst.
func (s *Server) dispatch(t transports, unitID byte, req, dst []byte) ([]byte, outcome) {
	u := s.units[unitID].Load()
	if u == nil || !u.servedOn(t) {
		return dst, silent // a missing unit never answers, like a device that is not on the bus
	}
	f := u.fault.Load()
	switch f.Mode {
	case NoReply:
		return dst, silent
	case Drop:
		if t == onTCP {
			return dst, hangup
		}
		return dst, silent
	case Exception:
		var fc byte
		if len(req) > 0 {
			fc = req[0]
		}
		return appendException(dst, fc, f.Code), reply
	case Slow:
		if !s.sleep(f.Delay) {
			return dst, silent
		}
	}
	resp := u.execute(dst, req)
	if f.Mode == Garbage {
		return resp, garble
	}
	s.recordServed(t, unitID, req, resp[len(dst):])
	return resp, reply
}

// Served describes one read request that was answered successfully.
type Served struct {
	Seq       uint64    `json:"seq"` // increasing, starts at 1
	Time      time.Time `json:"time"`
	Transport string    `json:"transport"` // "tcp" or "rtu"
	Unit      uint8     `json:"unit"`
	Function  uint8     `json:"function"` // 1..4
	Area      Area      `json:"area"`
	Address   uint16    `json:"address"`
	Count     uint16    `json:"count"`
	Words     []uint16  `json:"words,omitempty"` // function 3 and 4: the registers returned
	Bits      []bool    `json:"bits,omitempty"`  // function 1 and 2: the bits returned
}

// OnServe registers f to be called for every successfully answered read
// (function codes 1 to 4), on the serving goroutine, before the reply is
// written. f must be quick, must not block and must not modify the slices in
// Served. There is no way to unregister: hooks live as long as the server.
func (s *Server) OnServe(f func(Served)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var hooks []func(Served)
	if old := s.hooks.Load(); old != nil {
		hooks = append(hooks, *old...)
	}
	hooks = append(hooks, f)
	s.hooks.Store(&hooks)
}

// ServedLog returns the most recent served reads, oldest first (at most
// Options.ServedLog of them).
func (s *Server) ServedLog() []Served {
	if s.ring == nil {
		return nil
	}
	return s.ring.snapshot()
}

func (s *Server) recordServed(t transports, unitID byte, req, resp []byte) {
	hooks := s.hooks.Load()
	if (hooks == nil && s.ring == nil) || len(req) != 5 || len(resp) < 2 || resp[0] != req[0] {
		return
	}
	fc := req[0]
	e := Served{
		Seq:       s.seq.Add(1),
		Time:      s.now(),
		Transport: t.String(),
		Unit:      unitID,
		Function:  fc,
		Address:   binary.BigEndian.Uint16(req[1:]),
		Count:     binary.BigEndian.Uint16(req[3:]),
	}
	payload := resp[2:]
	switch fc {
	case fcReadCoils, fcReadDiscrete:
		e.Area = Coil
		if fc == fcReadDiscrete {
			e.Area = Discrete
		}
		e.Bits = make([]bool, e.Count)
		for i := range e.Bits {
			e.Bits[i] = payload[i/8]&(1<<(i%8)) != 0
		}
	case fcReadHolding, fcReadInput:
		e.Area = Holding
		if fc == fcReadInput {
			e.Area = Input
		}
		e.Words = make([]uint16, e.Count)
		for i := range e.Words {
			e.Words[i] = binary.BigEndian.Uint16(payload[2*i:])
		}
	default:
		return
	}
	if s.ring != nil {
		s.ring.add(e)
	}
	if hooks != nil {
		for _, h := range *hooks {
			h(e)
		}
	}
}

func (t transports) String() string {
	switch t {
	case onTCP:
		return "tcp"
	case onRTU:
		return "rtu"
	}
	return "all"
}

// servedRing is a bounded log of served reads.
type servedRing struct {
	mu   sync.Mutex
	buf  []Served
	next int
	full bool
}

func newServedRing(n int) *servedRing { return &servedRing{buf: make([]Served, n)} }

func (r *servedRing) add(e Served) {
	r.mu.Lock()
	r.buf[r.next] = e
	r.next++
	if r.next == len(r.buf) {
		r.next, r.full = 0, true
	}
	r.mu.Unlock()
}

func (r *servedRing) snapshot() []Served {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.full {
		return append([]Served(nil), r.buf[:r.next]...)
	}
	return append(append([]Served(nil), r.buf[r.next:]...), r.buf[:r.next]...)
}
