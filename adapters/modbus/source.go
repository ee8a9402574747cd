package modbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hazardgw/hazardgw/gateway"
	"github.com/hazardgw/hazardgw/internal/conf"
)

// Source polls Modbus devices and hands their readings to an Acceptor. Build
// it with New; run it with Run. Devices and Stats may be called at any time
// from any goroutine.
type Source struct {
	site    string
	log     *slog.Logger
	links   []*link
	stats   counters
	running atomic.Bool
}

var _ gateway.Source = (*Source)(nil)

// ErrRunning is returned by Run when the Source is already running.
var ErrRunning = errors.New("modbus source already running")

// New checks cfg, applies defaults and plans every device's reads. It does
// no I/O. It fails, listing every problem with its config path, if a device
// cannot be polled as configured; it does not repeat Config.Validate's
// other checks.
func New(cfg Config, site string, logger *slog.Logger) (*Source, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Source{site: site, log: logger}
	var p problems
	if site == "" {
		p.add("site.id", errors.New("required: it tags every point"))
	}
	for i, lc := range cfg.Links {
		if l := s.newLink(lc, conf.Index("modbus.links", i), &p); l != nil {
			s.links = append(s.links, l)
		}
	}
	if len(p) > 0 {
		return nil, fmt.Errorf("plan modbus polling: %w", errors.Join(p...))
	}
	return s, nil
}

// problems collects errors, each prefixed with its config path; errors
// joined by errors.Join are split so that every line has its path.
type problems []error

func (p *problems) add(path string, err error) {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			p.add(path, e)
		}
		return
	}
	if fe, ok := err.(*fieldError); ok {
		path, err = conf.Join(path, fe.field), fe.err
	}
	*p = append(*p, fmt.Errorf("%s: %w", path, err))
}

func (s *Source) newLink(lc LinkConfig, path string, p *problems) *link {
	n := len(*p)
	lc = withLinkDefaults(lc)
	if lc.Name == "" {
		p.add(conf.Join(path, "name"), errors.New("required"))
	}
	ep, err := parseEndpoint(lc.URL)
	if err != nil {
		p.add(conf.Join(path, "url"), err)
	} else if ep.rtu {
		if err := checkSerial(lc.Serial); err != nil {
			p.add(conf.Join(path, "serial"), err)
		}
	}
	l := &link{
		name:       lc.Name,
		site:       s.site,
		maxBackoff: lc.MaxBackoff,
		log:        s.log.With("link", lc.Name),
		now:        time.Now,
		jitter:     rand.Float64,
		stats:      &s.stats,
		reqTime:    newRequestHistogram(lc.Name),
	}
	for j, dc := range lc.Devices {
		if d := newDevice(dc, lc, ep.rtu, s.site, conf.Index(conf.Join(path, "devices"), j), p); d != nil {
			l.devs = append(l.devs, d)
		}
	}
	if len(*p) > n {
		return nil
	}
	l.due = make([]time.Time, len(l.devs))
	l.conn = newConn(ep, lc)
	return l
}

// reservedTags are set by the adapter; a device may not override them.
var reservedTags = []string{gateway.TagSite, gateway.TagDevice}

