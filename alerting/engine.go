package alerting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hazardgw/hazardgw/gateway"
	"github.com/hazardgw/hazardgw/geo"
)

// MeasurementAlert is the measurement of alert transitions.
const MeasurementAlert = gateway.MeasurementAlert

// Device is what the engine knows of a configured device before it
// reports: its label (alarm messages name it), its poll interval (stale
// rules count missed intervals) and the units of its points.
type Device struct {
	ID       string
	Label    string
	Kind     string
	Interval time.Duration     // poll interval; 0 for devices that are not polled (MQTT)
	Units    map[string]string // point name → unit, e.g. "ch4" → "%LEL"
	// PointLabels names points in messages, e.g. "ch4" → "甲烷".
	PointLabels map[string]string
	// FaultPoint is the device's bool point that reports a fault: while it
	// is true the device's other alarms hold as they are.
	FaultPoint string
	// Location is where a camera stands: its bearings locate fires.
	Location *geo.Point
	// Tags are the device's configured tags (area …); its alerts carry
	// them, and notify[].match and group_by can name them.
	Tags map[string]string
}

// Options configure an Engine. Zero values mean defaults, except Path.
type Options struct {
	Site     string // tag `site` of alert points and `site` in notifications
	SiteName string // site.name, named at the start of every message ("" for none)
	Language string // LangZH (default) or LangEN: language of messages
	// Path is the bbolt file holding alert state and the outbox
	// (gateway.data_dir/alerts.db). Required.
	Path string
	// Devices known from the configuration: Modbus devices with labels,
	// intervals and units. Devices that are not listed (MQTT cameras) are
	// learnt from their points.
	Devices []Device
	// Notifiers deliver to the receivers of Config.Notify, by name. Every
	// receiver needs one.
	Notifiers map[string]Notifier
	// Queue is how many observed batches may wait for evaluation before
	// Observe blocks the pipeline. Default 1024.
	Queue int
	// Tick is how often time-driven conditions (silence, auto-resolve,
	// reminders) are checked. Default 200ms.
	Tick time.Duration
	// RetryDelay is how long a receiver waits after a Notify error that is
	// neither permanent nor a shutdown before it tries again. Default 1s.
	RetryDelay time.Duration
	// Concurrency is how many notifications a receiver is sent at a time,
	// each of a different occurrence. Default 4.
	Concurrency int
	// AttemptTimeout bounds one delivery attempt (a Notify call, with the
	// notifier's own retries); then the occurrence backs off and others go
	// first. Default 30s, and at least twice the receiver's timeout.
	AttemptTimeout time.Duration
	Now            func() time.Time
	Logger         *slog.Logger
	// MQTTAlertAfter is how long the broker may be unreachable before
	// gateway:mqtt-unreachable fires (mqtt.alert_after); default 30s.
	MQTTAlertAfter time.Duration
	// SinkAlertAfter is how long points may wait with nothing written to
	// InfluxDB before gateway:influxdb-unreachable fires
	// (influxdb.alert_after); default 5m.
	SinkAlertAfter time.Duration
	// TriangulateWindow is how far apart in event time two located
	// cameras' bearings may be to be intersected (forest.triangulate_window);
	// default DefaultTriangulateWindow.
	TriangulateWindow time.Duration
	// MaxEventAge is how old a camera event may be when it arrives and
	// still be news; an older one alarms saying it is late
	// (forest.max_event_age); default DefaultMaxEventAge.
	MaxEventAge time.Duration
	// StoreReserve is how much disk the alert store keeps allocated beyond
	// its data, so that alarms are still committed and sent when something
	// else has filled the disk; default DefaultStoreReserve, negative for
	// none.
	StoreReserve int64
}

// Stats are counters since start.
type Stats struct {
	Samples       int64 // readings, statuses and events evaluated
	Transitions   int64 // alert transitions (firing, changed, resolved, acknowledged)
	Notifications int64 // notifications committed to the outbox (all receivers)
	Delivered     int64 // notifications a receiver accepted
	DeadLettered  int64 // notifications a receiver refused for good
	NotifyErrors  int64 // Notify calls that failed and will be retried
	QueueWaits    int64 // times Observe found the queue full and had to wait
	LostAtStop    int64 // samples observed after Run had returned
	CommitErrors  int64 // failed store transactions (retried on the next round)
	Open          int   // open alerts
	// Active counts the alerts whose condition is active (firing, acknowledged
	// or not), by severity.
	Active map[string]int
	// AlarmRate10m counts the alarms (new occurrences) fired in the last
	// 10 minutes.
	AlarmRate10m int
}

// Engine evaluates alarm rules over the points the pipeline commits, runs
// the alarm lifecycle, persists it, and delivers notifications through a
// durable outbox. See the package documentation for the concurrency contract.
type Engine struct {
	cfg       Config
	opts      Options
	log       *slog.Logger
	rules     []*rule
	byName    map[string]*rule
	receivers []*receiver
	meta      map[string]Device

	queue   chan *sampleBatch
	stopped chan struct{} // closed when Run stops taking samples
	pool    sync.Pool     // *sampleBatch

	started atomic.Bool
	closed  bool // guarded by mu

	// mu guards everything below; the evaluation goroutine holds it while
	// it evaluates a batch and commits its changes, the API while it reads
	// or acknowledges.
	mu      sync.Mutex
	st      *store
	acc     gateway.Acceptor
	alerts  map[string]*alertRec // open alerts and the most recent ended ones
	ended   []string             // ids of ended alerts, oldest first
	tracks  map[trackKey]*track
	series  map[seriesKey][]int // value rules matching a series
	devices map[string]*devState
	cs      changeSet
	dirty   map[*alertRec]bool // alerts already in cs
	pointsW chan struct{}      // wakes the point writer

	samples, transitions, notifications, delivered, dead, notifyErr atomic.Int64
	queueWaits, lostAtStop, commitErr                               atomic.Int64
	// queued counts the samples in queue; room gets a value when
	// evaluation has taken some (see Observe).
	queued atomic.Int64
	room   chan struct{}

	maintRule      *rule // the built-in rule of alert.suppressed / unsuppressed
	rejectRule     *rule // the built-in rule of gateway:notify-rejected
	openedAt       time.Time
	rejected       map[string]*alertRec // receiver → its gateway:notify-rejected alert
	skip           string               // a receiver emit leaves out (the one that refused)
	maxLearnt      int                  // cap on devices learnt from traffic (maxLearntDevices; tests lower it)
	untrackedNoted bool                 // the learnt-device cap was logged
	cam            *cameras             // camera incidents: locations, bearings, seen event ids
	danger         float64              // the latest fire danger level observed (0: none yet), for voice_missed rules

	// Decommissioning (decommission.go): the hook that makes the source
	// forget a device (SetForget), and when devices were decommissioned.
	forget func(device string) error
	gone   map[string]time.Time

	// Alarm management (states.go).
	shelved  map[string]*alertRec // shelved alerts by id, until their shelving ends
	chatter  map[*alertRec]*track // chattering alerts and their tracks
	oosDevs  map[string]*devState // devices out of service
	act      *action              // the duty officer's action being recorded, nil for none
	force    bool                 // emit notifies even a chattering alert (a new peak)
	fired    []time.Time          // when alarms fired in the flood window, oldest first
	maxShelv time.Duration
	// oosSnap is the set of device ids out of service, copied on every
	// change, so that sources can ask OutOfService without taking mu.
	oosSnap atomic.Pointer[map[string]bool]
	// floodTrack is the track of AlarmFloodRule, once judged.
	floodTrack *track
	// Red alarms sent uncommitted while the store refuses commits
	// (urgent.go): the queue to the sender, nil when not running, and what
	// became of each pending one.
	urgent chan urgentMsg
	early  map[string]urgentState
}

