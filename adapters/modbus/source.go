package modbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
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
	// OutOfService, when set (before Run), reports whether a duty officer
	// has taken a device out of service: its readings are then uncertain
	// (reason maintenance), as under its maintenance_point. It is called
	// from the link goroutines on every poll: it must be fast and safe for
	// concurrent use.
	OutOfService func(device string) bool

	site    string
	log     *slog.Logger
	links   []*link
	stats   counters
	running atomic.Bool
}

var _ gateway.Source = (*Source)(nil)

// ErrRunning is returned by Run when the Source is already running.
var ErrRunning = errors.New("modbus source already running")

// New compiles cfg as Config.Validate does (the same function: they cannot
// disagree), applies defaults and plans every device's reads. It does no
// I/O. It fails, listing every problem with its config path one per line,
// if Validate would report any; Validate's warnings are not errors.
func New(cfg Config, site string, logger *slog.Logger) (*Source, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Source{site: site, log: logger}
	var p conf.Problems
	if site == "" {
		p.Addf("site.id", "required: it tags every point")
	}
	links := compile(&cfg, "modbus", &p)
	if err := problemsError(p); err != nil {
		return nil, fmt.Errorf("plan modbus polling: %w", err)
	}
	for _, lp := range links {
		s.links = append(s.links, s.newLink(lp))
	}
	return s, nil
}

// newLink makes the link that polls lp's devices.
func (s *Source) newLink(lp linkPlan) *link {
	l := &link{
		name:       lp.cfg.Name,
		site:       s.site,
		maxBackoff: lp.cfg.MaxBackoff,
		log:        s.log.With("link", lp.cfg.Name),
		now:        time.Now,
		jitter:     rand.Float64,
		stats:      &s.stats,
		reqTime:    newRequestHistogram(lp.cfg.Name),
		due:        make([]time.Time, len(lp.devs)),
		conn:       newConn(lp.ep, lp.cfg),
	}
	for _, dp := range lp.devs {
		l.devs = append(l.devs, newDevice(dp, lp.cfg.Name, s.site))
	}
	return l
}

// newDevice makes the device that polls dp, with its buffers and tags.
func newDevice(dp devicePlan, link, site string) *device {
	dc := &dp.cfg
	d := &device{
		id: dc.ID, kind: dc.Kind, label: dc.Label, link: link,
		unit: byte(dc.UnitID), interval: deviceInterval(*dc),
		points: dp.points, plan: dp.plan, qp: dp.qp,
		q:    make([]pointQ, len(dp.points)),
		vals: make([]value, len(dp.points)),
	}
	d.st.last = make([]lastValue, len(dp.points))
	d.tags = append(d.tags, gateway.Tag{Key: gateway.TagSite, Value: site}, gateway.Tag{Key: gateway.TagDevice, Value: dc.ID})
	for _, k := range slices.Sorted(maps.Keys(dc.Tags)) {
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
		l.oos = s.OutOfService
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
	errs [len(metricClasses)]atomic.Int64 // failed polls by metric class
	vals []value                          // decode target; only the link's goroutine touches it
	q    []pointQ                         // quality of vals; only the link's goroutine touches it
	// failing: the last poll failed; only the link's goroutine touches it.
	failing bool

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