func newDevice(dc DeviceConfig, lc LinkConfig, rtu bool, site, path string, p *problems) *device {
	n := len(*p)
	if dc.ID == "" {
		p.add(conf.Join(path, "id"), errors.New("required"))
	}
	if dc.Kind == "" {
		p.add(conf.Join(path, "kind"), errors.New("required: it is the measurement"))
	}
	switch {
	case rtu && (dc.UnitID < 1 || dc.UnitID > 247):
		p.add(conf.Join(path, "unit_id"), fmt.Errorf("%d must be 1..247 on a serial bus", dc.UnitID))
	case !rtu && (dc.UnitID < 0 || dc.UnitID > 247) && dc.UnitID != 255:
		// The same limits as Config.Validate: 248..254 are reserved.
		p.add(conf.Join(path, "unit_id"), fmt.Errorf("%d must be 0..247, or 255 for a TCP device addressed by IP alone", dc.UnitID))
	}
	if gateway.IsReservedMeasurement(dc.Kind) {
		p.add(conf.Join(path, "kind"), fmt.Errorf("%q is a measurement of the gateway itself", dc.Kind))
	}
	if len(dc.Points) == 0 {
		p.add(conf.Join(path, "points"), errors.New("no points to poll"))
	}
	d := &device{
		id: dc.ID, kind: dc.Kind, label: dc.Label, link: lc.Name,
		unit: byte(dc.UnitID), interval: deviceInterval(dc),
	}
	seen := make(map[string]bool, len(dc.Points))
	for k, pc := range dc.Points {
		pp := conf.Index(conf.Join(path, "points"), k)
		if seen[pc.Name] {
			p.add(conf.Join(pp, "name"), fmt.Errorf("%q is used twice in one device", pc.Name))
		}
		seen[pc.Name] = true
		pt, err := parsePoint(pc)
		if err != nil {
			p.add(pp, err)
			continue
		}
		d.points = append(d.points, pt)
	}
	for k := range dc.Tags {
		if slices.Contains(reservedTags, k) {
			p.add(conf.Join(path, "tags"), fmt.Errorf("%q is set by the gateway", k))
		}
	}
	if len(*p) > n {
		return nil
	}
	qp, err := newQualityPlan(dc)
	if err != nil {
		p.add(path, err)
		return nil
	}
	d.qp = qp
	d.q = make([]pointQ, len(d.points))
	d.plan = makePlan(d.points, lc.MaxGap)
	d.vals = make([]value, len(d.points))
	d.st.last = make([]lastValue, len(d.points))
	d.tags = append(d.tags, gateway.Tag{Key: gateway.TagSite, Value: site}, gateway.Tag{Key: gateway.TagDevice, Value: dc.ID})
	keys := make([]string, 0, len(dc.Tags))
	for k := range dc.Tags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		d.tags = append(d.tags, gateway.Tag{Key: k, Value: dc.Tags[k]})
	}
	d.statusTags = []gateway.Tag{
		{Key: gateway.TagSite, Value: site}, {Key: gateway.TagDevice, Value: dc.ID},
		{Key: "kind", Value: dc.Kind}, {Key: "source", Value: "modbus"},
	}
	return d
}

// Run polls every device until ctx ends, one goroutine per link, and
// returns nil once all of them have returned. A poll in flight when ctx
// ends finishes its current request (at most the link's timeout) first.
func (s *Source) Run(ctx context.Context, acc gateway.Acceptor) error {
	if !s.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer s.running.Store(false)
	var wg sync.WaitGroup
	for _, l := range s.links {
		if len(l.devs) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.run(ctx, acc)
		}()
	}
	wg.Wait()
	return nil
}

// Quality says whether a value is a current, valid reading.
type Quality string

// Qualities of a ValueState and a DeviceState, with the Reason that says
// why one is not good (see gateway.Quality).
const (
	QualityGood      Quality = "good"      // read in the device's last poll
	QualityUncertain Quality = "uncertain" // read under maintenance: stored, judging no alarm
	QualityBad       Quality = "bad"       // the last poll failed, or the value was NaN/Inf, out of range or faulted
)

// DeviceState is a snapshot of one device for the HTTP API.
type DeviceState struct {
	ID     string `json:"id"`
	Kind   string `json:"kind"`
	Label  string `json:"label,omitempty"`
	Link   string `json:"link"`
	UnitID int    `json:"unit_id"`
	Source string `json:"source"` // always "modbus"
	// Online is the outcome of the last poll; false before the first one.
	Online   bool      `json:"online"`
	LastPoll time.Time `json:"last_poll,omitzero"` // when the last poll started
	// LastError is the last failed poll's error ("class: message") and when
	// that poll started; kept after the device is back online.
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	RTTMillis   float64   `json:"rtt_ms"` // duration of the last poll's requests
	Polls       int64     `json:"polls"`
	Failures    int64     `json:"failures"`
	Missed      int64     `json:"missed"` // interval slots skipped because the link was late
	// Quality and Reason are the device's as of its last poll: bad with
	// the poll's failure (no_reply, exception, io), a fault or a bad value
	// (nan, out_of_range); uncertain under maintenance.
	Quality Quality      `json:"quality"`
	Reason  string       `json:"reason,omitempty"`
	Values  []ValueState `json:"values"`
}

// ValueState is the last value of one point.
type ValueState struct {
	Name string `json:"name"`
	// Value is the last good reading, float64 or bool; nil if there has
	// been none. It stays after the device goes offline, with bad quality.
	Value   any       `json:"value"`
	Unit    string    `json:"unit,omitempty"`
	Quality Quality   `json:"quality"`
	Reason  string    `json:"reason,omitempty"` // why Quality is not good
	Time    time.Time `json:"time,omitzero"`    // when Value was read (its poll's start)
}

// Devices returns a snapshot of every device, in configuration order.
func (s *Source) Devices() []DeviceState {
	var out []DeviceState
	for _, l := range s.links {
		for _, d := range l.devs {
			out = append(out, d.snapshot())
		}
	}
	return out
}

// Stats are counters since New, summed over all links.
type Stats struct {
	Polls           int64 // device polls attempted (including those refused during backoff)
	PollFailures    int64 // polls that produced no values (device offline)
	MissedSlots     int64 // interval slots skipped because a link ran late
	ConnectFailures int64 // failed dials / serial opens
	AcceptErrors    int64 // Accept calls that returned an error: those points were not stored
}