type receiver struct {
	name      string
	notifier  Notifier
	repeat    time.Duration
	heartbeat time.Duration
	lastHB    time.Time     // guarded by Engine.mu
	hbPending atomic.Bool   // a heartbeat waits in the outbox: no second one
	wake      chan struct{} // capacity 1
	failing   bool          // owned by the receiver's goroutine
	pol       policy        // routing, grouping, escalation, budget
	attempt   time.Duration // bound of one delivery attempt
	// groupCheck and groupNext say when its groups are next looked at
	// (guarded by Engine.mu).
	groupCheck bool
	groupNext  time.Time
	peak       atomic.Int64 // most entries its scheduler held at once
	// reminding holds the ids of alerts whose reminder waits in the outbox
	// (receivers without group_by): no second one, so a desk that was
	// down gets the reminder that is due, not one per interval it missed.
	reminding sync.Map
}

type trackKey struct {
	rule          int
	device, point string
}

type seriesKey struct{ kind, device, point string }

// track is one (rule, device, point) condition and its open alert.
type track struct {
	key   trackKey
	kind  string // the device's kind when the track was made
	cond  condState
	rate  *rateWindow
	value float64   // latest evaluated value (the rise, for rate rules)
	alert *alertRec // the key's open alert, nil if none
	// rejudge is set when the device's maintenance ends: its next good
	// reading judges the condition afresh.
	rejudge bool
	// Event rules: the incident's level (the worst event type seen) and
	// the event that makes it fire or change.
	evType string
	ev     *CameraEvent
	// fires are the latest times the condition fired (for chattering);
	// chatLast is its latest transition while chattering.
	fires    []time.Time
	chatLast time.Time
}

// devState is what the engine knows of one device.
type devState struct {
	id, kind string
	seen     deviceSeen
	stale    []*track // one per stale rule that matches the device
	values   []*track // threshold, rate and state tracks of its points

	// What its device_status says of its readings.
	polled     bool          // its status, not its readings, says whether they are good (Modbus)
	fault      bool          // it reports a fault: its other alarms hold
	maint      bool          // under maintenance or out of service: its alarms are suppressed
	pointMaint bool          // its maintenance_point says it is under maintenance
	oos        *outOfService // out of service by a duty officer, nil if not
	reason     string        // why its latest readings are not good; "" when they are
	badPoints  string        // its points with bad values, "ch4=nan"
	brokerDown bool          // an MQTT device not heard from since the broker was lost
	maintAlert *alertRec
}

// Caps on state learnt from traffic, so that a misbehaving source cannot
// grow the heap without bound. Configured devices are always tracked.
const (
	maxLearntDevices = 10000
	maxSeriesCache   = 100000
)

// New returns an engine for cfg. It checks the rules and the receivers but
// does no I/O: Run opens the store.
func New(cfg Config, opts Options) (*Engine, error) {
	if opts.Path == "" {
		return nil, errors.New("create alert engine: no store path")
	}
	if opts.Language == "" {
		opts.Language = LangZH
	}
	if opts.Queue <= 0 {
		opts.Queue = 1024
	}
	if opts.Tick <= 0 {
		opts.Tick = 200 * time.Millisecond
	}
	if opts.RetryDelay <= 0 {
		opts.RetryDelay = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 4
	}
	if opts.AttemptTimeout <= 0 {
		opts.AttemptTimeout = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.StoreReserve == 0 {
		opts.StoreReserve = DefaultStoreReserve
	}
	rules, err := compileRules(withBuiltinRules(cfg.Rules, opts))
	if err != nil {
		return nil, fmt.Errorf("create alert engine: %w", err)
	}
	e := &Engine{
		cfg: cfg, opts: opts, log: opts.Logger, rules: rules,
		byName:    map[string]*rule{},
		meta:      map[string]Device{},
		queue:     make(chan *sampleBatch, opts.Queue),
		room:      make(chan struct{}, 1),
		stopped:   make(chan struct{}),
		alerts:    map[string]*alertRec{},
		tracks:    map[trackKey]*track{},
		series:    map[seriesKey][]int{},
		devices:   map[string]*devState{},
		dirty:     map[*alertRec]bool{},
		pointsW:   make(chan struct{}, 1),
		maxLearnt: maxLearntDevices,
		cam:       newCameras(opts),
		shelved:   map[string]*alertRec{},
		chatter:   map[*alertRec]*track{},
		oosDevs:   map[string]*devState{},
		maxShelv:  cfg.MaxShelve,
		early:     map[string]urgentState{},
	}
	if e.maxShelv <= 0 {
		e.maxShelv = DefaultMaxShelve
	}
	for _, r := range rules {
		r.chatter = chatterOf(r.chatter, cfg.Chatter)
	}
	e.pool.New = func() any { return &sampleBatch{} }
	for _, r := range rules {
		e.byName[r.name] = r
	}
	e.maintRule = &rule{idx: -1, name: MaintenanceRule, kind: condMaint,
		levels: []level{{name: levelMaintenance, severity: SeverityBlue, above: true, limit: 0.5, extreme: 1}}}
	e.byName[MaintenanceRule] = e.maintRule
	e.rejectRule = &rule{idx: -1, name: NotifyRejectedRule, kind: condSelf,
		levels: []level{{name: levelRejected, severity: SeverityOrange, above: true, limit: 0.5, extreme: 1}}}
	e.byName[NotifyRejectedRule] = e.rejectRule
	e.rejected = map[string]*alertRec{}
	for _, d := range opts.Devices {
		e.meta[d.ID] = d
	}
	var perr error
	pols := compileDelivery(cfg.Notify, func(i int, key, msg string) {
		if perr == nil {
			perr = fmt.Errorf("create alert engine: notify %q: %s: %s", cfg.Notify[i].Name, key, msg)
		}
	})
	if perr != nil {
		return nil, perr
	}
	seen := map[string]bool{}
	for i, n := range cfg.Notify {
		if seen[n.Name] {
			return nil, fmt.Errorf("create alert engine: receiver %q listed twice", n.Name)
		}
		seen[n.Name] = true
		nf := opts.Notifiers[n.Name]
		if nf == nil {
			return nil, fmt.Errorf("create alert engine: no notifier for receiver %q", n.Name)
		}
		e.receivers = append(e.receivers, &receiver{name: n.Name, notifier: nf, repeat: n.RepeatInterval,
			heartbeat: n.HeartbeatInterval, wake: make(chan struct{}, 1), pol: pols[i], groupCheck: len(pols[i].groupBy) > 0,
			attempt: max(opts.AttemptTimeout, 2*n.Timeout)})
	}
	return e, nil
}

// Open opens the store and restores the alerts it holds: open alerts take
// their conditions back, so a restart neither re-fires nor forgets them.
// Run calls it if it has not been called; calling it first lets a gateway
// refuse to start when the alert store cannot be opened.
func (e *Engine) Open() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.st != nil {
		return nil
	}
	if e.closed {
		return errors.New("open alert store: engine closed")
	}
	st, err := openStore(e.opts.Path)
	if err != nil {
		return err
	}
	if e.opts.StoreReserve > 0 {
		if err := st.keepReserve(e.opts.StoreReserve, e.log); err != nil {
			st.close()
			return err
		}
	}
	recs, err := st.load()
	if err != nil {
		st.close()
		return err
	}
	e.st = st
	e.cam.seen.decode(st.loadSeen())
	e.cam.loadSights(st, e.log)
	e.openedAt = e.opts.Now()
	e.restore(recs, e.openedAt)
	e.expire(e.openedAt) // shelving and out of service that ended while the gateway was down
	e.commitLocked()
	if outbox, _, _, err := st.depth(); err == nil {
		for name, n := range outbox {
			if n > 0 && !slices.ContainsFunc(e.receivers, func(r *receiver) bool { return r.name == name }) {
				e.log.Warn("outbox holds notifications for a receiver no longer configured; they stay undelivered",
					"receiver", name, "notifications", n)
			}
		}
	}
	if len(recs) > 0 {
		open := 0
		for _, a := range e.alerts {
			if a.State.Open() {
				open++
			}
		}
		e.log.Info("alert state restored", "alerts", len(recs), "open", open)
	}
	return nil
}

