package modbussim

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"go.yaml.in/yaml/v3"
)

//go:embed default_scenario.yaml
var defaultScenario []byte

// DefaultScenario returns the embedded scenario sitesim runs when given no
// file: two gas detectors, a tank and a weather station on TCP, a tank and a
// gas detector on RTU, and a scripted outage. See README.md.
func DefaultScenario() []byte { return bytes.Clone(defaultScenario) }

// maxScenarioBytes bounds what LoadScenario reads.
const maxScenarioBytes = 4 << 20

// scenarioFile is the scenario document. YAML (or JSON, which YAML reads).
// The mqtt and dutydesk sections belong to the other simulators of the site
// and are not looked at here.
type scenarioFile struct {
	Seed     int64         `yaml:"seed"`
	Loop     time.Duration `yaml:"loop"`
	Modbus   modbusSpec    `yaml:"modbus"`
	MQTT     yaml.Node     `yaml:"mqtt"`
	DutyDesk yaml.Node     `yaml:"dutydesk"`
}

type modbusSpec struct {
	Tick      time.Duration `yaml:"tick"`
	Listeners struct {
		TCP listenerSpec `yaml:"tcp"`
		RTU listenerSpec `yaml:"rtu"`
	} `yaml:"listeners"`
	Faults []faultSpec `yaml:"faults"`
}

type listenerSpec struct {
	Units []unitSpec `yaml:"units"`
}

type unitSpec struct {
	Unit    int                `yaml:"unit"`
	Profile string             `yaml:"profile"`
	Label   string             `yaml:"label"`
	Points  map[string]genSpec `yaml:"points"`
}

// faultSpec applies a fault to a unit from From until To (0: for good).
type faultSpec struct {
	Unit  int           `yaml:"unit"`
	From  time.Duration `yaml:"from"`
	To    time.Duration `yaml:"to"`
	Mode  string        `yaml:"mode"`
	Delay time.Duration `yaml:"delay"`
	Code  int           `yaml:"code"`
}

// scenario is a compiled scenario file.
type scenario struct {
	tick   time.Duration
	loop   time.Duration
	units  []unitSetup
	drives []drive
	faults map[uint8][]faultWindow
}

type unitSetup struct {
	id      uint8
	on      transports
	profile string
	label   string
}

type drive struct {
	unit uint8
	gens []pointGen
}

type pointGen struct {
	p   *compiled
	gen generator
}

type faultWindow struct {
	from, to time.Duration
	f        Fault
}

// LoadScenario reads a scenario (see README.md), creates its units with
// their profiles and labels, sets every point to its value at time 0 and
// remembers the timeline for RunScenario. Units listed under one listener
// answer only on that transport. All problems in the file are reported
// together. It fails while a scenario is running.
func (s *Server) LoadScenario(r io.Reader) error {
	data, err := io.ReadAll(io.LimitReader(r, maxScenarioBytes+1))
	if err != nil {
		return fmt.Errorf("load scenario: %w", err)
	}
	if len(data) > maxScenarioBytes {
		return fmt.Errorf("load scenario: larger than %d bytes", maxScenarioBytes)
	}
	var f scenarioFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("load scenario: %w", err)
	}
	sc, err := s.compileScenario(&f)
	if err != nil {
		return fmt.Errorf("load scenario: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return fmt.Errorf("load scenario: %w", ErrClosed)
	case s.running:
		return errors.New("load scenario: a scenario is running")
	}
	for _, us := range sc.units {
		u := s.units[us.id].Load()
		if u == nil {
			u = newUnit(s, us.id)
			s.units[us.id].Store(u)
		}
		u.on.Store(uint32(us.on))
		if err := u.UseProfile(us.profile, us.label); err != nil {
			return fmt.Errorf("load scenario: %w", err)
		}
	}
	s.scen = sc
	s.step(sc, 0, make(map[uint8]Fault), nil)
	return nil
}