// Stats returns the counters.
func (s *Source) Stats() Stats {
	c := &s.stats
	return Stats{
		Polls: c.polls.Load(), PollFailures: c.failures.Load(), MissedSlots: c.missed.Load(),
		ConnectFailures: c.connectFailures.Load(), AcceptErrors: c.acceptErrors.Load(),
	}
}

type counters struct {
	polls, failures, missed, connectFailures, acceptErrors atomic.Int64
	errors                                                 [len(errorClasses)]atomic.Int64 // failed polls by class
}

// errorClasses are the classes of failed polls, in the order of
// counters.errors (hazardgw_modbus_errors_total{class}).
var errorClasses = [...]string{classConnect, classTimeout, classException, classConnection, classDecode, classProtocol}

// countError counts a failed poll under its class.
func (c *counters) countError(class string) {
	for i, k := range errorClasses {
		if k == class {
			c.errors[i].Add(1)
			return
		}
	}
	c.errors[len(errorClasses)-1].Add(1)
}

// device is one configured unit: its plan, its preallocated decode
// buffer, and the state shown by Devices.
type device struct {
	id, kind, label, link string
	unit                  byte
	interval              time.Duration
	points                []pointSpec
	plan                  plan
	// tags and statusTags are shared by every point the device produces;
	// nobody may modify them.
	tags, statusTags []gateway.Tag

	qp   qualityPlan
	vals []value  // decode target; only the link's goroutine touches it
	q    []pointQ // quality of vals; only the link's goroutine touches it

	mu sync.Mutex // guards st
	st devState
}

type devState struct {
	polled, online          bool
	lastPoll, lastErrAt     time.Time
	lastErr, lastErrClass   string
	rtt                     time.Duration
	polls, failures, missed int64
	quality                 pointQ // the device's, as of the last poll
	last                    []lastValue
}

type lastValue struct {
	v    value
	at   time.Time
	q    pointQ // the quality of the point in the last poll
	seen bool   // v holds a reading (the last one that was not bad)
}

// devStatus is what a poll's outcome is compared with to decide on logging.
type devStatus struct {
	polled, online bool
	class          string // of the last failure
}

// record stores the outcome of a poll that started at start (with dq and
// d.q, the qualities judged of a poll that succeeded) and returns the status
// before it.
func (d *device) record(start time.Time, rtt time.Duration, err error, errText string, dq pointQ) (prev devStatus) {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := &d.st
	prev = devStatus{polled: st.polled, online: st.online, class: st.lastErrClass}
	st.polled, st.online, st.lastPoll, st.rtt = true, err == nil, start, rtt
	st.polls++
	if err != nil {
		st.failures++
		st.lastErr, st.lastErrAt, st.lastErrClass = errText, start, classify(err)
		st.quality = pointQ{gateway.QualityBad, failureReason(err)}
		for i := range st.last {
			st.last[i].q = st.quality
		}
		return prev
	}
	st.quality = dq
	for i, v := range d.vals {
		lv := &st.last[i]
		if d.q[i].q == gateway.QualityBad {
			lv.q = d.q[i] // the last value that was not bad stays, marked bad
			continue
		}
		*lv = lastValue{v: v, at: start, q: d.q[i], seen: true}
	}
	return prev
}

func (d *device) snapshot() DeviceState {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := &d.st
	ds := DeviceState{
		ID: d.id, Kind: d.kind, Label: d.label, Link: d.link, UnitID: int(d.unit), Source: "modbus",
		Online: st.online, LastPoll: st.lastPoll, LastError: st.lastErr, LastErrorAt: st.lastErrAt,
		RTTMillis: float64(st.rtt) / float64(time.Millisecond),
		Polls:     st.polls, Failures: st.failures, Missed: st.missed,
		Quality: Quality(st.quality.q.String()), Reason: st.quality.reason,
		Values: make([]ValueState, len(d.points)),
	}
	if !st.polled {
		ds.Quality, ds.Reason = QualityBad, gateway.ReasonNoReply
	}
	for i := range d.points {
		p, lv := &d.points[i], &st.last[i]
		vs := ValueState{Name: p.name, Unit: p.unit, Quality: Quality(lv.q.q.String()), Reason: lv.q.reason}
		if !st.polled {
			vs.Quality, vs.Reason = QualityBad, gateway.ReasonNoReply
		}
		if lv.seen {
			vs.Time = lv.at
			vs.Value = p.valueOf(&lv.v)
		}
		ds.Values[i] = vs
	}
	return ds
}