// Close closes the store of an engine that was opened but never run (Run
// closes it itself when it returns). It is a no-op otherwise.
func (e *Engine) Close() error {
	if e.started.Load() {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
	if e.st == nil {
		return nil
	}
	err := e.st.close()
	e.st = nil
	if err != nil {
		return fmt.Errorf("close alert store: %w", err)
	}
	return nil
}

// Run evaluates, delivers and hands `alert` points to acc (the pipeline;
// nil for none) until ctx ends, opening the store first if Open was not
// called. It then evaluates what is already queued, commits, stops its
// goroutines (undelivered notifications stay in the outbox for the next
// start) and closes the store. Run may be called once.
func (e *Engine) Run(ctx context.Context, acc gateway.Acceptor) error {
	if !e.started.CompareAndSwap(false, true) {
		return errors.New("run alert engine: already started")
	}
	if err := e.Open(); err != nil {
		close(e.stopped)
		return err
	}
	e.mu.Lock()
	e.acc = acc
	st := e.st
	e.mu.Unlock()
	if acc != nil {
		wake(e.pointsW) // points left from before
	}

	var wg sync.WaitGroup
	for _, r := range e.receivers {
		wg.Go(func() { e.deliverLoop(ctx, r) })
	}
	e.mu.Lock()
	e.urgent = make(chan urgentMsg, urgentQueue)
	e.mu.Unlock()
	wg.Go(func() { e.urgentLoop(ctx) })
	if acc != nil {
		wg.Go(func() { e.writeLoop(ctx, acc) })
	}
	e.evalLoop(ctx)
	wg.Wait()

	e.mu.Lock()
	e.st = nil
	e.closed = true
	e.mu.Unlock()
	if err := st.close(); err != nil {
		return fmt.Errorf("close alert store: %w", err)
	}
	return nil
}

// evalLoop evaluates queued samples and time-driven conditions until ctx
// ends, then evaluates what is still queued.
func (e *Engine) evalLoop(ctx context.Context) {
	tick := time.NewTicker(e.opts.Tick)
	defer tick.Stop()
	for {
		select {
		case b := <-e.queue:
			e.evaluate(b)
		case <-tick.C:
			e.tick()
		case <-ctx.Done():
			close(e.stopped)
			for {
				select {
				case b := <-e.queue:
					e.evaluate(b)
				default:
					return
				}
			}
		}
	}
}

// evaluate runs one observed batch (and whatever else is already queued,
// up to a bound) through the rules and commits the outcome in one
// transaction.
func (e *Engine) evaluate(b *sampleBatch) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.opts.Now()
	for n := 0; ; n++ {
		for i := range b.s {
			e.sample(&b.s[i], now)
		}
		e.samples.Add(int64(len(b.s)))
		e.queued.Add(-int64(len(b.s)))
		select {
		case e.room <- struct{}{}:
		default:
		}
		b.s = b.s[:0]
		e.pool.Put(b)
		if n == 64 {
			break
		}
		select {
		case b = <-e.queue:
			continue
		default:
		}
		break
	}
	e.judgeFlood(now)
	e.commitLocked()
}

// tick checks the conditions that time alone can change.
func (e *Engine) tick() {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.opts.Now()
	for _, d := range e.devices {
		e.judgeStale(d, now)
	}
	for _, t := range e.tracks {
		if k := e.rules[t.key.rule].kind; t.alert == nil || t.alert.Status != StatusFiring || k != condEvent && k != condVoice {
			continue
		}
		if !now.Before(t.alert.AutoResolveAt) {
			t.cond = normalState
			e.transition(e.rules[t.key.rule], t, -1, now)
		}
	}
	e.expire(now)
	for _, a := range e.alerts {
		if a.State != StateActiveUnacked || a.Status != StatusFiring || a.ShelvedUntil != nil || a.Chattering {
			continue // shelved or chattering: no reminders
		}
		if d := e.devices[a.Device]; d != nil && d.maint {
			continue // suppressed: no reminders while under maintenance
		}
		for _, rc := range e.receivers {
			last := a.Notified[rc.name]
			if last.IsZero() && rc.repeat > 0 {
				a.setNotified(rc.name, now) // a receiver added since it fired
				e.markDirty(a)
				continue
			}
			if a.Rule == NotifyRejectedRule && a.Point == rc.name {
				continue // it refuses; the others are reminded
			}
			if _, waiting := rc.reminding.Load(a.ID); waiting {
				continue
			}
			if reminderDue(&a.Alert, last, rc.repeat, now) {
				e.emit(e.byName[a.Rule], a, TypeReminder, now, e.levelIndex(a), rc)
			}
		}
	}
	e.heartbeats(now)
	e.escalations(now)
	e.prune(now)
	e.commitLocked()
	e.sendGroups(now)
	e.st.topUp() // a reserve that could not be had is taken once there is room
}

// Heartbeat is the data of an alert.heartbeat: the gateway is alive, and
// this is where its alarms stand.
type Heartbeat struct {
	Site   string         `json:"site"`
	Name   string         `json:"name,omitempty"`
	Open   int            `json:"open"`           // open alerts (active, or cleared and unacknowledged)
	Active map[string]int `json:"active"`         // active alerts by severity
	Unack  int            `json:"unacknowledged"` // open alerts not acknowledged
	Since  time.Time      `json:"up_since"`       // when the engine opened its store
}

// heartbeats queues an alert.heartbeat for every receiver whose interval
// has passed, unless its previous one is still undelivered (a receiver
// that is down gets one waiting heartbeat, not a pile).
func (e *Engine) heartbeats(now time.Time) {
	var hb *Heartbeat
	for _, rc := range e.receivers {
		if rc.heartbeat <= 0 || rc.hbPending.Load() || now.Sub(rc.lastHB) < rc.heartbeat {
			continue
		}
		if hb == nil {
			hb = &Heartbeat{Site: e.opts.Site, Name: e.opts.SiteName, Active: map[string]int{}, Since: e.openedAt.UTC()}
			for _, a := range e.alerts {
				if !a.State.Open() || a.Rule == MaintenanceRule {
					continue
				}
				hb.Open++
				if a.Status == StatusFiring {
					hb.Active[a.Severity]++
				}
				if !a.Acknowledged {
					hb.Unack++
				}
			}
		}
		body, err := json.Marshal(struct {
			Type      string     `json:"type"`
			Timestamp time.Time  `json:"timestamp"`
			Data      *Heartbeat `json:"data"`
		}{TypeHeartbeat, now.UTC(), hb})
		if err != nil {
			continue
		}
		id := "msg_heartbeat_" + rc.name + "_" + strconv.FormatInt(now.UnixNano(), 10)
		e.cs.msgs = append(e.cs.msgs, queued{receiver: rc.name, msg: outMsg{ID: id, Type: TypeHeartbeat, Created: now, Body: body}})
		rc.lastHB = now
		rc.hbPending.Store(true)
	}
}