func (s *Server) compileScenario(f *scenarioFile) (*scenario, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if f.Loop < 0 {
		bad("loop: must be >= 0, got %v", f.Loop)
	}
	sc := &scenario{tick: f.Modbus.Tick, loop: f.Loop, faults: make(map[uint8][]faultWindow)}
	switch {
	case sc.tick < 0:
		bad("modbus.tick: must be > 0, got %v", sc.tick)
	case sc.tick == 0:
		sc.tick = s.tick
	}
	seen := make(map[int]string)
	lists := []struct {
		name  string
		on    transports
		max   int
		units []unitSpec
	}{
		{"tcp", onTCP, 255, f.Modbus.Listeners.TCP.Units},
		{"rtu", onRTU, 247, f.Modbus.Listeners.RTU.Units}, // 248..255 are reserved on a serial line
	}
	for _, l := range lists {
		for i, us := range l.units {
			path := fmt.Sprintf("modbus.listeners.%s.units[%d]", l.name, i)
			if us.Unit < 1 || us.Unit > l.max {
				bad("%s.unit: %d out of 1..%d", path, us.Unit, l.max)
				continue
			}
			if prev, dup := seen[us.Unit]; dup {
				bad("%s.unit: %d already declared at %s", path, us.Unit, prev)
				continue
			}
			seen[us.Unit] = path
			prof, ok := s.profiles[us.Profile]
			if !ok {
				bad("%s.profile: unknown profile %q", path, us.Profile)
				continue
			}
			id := uint8(us.Unit)
			sc.units = append(sc.units, unitSetup{id: id, on: l.on, profile: us.Profile, label: us.Label})
			d := drive{unit: id}
			for _, name := range sortedKeys(us.Points) {
				p, ok := prof.point(name)
				if !ok {
					bad("%s.points.%s: profile %s has no such point", path, name, prof.Name)
					continue
				}
				nk := noiseKey{seed: f.Seed, unit: id, point: name, quantum: sc.tick}
				g, err := us.Points[name].compile(p.Default, nk)
				if err != nil {
					bad("%s.points.%s: %w", path, name, err)
					continue
				}
				d.gens = append(d.gens, pointGen{p: p, gen: g})
			}
			if len(d.gens) > 0 {
				sc.drives = append(sc.drives, d)
			}
		}
	}
	for i, fs := range f.Modbus.Faults {
		path := fmt.Sprintf("modbus.faults[%d]", i)
		if _, ok := seen[fs.Unit]; !ok {
			bad("%s.unit: %d is not declared under modbus.listeners", path, fs.Unit)
			continue
		}
		if fs.From < 0 || fs.To != 0 && fs.To <= fs.From {
			bad("%s: window %v..%v is empty", path, fs.From, fs.To)
			continue
		}
		if fs.Code < 0 || fs.Code > 0x7F {
			bad("%s.code: %d out of 0..127", path, fs.Code)
			continue
		}
		flt, err := Fault{Mode: FaultMode(fs.Mode), Delay: fs.Delay, Code: byte(fs.Code)}.normalize()
		if err != nil {
			bad("%s: %w", path, err)
			continue
		}
		id := uint8(fs.Unit)
		sc.faults[id] = append(sc.faults[id], faultWindow{from: fs.From, to: fs.To, f: flt})
	}
	if len(sc.units) == 0 && len(errs) == 0 {
		bad("modbus.listeners: no units")
	}
	if len(errs) > 1 {
		return nil, fmt.Errorf("%d problems:\n%w", len(errs), errors.Join(errs...))
	}
	return sc, errors.Join(errs...)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// RunScenario drives the loaded scenario: every tick it writes each
// generated point (unless overridden) and applies scripted faults. It
// blocks until ctx ends or the server is closed, then returns nil. Faults
// set by hand stay until the scenario's next fault transition for that unit.
func (s *Server) RunScenario(ctx context.Context) error {
	s.mu.Lock()
	sc := s.scen
	var err error
	switch {
	case s.closed:
		err = ErrClosed
	case sc == nil:
		err = errors.New("no scenario loaded")
	case s.running:
		err = errors.New("already running")
	}
	if err != nil {
		s.mu.Unlock()
		return fmt.Errorf("run scenario: %w", err)
	}
	s.running = true
	s.wg.Add(1)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.running = false
		s.mu.Unlock()
		s.wg.Done()
	}()

	s.log.Info("scenario running", "units", len(sc.units), "tick", sc.tick, "loop", sc.loop)
	start := s.now()
	applied := make(map[uint8]Fault)
	failing := make(map[uint8]bool)
	s.step(sc, 0, applied, failing)
	t := time.NewTicker(sc.tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.done:
			return nil
		case <-t.C:
			s.step(sc, s.now().Sub(start), applied, failing)
		}
	}
}

// step applies the scenario at time at. applied holds the faults the
// scenario last set per unit; failing the units whose last drive failed, so
// that a failure is logged when it starts, not every tick (nil: don't log).
func (s *Server) step(sc *scenario, at time.Duration, applied map[uint8]Fault, failing map[uint8]bool) {
	if sc.loop > 0 {
		at %= sc.loop
	}
	for _, d := range sc.drives {
		u := s.units[d.unit].Load()
		err := u.drive(d.gens, at)
		if failing != nil && (err != nil) != failing[d.unit] {
			failing[d.unit] = err != nil
			if err != nil {
				s.log.Warn("scenario cannot drive unit", "unit", d.unit, "err", err)
			}
		}
	}
	for id, windows := range sc.faults {
		want := Fault{Mode: None}
		for _, w := range windows {
			if at >= w.from && (w.to == 0 || at < w.to) {
				want = w.f // later windows win
			}
		}
		if applied[id] == want || (applied[id] == Fault{} && want.Mode == None) {
			continue
		}
		applied[id] = want
		_ = s.units[id].Load().SetFault(want) // normalized at load
		s.log.Info("scenario fault", "unit", id, "mode", want.Mode, "at", at)
	}
}