// sample evaluates one observed sample.
func (e *Engine) sample(s *sample, now time.Time) {
	e.noteDanger(s)
	if s.typ == sampleStatus && e.goneStatus(s.device, s.at, now) {
		return // committed by its source before the device was decommissioned
	}
	d := e.device(s.device, s.kind, s.typ == sampleStatus, now)
	if d == nil {
		// Past the cap on learnt devices nothing is tracked of the device,
		// but an event is still judged: an event rule never drops one.
		if s.typ == sampleEvent {
			e.event(nil, s, now)
		}
		return
	}
	switch s.typ {
	case sampleStatus:
		e.status(d, s, now)
		return
	case sampleSeen:
		if !d.polled {
			e.good(d, now)
		}
		return
	}
	if !d.polled {
		e.good(d, now) // any good message is a sign of life
	}
	if s.typ == sampleEvent {
		if !d.maint {
			e.event(d, s, now)
		}
		return
	}
	if d.maint {
		return // uncertain: stored, but it judges no alarm
	}
	if s.typ == sampleBool && s.point == pointVoicePlayed && !s.b {
		e.voiceMissed(d, s, now)
	}
	if d.fault && s.point != e.meta[d.id].FaultPoint && s.point != gateway.FieldFault {
		return // a fault holds the device's other alarms as they are
	}
	for _, ri := range e.valueRules(s.kind, s.device, s.point) {
		r := e.rules[ri]
		var x float64
		switch r.kind {
		case condThreshold, condRate:
			if s.typ != sampleValue {
				continue
			}
			x = s.v
		case condBool:
			b := s.b
			if s.typ == sampleValue {
				b = s.v != 0
			}
			x = r.stateValue(b)
		}
		if math.IsNaN(x) || math.IsInf(x, 0) {
			continue
		}
		t := e.track(trackKey{ri, s.device, s.point}, d)
		if t.kind == "" {
			t.kind = s.kind // a station's fire_danger rating is of its own kind
		}
		if r.kind == condRate {
			if t.rate == nil {
				t.rate = newRateWindow(r.ratePer, r.levels[0].above)
			}
			var ok bool
			if x, ok = t.rate.add(s.at, x); !ok {
				continue // too few readings to tell
			}
		}
		t.value = x
		if t.rejudge && e.rejudge(r, t, x, now) {
			continue
		}
		if t.alert != nil && t.alert.Status == StatusFiring {
			t.alert.Value = x
		}
		e.advance(r, t, r.target(x, t.cond.Level), now, d)
	}
}

// rejudge judges a condition afresh on the first good reading x after
// its device's maintenance: an alarm from before that is gone resolves
// now (it returns true: done); one still there ends, saying so, and the
// reading raises a new occurrence through the usual delay.
func (e *Engine) rejudge(r *rule, t *track, x float64, now time.Time) bool {
	t.rejudge = false
	if t.alert == nil || t.alert.Status != StatusFiring {
		t.cond = normalState
		return false
	}
	if r.target(x, -1) < 0 {
		t.alert.Value = x
		t.cond = normalState
		e.transition(r, t, -1, now)
		return true
	}
	e.endWithReason(t.alert, ReasonMaintenance, now)
	t.cond = normalState
	return false
}

// status takes what a device_status says: online or not, and the quality
// of the device's readings, its fault and its maintenance.
func (e *Engine) status(d *devState, s *sample, now time.Time) {
	q := s.q
	d.polled = d.polled || q.polled
	online := q.hasOnline && s.b
	if q.hasQuality {
		d.reason, d.badPoints = q.reason, q.badPoints
		if q.quality == gateway.QualityGood {
			d.reason, d.badPoints = "", ""
		}
	}
	wasMaint := d.maint
	if online || !q.hasOnline && q.reason != gateway.ReasonBrokerDown {
		// A failed poll says nothing of the device's fault or maintenance.
		switch {
		case q.fault >= 0:
			d.fault = q.fault == 1
		case q.hasQuality:
			d.fault = q.reason == gateway.ReasonFault
		}
		switch {
		case q.maintenance >= 0:
			d.pointMaint = q.maintenance == 1
		case q.hasQuality:
			// Without a maintenance field, reason maintenance says the
			// device is in maintenance — unless it is out of service,
			// which explains it. A polled device says it only through
			// its maintenance_point (then the field is there), so its
			// reason maintenance without the field comes from being out
			// of service, perhaps from a poll made just before it ended:
			// that must not start a maintenance of its own.
			d.pointMaint = q.reason == gateway.ReasonMaintenance && d.oos == nil && !q.polled
		}
		d.maint = d.pointMaint || d.oos != nil
	}
	switch {
	case online && (!q.hasQuality || q.quality != gateway.QualityBad || q.reason == gateway.ReasonFault):
		e.good(d, now)
	case online:
		d.seen.Failures, d.seen.BadValue = 0, gateway.BadValue(q.reason)
	case q.hasOnline:
		d.seen.Failures++
	case q.reason == gateway.ReasonBrokerDown:
		d.brokerDown = true
	}
	switch {
	case d.maint && !wasMaint:
		e.suppress(d, now)
	case !d.maint && wasMaint:
		e.unsuppress(d, now)
	}
	e.judgeStale(d, now)
}

// good records a good reading of device d: it is alive and answering
// well, which clears its stale alerts.
func (e *Engine) good(d *devState, now time.Time) {
	d.seen.LastGood, d.seen.Failures, d.seen.BadValue, d.brokerDown = now, 0, false, false
	for _, t := range d.stale {
		if (t.cond.Level >= 0 || t.cond.Target >= 0) && !d.maint {
			e.advance(e.rules[t.key.rule], t, e.rules[t.key.rule].staleTarget(d.seen, now), now, d)
		}
	}
}

// judgeStale evaluates the device's stale rules; not while it is under
// maintenance (they hold as they are).
func (e *Engine) judgeStale(d *devState, now time.Time) {
	if d.maint {
		return
	}
	for _, t := range d.stale {
		r := e.rules[t.key.rule]
		e.advance(r, t, r.staleTarget(d.seen, now), now, d)
	}
}

// staleCause says why a stale alert of d at level lvl fires: the bad
// value's reason, broker_down, the failed polls' reason, or offline (silent).
func (d *devState) staleCause(lvl int) string {
	switch {
	case lvl == staleBadValue:
		return firstNonEmpty(d.reason, gateway.ReasonNaN)
	case d.brokerDown:
		return gateway.ReasonBrokerDown
	case d.seen.Failures > 0 && d.reason != "" && !gateway.BadValue(d.reason) &&
		d.reason != gateway.ReasonFault && d.reason != gateway.ReasonMaintenance:
		return d.reason
	}
	return gateway.ReasonOffline
}

// suppress starts d's maintenance: one alert.suppressed to the receivers,
// kept open (and shown) until it ends.
func (e *Engine) suppress(d *devState, now time.Time) {
	r := e.maintRule
	id := AlertID(r.name, d.id, levelMaintenance, now)
	for n := 1; e.alerts[id] != nil; n++ {
		id = AlertID(r.name, d.id, levelMaintenance, now.Add(time.Duration(n)))
	}
	at := now
	held := 0
	for _, a := range e.alerts {
		if a.Device == d.id && a.Status == StatusFiring && a.Rule != r.name {
			held++
		}
	}
	a := &alertRec{Notified: map[string]time.Time{}}
	a.Alert = Alert{ID: id, Key: AlertKey(r.name, d.id, levelMaintenance), Rule: r.name,
		Status: StatusFiring, State: StateActiveAcked, Level: levelMaintenance, Severity: SeverityBlue,
		Site: e.opts.Site, Device: d.id, Label: e.meta[d.id].Label, Kind: d.kind, Point: levelMaintenance,
		Value: float64(held), StartedAt: now, ChangedAt: now,
		Acknowledged: true, AcknowledgedAt: &at, AcknowledgedBy: GatewayActor, Cause: gateway.ReasonMaintenance}
	if o := d.oos; o != nil {
		a.OutOfServiceSince, a.OutOfServiceUntil, a.OutOfServiceBy, a.OutOfServiceReason = &o.since, &o.until, o.by, o.reason
	}
	_, a.Configured = e.meta[d.id]
	e.alerts[id] = a
	d.maintAlert = a
	e.emit(r, a, TypeSuppressed, now, 0, nil)
}

// unsuppress ends d's maintenance: one alert.unsuppressed, and its
// conditions are judged afresh from the next good readings.
func (e *Engine) unsuppress(d *devState, now time.Time) {
	if a := d.maintAlert; a != nil {
		at := now
		a.Status, a.State, a.ResolvedAt, a.ChangedAt = StatusResolved, StateNormal, &at, now
		e.emit(e.maintRule, a, TypeUnsuppressed, now, -1, nil)
		d.maintAlert = nil
	}
	for _, t := range d.values {
		t.rejudge, t.rate = true, nil
		if t.alert == nil || t.alert.Status != StatusFiring {
			t.cond = normalState
		} else {
			t.cond = condState{Level: t.cond.Level, Target: t.cond.Level}
		}
	}
}

// advance steps a condition towards target and runs the lifecycle when the
// level in force changes.
func (e *Engine) advance(r *rule, t *track, target int, now time.Time, d *devState) {
	if r.kind == condStale {
		t.value = math.Round(now.Sub(d.seen.LastGood).Seconds())
	}
	next := r.step(t.cond, target, now)
	changed := next.Level != t.cond.Level
	t.cond = next
	if changed {
		e.transition(r, t, next.Level, now)
	}
}

// transition applies the condition's new level to the track's alert.
func (e *Engine) transition(r *rule, t *track, lvl int, now time.Time) {
	out := outcome{Active: lvl >= 0, Value: t.value}
	if out.Active {
		l := r.levels[lvl]
		out.Level, out.Severity = l.name, l.severity
		switch r.kind {
		case condThreshold, condRate:
			lim := l.limit
			out.Threshold = &lim
		case condEvent:
			out.Level = t.evType
			lim := r.minConf
			out.Threshold = &lim
		case condVoice:
			lim := l.limit
			out.Threshold = &lim
		}
	}
	if e.held(r, t, out, now) {
		return // latched or chattering
	}
	var prev *Alert
	if t.alert != nil {
		prev = &t.alert.Alert
	}
	next, typ := applyOutcome(prev, out, now, func() Alert {
		m := e.meta[t.key.device]
		id := AlertID(r.name, t.key.device, t.key.point, now)
		for n := 1; e.alerts[id] != nil; n++ { // two occurrences within one clock tick
			id = AlertID(r.name, t.key.device, t.key.point, now.Add(time.Duration(n)))
		}
		kind := t.kind // the series' own kind: fire_danger for a station's rating
		if d := e.devices[t.key.device]; d != nil && kind == "" {
			kind = d.kind
		}
		a := Alert{
			ID: id, Key: AlertKey(r.name, t.key.device, t.key.point),
			Rule: r.name, Site: e.opts.Site, Device: t.key.device, Label: m.Label,
			Kind: kind, Point: t.key.point, Unit: m.Units[t.key.point], Tags: m.Tags,
		}
		if r.kind == condEvent || r.kind == condStale || r.kind == condBool || r.kind == condVoice {
			a.Unit = ""
		}
		return a
	})
	if typ == "" {
		return
	}
	if r.kind == condEvent && out.Active {
		n := *next
		t.eventOutcome(&n)
		next = &n
	}
	rec := t.alert
	if rec == nil || rec.ID != next.ID {
		rec = &alertRec{Notified: map[string]time.Time{}}
		_, rec.Configured = e.meta[t.key.device]
		e.alerts[next.ID] = rec
	}
	rec.Alert = *next
	if r.kind == condStale && lvl >= 0 {
		if d := e.devices[t.key.device]; d != nil {
			rec.Cause = d.staleCause(lvl)
		}
	}
	t.alert = rec
	if typ == TypeFiring {
		typ = e.fire(r, t, rec, now)
	}
	e.emit(r, rec, typ, now, lvl, nil)
}

// emit records a transition: the alert's message, one notification per
// receiver (only to only, for a reminder), and an `alert` point.
func (e *Engine) emit(r *rule, a *alertRec, typ string, now time.Time, lvl int, only *receiver) {
	if r == nil {
		r = &rule{name: a.Rule, kind: condThreshold}
	}
	in := msgInput{lang: e.opts.Language, site: e.opts.SiteName, rule: r,
		alert: &a.Alert, typ: typ, levelIx: lvl, ptLabel: e.meta[a.Device].PointLabels[a.Point]}
	if e.act != nil {
		in.by = e.act.by
	}
	if d := e.devices[a.Device]; d != nil {
		in.badPoints, in.ptLabels = d.badPoints, e.meta[a.Device].PointLabels
		if typ == TypeReminder && (r.kind == condThreshold || r.kind == condRate || r.kind == condBool) {
			in.readingBad = d.reason // the value quoted is the last good one
			if in.readingBad == "" && d.seen.Failures > 0 {
				in.readingBad = gateway.ReasonOffline
			}
		}
	}
	text := message(in)
	if typ != TypeReminder {
		a.Message = text
		e.transitions.Add(1)
	}
	a.Seq++
	msg := outMsg{ID: messageID(a.ID, a.Seq), Type: typ, AlertID: a.ID, Created: now, Severity: a.Severity}
	shown := e.display(a)
	shown.Message = text
	body, err := encodePayload(typ, now, &shown)
	if err != nil {
		// Only a NaN could do this, and NaN is never evaluated.
		e.log.Error("encode notification", "alert", a.ID, "err", err)
		return
	}
	msg.Body = body
	send := e.notifies(a, typ)
	for _, rc := range e.receivers {
		if !send || only != nil && rc != only || rc.name == e.skip || !rc.pol.wants(&a.Alert) {
			continue
		}
		e.cs.msgs = append(e.cs.msgs, e.queueFor(rc, &a.Alert, msg))
		if typ == TypeReminder && len(rc.pol.groupBy) == 0 {
			rc.reminding.Store(a.ID, true)
		}
		if typ == TypeFiring || typ == TypeChanged || typ == TypeReminder || typ == TypeUnshelved || typ == TypeChattering {
			a.setNotified(rc.name, now)
		}
	}
	// Points of transitions made while opening (before Run has an
	// acceptor: alerts ended because their rule changed) are kept too.
	if typ != TypeReminder && (e.acc != nil || !e.started.Load()) {
		e.cs.points = append(e.cs.points, e.alertPoint(a, typ, now))
	}
	e.markDirty(a)
	e.logTransition(a, typ, only)
	if a.State == StateNormal {
		e.end(a, now)
	}
}

// logTransition writes the one Info line of a transition (or reminder).
func (e *Engine) logTransition(a *alertRec, typ string, only *receiver) {
	attrs := []any{"type", typ, "alert", a.ID, "key", a.Key, "state", a.State, "level", a.Level,
		"severity", a.Severity, "value", cleanFloat(a.Value)}
	switch {
	case typ == TypeAcknowledged:
		var at time.Time
		if a.AcknowledgedAt != nil {
			at = *a.AcknowledgedAt
		}
		attrs = append(attrs, "by", a.AcknowledgedBy, "at", at, "comment", a.Comment)
	case e.act != nil:
		attrs = append(attrs, "by", e.act.by, "comment", e.act.comment)
	}
	if a.Reason != "" && typ != TypeAcknowledged {
		attrs = append(attrs, "reason", a.Reason)
	}
	if a.ShelvedUntil != nil {
		attrs = append(attrs, "shelved_until", *a.ShelvedUntil)
	}
	if a.Chattering {
		attrs = append(attrs, "chattering", true)
	}
	if a.Latched {
		attrs = append(attrs, "latched", true)
	}
	if only != nil {
		attrs = append(attrs, "receiver", only.name)
	}
	e.log.Info("alert "+typ[len("alert."):], attrs...)
}

func (a *alertRec) setNotified(receiver string, at time.Time) {
	if a.Notified == nil {
		a.Notified = map[string]time.Time{}
	}
	a.Notified[receiver] = at
}

// alertPoint is the `alert` point of a transition (see the InfluxDB schema in the README).
func (e *Engine) alertPoint(a *alertRec, typ string, now time.Time) gateway.Point {
	status := typ[len("alert."):]
	p := gateway.Point{
		Measurement: MeasurementAlert,
		Tags: []gateway.Tag{
			{Key: gateway.TagSite, Value: e.opts.Site}, {Key: "rule", Value: a.Rule},
			{Key: gateway.TagDevice, Value: a.Device}, {Key: "point", Value: a.Point},
			{Key: "level", Value: a.Level}, {Key: "severity", Value: a.Severity},
		},
		Fields: []gateway.Field{gateway.String("status", status), gateway.Float("value", cleanFloat(a.Value))},
		Time:   now,
	}
	if a.Threshold != nil {
		p.Fields = append(p.Fields, gateway.Float("threshold", cleanFloat(*a.Threshold)))
	}
	p.Fields = append(p.Fields, gateway.String("id", a.ID))
	switch {
	case typ == TypeAcknowledged:
		p.Fields = append(p.Fields, gateway.String("by", a.AcknowledgedBy), gateway.String("comment", a.Comment))
	case e.act != nil:
		p.Fields = append(p.Fields, gateway.String("by", e.act.by), gateway.String("comment", e.act.comment))
	}
	if typ == TypeShelved && a.ShelvedUntil != nil {
		p.Fields = append(p.Fields, gateway.String("shelved_until", a.ShelvedUntil.UTC().Format(time.RFC3339)))
	}
	if a.Reason != "" && typ == TypeResolved {
		p.Fields = append(p.Fields, gateway.String("reason", a.Reason))
	}
	return p
}

// end files an alert that reached normal: it leaves its track and is kept
// for ?state=all until it is older than the retention (see prune).
func (e *Engine) end(a *alertRec, now time.Time) {
	if a.filed {
		return // ended before (a shelving that outlived it ends now)
	}
	a.filed = true
	delete(e.chatter, a)
	if r := e.byName[a.Rule]; r != nil {
		k := trackKey{r.idx, a.Device, r.trackPoint(a.Point)}
		if t := e.tracks[k]; t != nil && t.alert == a {
			t.alert = nil
			if e.devices[a.Device] == nil {
				delete(e.tracks, k) // an untracked device's event: nothing to keep
			}
		}
	}
	e.ended = append(e.ended, a.ID)
	e.prune(now)
}

// prune forgets ended alerts that ended longer ago than the retention, and
// the oldest beyond maxEnded (a bound on memory during an alarm flood).
func (e *Engine) prune(now time.Time) {
	keep := e.retention()
	n := 0
	for n < len(e.ended) {
		a := e.alerts[e.ended[n]]
		if a != nil && now.Sub(a.ChangedAt) < keep && len(e.ended)-n <= maxEnded {
			break
		}
		n++
	}
	for _, id := range e.ended[:n] {
		delete(e.alerts, id)
		delete(e.shelved, id)
		e.cs.drop = append(e.cs.drop, id)
	}
	if n > 0 {
		e.ended = slices.Delete(e.ended, 0, n)
	}
}

// retention is how long ended alerts are kept.
func (e *Engine) retention() time.Duration {
	if e.cfg.Retention.Duration > 0 {
		return e.cfg.Retention.Duration
	}
	return DefaultRetention
}

func (e *Engine) markDirty(a *alertRec) {
	if !e.dirty[a] {
		e.dirty[a] = true
		e.cs.alerts = append(e.cs.alerts, a)
	}
}

// commitLocked writes the pending change set. If the disk refuses, the
// changes stay pending and the next round tries again; nothing is sent
// before it is committed.
func (e *Engine) commitLocked() {
	if e.cs.empty() || e.st == nil {
		return
	}
	e.dropSentLocked()
	if err := e.st.commit(&e.cs); err != nil {
		if e.commitErr.Add(1) == 1 || e.commitErr.Load()%100 == 0 {
			e.log.Error("commit alert transitions; retrying", "err", err, "failures", e.commitErr.Load())
		}
		e.sendUncommittedLocked(e.opts.Now())
		return
	}
	clear(e.early)
	e.notifications.Add(int64(len(e.cs.msgs)))
	woke := map[string]bool{}
	for _, q := range e.cs.msgs {
		woke[q.receiver] = true
	}
	for _, rc := range e.receivers {
		if woke[rc.name] {
			wake(rc.wake)
		}
	}
	if len(e.cs.points) > 0 {
		wake(e.pointsW)
	}
	e.cs.reset()
	clear(e.dirty)
}

func wake(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// device returns the state of device id, learning it if need be. A learnt
// device takes the kind of the first point it sends, and then the kind its
// device_status reports (status is true for those).
func (e *Engine) device(id, kind string, status bool, now time.Time) *devState {
	d := e.devices[id]
	if d != nil {
		if status && kind != "" && kind != d.kind && e.meta[id].Kind == "" {
			d.kind = kind
			e.matchStale(d)
		}
		return d
	}
	m, known := e.meta[id]
	if !known && len(e.devices) >= e.maxLearnt+len(e.meta) {
		if !e.untrackedNoted {
			e.untrackedNoted = true
			e.log.Warn("too many devices learnt from traffic: new ones are not watched for liveness; their events are still judged",
				"limit", e.maxLearnt, "device", id)
		}
		return nil
	}
	d = &devState{id: id, kind: firstNonEmpty(m.Kind, kind),
		seen: deviceSeen{Interval: m.Interval, LastGood: now}}
	e.devices[id] = d
	e.matchStale(d)
	return d
}

// matchStale (re)creates the device's stale tracks.
func (e *Engine) matchStale(d *devState) {
	d.stale = d.stale[:0]
	for _, r := range e.rules {
		if r.kind == condStale && r.matchesDevice(d.kind, d.id) {
			d.stale = append(d.stale, e.track(trackKey{r.idx, d.id, pointOnline}, nil))
		}
	}
}

// track returns the track for key, creating it.
func (e *Engine) track(key trackKey, d *devState) *track {
	t := e.tracks[key]
	if t == nil {
		t = &track{key: key, cond: normalState}
		e.tracks[key] = t
		if k := e.rules[key.rule].kind; d != nil && k != condStale && k != condEvent && k != condVoice {
			d.values = append(d.values, t)
		}
	}
	return t
}

// valueRules returns the threshold, rate and state rules that apply to a
// series, from a cache.
func (e *Engine) valueRules(kind, device, point string) []int {
	k := seriesKey{kind, device, point}
	if ids, ok := e.series[k]; ok {
		return ids
	}
	var ids []int
	for _, r := range e.rules {
		switch r.kind {
		case condThreshold, condRate, condBool:
			if r.matches(kind, device, point) {
				ids = append(ids, r.idx)
			}
		}
	}
	if len(e.series) >= maxSeriesCache {
		clear(e.series)
	}
	e.series[k] = ids
	return ids
}

// levelIndex finds the index of an alert's level in its rule.
func (e *Engine) levelIndex(a *alertRec) int {
	r := e.byName[a.Rule]
	if r == nil {
		return -1
	}
	if r.kind == condEvent || r.kind == condVoice {
		return 0
	}
	for i, l := range r.levels {
		if l.name == a.Level {
			return i
		}
	}
	return -1
}

// restore rebuilds the engine's state from stored alerts: open alerts take
// their tracks back at their level, so a restart neither re-fires nor
// forgets them. Alerts of rules that no longer exist are resolved.
func (e *Engine) restore(recs []*alertRec, now time.Time) {
	sort.Slice(recs, func(i, j int) bool { return recs[i].ChangedAt.Before(recs[j].ChangedAt) })
	for _, a := range recs {
		e.alerts[a.ID] = a
		if a.Key == "" { // stored before keys existed
			a.Key = AlertKey(a.Rule, a.Device, a.Point)
		}
		e.restoreStates(a, now)
		if !a.State.Open() {
			a.filed = true
			e.ended = append(e.ended, a.ID)
			continue
		}
		if a.Rule == NotifyRejectedRule {
			e.rejected[a.Point] = a
			continue
		}
		if a.Rule == MaintenanceRule {
			if _, ok := e.meta[a.Device]; a.Configured && !ok {
				// Its device was removed from the configuration: nothing
				// will ever say the maintenance is over.
				at := now
				a.Status, a.State, a.ResolvedAt, a.ChangedAt = StatusResolved, StateNormal, &at, now
				e.emit(e.maintRule, a, TypeUnsuppressed, now, -1, nil)
				continue
			}
			// Still under maintenance as far as we know: its next status says.
			if d := e.device(a.Device, a.Kind, false, now); d != nil {
				d.maint, d.maintAlert = true, a
				d.pointMaint = a.OutOfServiceUntil == nil
				if a.OutOfServiceUntil != nil {
					since := a.StartedAt // records from before since was kept
					if a.OutOfServiceSince != nil {
						since = *a.OutOfServiceSince
					}
					d.oos = &outOfService{since: since, until: *a.OutOfServiceUntil, by: a.OutOfServiceBy, reason: a.OutOfServiceReason}
					e.oosDevs[d.id] = d
					e.snapOOS()
				}
			}
			continue
		}
		r := e.byName[a.Rule]
		lvl := -1
		if r != nil {
			lvl = e.levelIndex(a)
		}
		if a.Status == StatusFiring && (lvl < 0 || !e.producesLevel(r, lvl, a)) {
			e.endRuleChanged(a, now)
			continue
		}
		if r == nil {
			continue
		}
		d := e.device(a.Device, a.Kind, false, now)
		if d == nil {
			continue
		}
		t := e.track(trackKey{r.idx, a.Device, r.trackPoint(a.Point)}, d)
		if t.alert != nil && t.alert.Status == StatusFiring && a.Status != StatusFiring {
			continue // the key's active occurrence wins over a cleared one
		}
		if t.kind == "" && r.kind != condStale {
			t.kind = a.Kind
		}
		t.alert, t.value = a, a.Value
		if r.kind == condEvent {
			t.evType = a.Level
		}
		if a.Status == StatusFiring && !a.Latched {
			t.cond = condState{Level: lvl, Target: lvl}
		}
		if a.Chattering {
			e.chatter[a], t.chatLast = t, a.ChangedAt
		}
	}
	e.prune(now)
	// Configured devices are watched from the start, so one that never
	// answers goes offline too.
	for id, m := range e.meta {
		e.device(id, m.Kind, false, now)
	}
}

// producesLevel reports whether rule r still raises level lvl of the
// stored active alert a: the rule still applies to the alert's series and
// the level has the severity and limit the alert was raised with.
func (e *Engine) producesLevel(r *rule, lvl int, a *alertRec) bool {
	if _, ok := e.meta[a.Device]; a.Configured && !ok {
		return false // its device was removed from the configuration
	}
	// The alert's own kind (a station's fire_danger rating is not of the
	// station's kind), or its device's configured one.
	kind := a.Kind
	if m, ok := e.meta[a.Device]; ok && m.Kind != "" && !r.matches(kind, a.Device, a.Point) {
		kind = m.Kind
	}
	if !r.matches(kind, a.Device, a.Point) {
		return false
	}
	if r.kind == condEvent {
		return r.eventMatches(a.Level, max(a.Value, r.minConf))
	}
	l := r.levels[lvl]
	if l.severity != a.Severity {
		return false
	}
	if a.Threshold != nil && (r.kind == condThreshold || r.kind == condRate) && *a.Threshold != l.limit {
		return false
	}
	return true
}

// endRuleChanged ends a restored active alert that the configuration no
// longer raises: alert.resolved with reason rule_changed. Its condition
// was not seen to return to normal, so the message says the rule changed.
func (e *Engine) endRuleChanged(a *alertRec, now time.Time) {
	e.endWithReason(a, ReasonRuleChanged, now)
	e.log.Warn("alert ended: its rule was removed or changed", "alert", a.ID, "rule", a.Rule, "level", a.Level)
}

// endWithReason ends an active alert other than by its condition
// returning to normal: alert.resolved with data.reason, and a message that
// says why, never "back to normal".
func (e *Engine) endWithReason(a *alertRec, reason string, now time.Time) {
	a.Chattering, a.Latched = false, false // the end is news the desk gets
	delete(e.chatter, a)
	next, typ := applyOutcome(&a.Alert, outcome{Value: a.Value}, now, nil)
	a.Alert = *next
	a.Reason = reason
	e.emit(e.byName[a.Rule], a, typ, now, -1, nil)
}

// Stats returns counters since start.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	open := 0
	active := map[string]int{}
	for _, a := range e.alerts {
		if a.State.Open() {
			open++
		}
		if a.Status == StatusFiring && a.State.Open() && a.Rule != MaintenanceRule {
			active[a.Severity]++
		}
	}
	rate := e.alarmRate(e.opts.Now())
	e.mu.Unlock()
	return Stats{
		Samples: e.samples.Load(), Transitions: e.transitions.Load(), Notifications: e.notifications.Load(),
		Delivered: e.delivered.Load(), DeadLettered: e.dead.Load(), NotifyErrors: e.notifyErr.Load(),
		QueueWaits: e.queueWaits.Load(), LostAtStop: e.lostAtStop.Load(), CommitErrors: e.commitErr.Load(),
		Open: open, Active: active, AlarmRate10m: rate,
	}
}

// Built-in rules: the gateway's alarms about itself (device "gateway").
// Configured rule names cannot contain ':', so none can clash with them.
const (
	// SpoolFullRule fires when the spool was full and points were dropped.
	// The gateway reports drops as field gateway.FieldSpoolDropped of its own
	// health series (gateway.SelfMonitor), every report counting the drops
	// since the last.
	SpoolFullRule = "gateway:spool-full"
	// MQTTUnreachableRule fires when the gateway has had no broker
	// connection for Options.MQTTAlertAfter (field gateway.FieldMQTTDown).
	MQTTUnreachableRule = "gateway:mqtt-unreachable"
	// InfluxUnreachableRule fires when points have waited in the spool with
	// nothing written to InfluxDB for Options.SinkAlertAfter.
	InfluxUnreachableRule = "gateway:influxdb-unreachable"
	// StorageDamagedRule fires when a data file was found damaged at start
	// and moved aside.
	StorageDamagedRule = "gateway:storage-damaged"
	// DeviceLimitRule fires when MQTT devices beyond mqtt.max_devices are
	// no longer watched for liveness.
	DeviceLimitRule = "gateway:device-limit"
	// AlarmFloodRule fires when more than FloodLimit alarms fired in the
	// last 10 minutes (an alarm flood, EEMUA 191 / ISA-18.2); it resolves
	// when the rate is back to FloodClear or fewer.
	AlarmFloodRule = "gateway:alarm-flood"
	// NotifyRejectedRule fires when a receiver refused a notification for
	// good (a 4xx other than 429): the notification is dead-lettered and
	// this alert goes to the other receivers. Its point is the receiver.
	NotifyRejectedRule = "gateway:notify-rejected"
)

// Defaults of the self-alert delays.
const (
	DefaultMQTTAlertAfter = 30 * time.Second
	DefaultSinkAlertAfter = 5 * time.Minute
)

// withBuiltinRules returns the configured rules plus the built-in ones.
func withBuiltinRules(cfgs []RuleConfig, opts Options) []RuleConfig {
	one, half := 1.0, 0.5
	mqttAfter := opts.MQTTAlertAfter
	if mqttAfter <= 0 {
		mqttAfter = DefaultMQTTAlertAfter
	}
	sinkAfter := opts.SinkAlertAfter
	if sinkAfter <= 0 {
		sinkAfter = DefaultSinkAlertAfter
	}
	mqttS, sinkS := mqttAfter.Seconds(), sinkAfter.Seconds()
	flood := float64(FloodLimit + 1)
	say := func(zh, en string) string {
		if opts.Language == LangEN {
			return en
		}
		return zh
	}
	self := func(point string) Match {
		return Match{Kind: gateway.MeasurementGateway, Device: gateway.GatewayDevice, Point: point}
	}
	return append(slices.Clone(cfgs),
		RuleConfig{
			Name: SpoolFullRule, Match: self(gateway.FieldSpoolDropped),
			// Losing data is serious but not an immediate danger: orange (II).
			Thresholds: []Threshold{{Level: "data-loss", Above: &one, Severity: SeverityOrange}},
			// Drops come in bursts while the sink is down; resolve only after a
			// quiet minute so the duty desk sees one alarm, not a flapping one.
			OffDelay: time.Minute,
		},
		RuleConfig{
			// Cameras and checkpoints are not heard: a forest site is blind.
			Name: MQTTUnreachableRule, Match: self(gateway.FieldMQTTDown),
			Thresholds: []Threshold{{Level: "unreachable", Above: &mqttS, Severity: SeverityOrange}},
			Message: say("网关连不上 MQTT 服务器，摄像机和卡口的数据收不到，请检查服务器和网络",
				"the gateway cannot reach the MQTT broker and receives nothing from cameras and checkpoints; check the broker and the network"),
		},
		RuleConfig{
			// The readings are safe in the spool; history is not being written.
			Name: InfluxUnreachableRule, Match: self(gateway.FieldSinkStalled),
			Thresholds: []Threshold{{Level: "unreachable", Above: &sinkS, Severity: SeverityYellow}},
			Message: say("InfluxDB 长时间未能写入，数据暂存在网关缓存中，请检查数据库",
				"nothing written to InfluxDB for a while; the readings wait in the gateway's spool; check the database"),
		},
		RuleConfig{
			Name: StorageDamagedRule, Match: self(gateway.FieldStorageDamaged),
			Thresholds: []Threshold{{Level: "damaged", Above: &half, Severity: SeverityOrange}},
			Message: say("网关启动时发现数据文件损坏，已移到一旁另存，请检查磁盘并联系维护人员",
				"a data file was damaged at start and moved aside; check the disk and call maintenance"),
		},
		RuleConfig{
			Name: AlarmFloodRule, Match: self(FieldAlarmRate),
			Thresholds: []Threshold{{Level: "flood", Above: &flood, Severity: SeverityOrange,
				Label: say("告警泛滥", "alarm flood")}},
			Deadband: FloodLimit + 1 - FloodClear - 1,
			Message: say("告警泛滥：10分钟内报警超过10条，请按严重程度先处理红色、橙色报警，并检查是否有抖动或误报的报警",
				"alarm flood: more than 10 alarms in 10 minutes; handle red and orange first and look for chattering or false alarms"),
		},
		RuleConfig{
			Name: DeviceLimitRule, Match: self(gateway.FieldUntrackedDevices),
			Thresholds: []Threshold{{Level: "limit", Above: &half, Severity: SeverityYellow}},
			Message: say("MQTT 设备数超过上限，新设备不做在线监测（其事件仍照常告警），请检查异常主题或调大 mqtt.max_devices",
				"more MQTT devices than mqtt.max_devices: new ones are not watched for liveness (their events still alarm); check for bogus topics or raise the limit"),
		},
	)
}

// receiverRejected raises (or counts into) gateway:notify-rejected for a
// receiver that refused a notification for good, sent to every other
// receiver. errText is the receiver's answer, shown in the message.
func (e *Engine) receiverRejected(rc *receiver, errText string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.st == nil {
		return
	}
	now := e.opts.Now()
	if a := e.rejected[rc.name]; a != nil && a.Status == StatusFiring {
		a.Value++
		a.Cause = errText
		e.markDirty(a)
		e.commitLocked()
		return
	}
	r := e.rejectRule
	id := AlertID(r.name, gateway.GatewayDevice, rc.name, now)
	for n := 1; e.alerts[id] != nil; n++ {
		id = AlertID(r.name, gateway.GatewayDevice, rc.name, now.Add(time.Duration(n)))
	}
	a := &alertRec{Notified: map[string]time.Time{}}
	a.Alert = Alert{ID: id, Key: AlertKey(r.name, gateway.GatewayDevice, rc.name), Rule: r.name,
		Status: StatusFiring, State: StateActiveUnacked, Level: levelRejected, Severity: SeverityOrange,
		Site: e.opts.Site, Device: gateway.GatewayDevice, Label: e.meta[gateway.GatewayDevice].Label,
		Kind: gateway.MeasurementGateway, Point: rc.name, Value: 1, StartedAt: now, ChangedAt: now, Cause: errText}
	e.alerts[id] = a
	e.rejected[rc.name] = a
	e.skip = rc.name
	e.emit(r, a, TypeFiring, now, 0, nil)
	e.skip = ""
	e.commitLocked()
}

// receiverAccepts resolves a receiver's gateway:notify-rejected once it
// has taken a notification again.
func (e *Engine) receiverAccepts(rc *receiver) {
	e.mu.Lock()
	defer e.mu.Unlock()
	a := e.rejected[rc.name]
	if e.st == nil || a == nil || a.Status != StatusFiring {
		return
	}
	now := e.opts.Now()
	next, typ := applyOutcome(&a.Alert, outcome{Value: a.Value}, now, nil)
	a.Alert = *next
	e.skip = rc.name
	e.emit(e.rejectRule, a, typ, now, -1, nil)
	e.skip = ""
	e.commitLocked()
}
