package mqtt

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hazardgw/hazardgw/gateway"
)

// DeviceState is one MQTT device (a declared one, or a camera, checkpoint
// or mapped device learnt from traffic) as last seen, for /api/v1/devices.
type DeviceState struct {
	ID string `json:"id"`
	// Kind is the kind tag of its device_status points: its declared kind,
	// else the measurement of its last event (fire_detection,
	// checkpoint_passage, a json mapping's); "" for an undeclared device
	// heard only through device_status.
	Kind     string    `json:"kind"`
	Label    string    `json:"label,omitempty"`
	Declared bool      `json:"declared"`
	Location *Location `json:"location,omitempty"`
	Source   string    `json:"source"` // always "mqtt"
	Online   bool      `json:"online"`
	// Quality and Reason are those of its last device_status point:
	// good; bad with fault, broker_down or offline. A device not heard from
	// since start and not yet stale is uncertain / not_heard.
	Quality string `json:"quality"`
	Reason  string `json:"reason"`
	// LastSeen is its last sign of life (gateway clock), also from before a
	// restart; zero if never.
	LastSeen time.Time `json:"last_seen"`
	// LastTime is the timestamp of its last event point (payload clock).
	LastTime time.Time `json:"last_time"`
	// Values are the fields and event tags (type, direction) of its last
	// event. A payload is stored only if valid, so their quality is the
	// device's: good, or bad while it is faulty, offline or unreachable.
	Values map[string]Value `json:"values"`
}

// Value is one last value of a device.
type Value struct {
	Value   any    `json:"value"`
	Quality string `json:"quality"`
	Reason  string `json:"reason,omitempty"`
}

// devStatus is where a device's online state stands.
type devStatus uint8

const (
	statusUnknown devStatus = iota // no online field written since start
	statusOnline                   // an online=true point is stored
	statusOffline                  // an online=false point is stored
)

type device struct {
	kind       string
	label      string
	location   *Location
	declared   bool
	fixedStale bool // a declared stale: subscriptions do not change it
	// provisional: created for a batch whose commit has not returned; not
	// swept, shown or saved, and removed if the commit fails.
	provisional bool
	status      devStatus
	quality     string // of its last device_status point since start; "" if none
	reason      string
	fault       bool      // its last heartbeat said fault: true
	lastSeen    time.Time // last sign of life (gateway clock), also from the devices file
	since       time.Time // its silence is measured from here: last sign of life, or start
	stale       time.Duration
	lastTime    time.Time
	tags        []gateway.Tag   // copy of the last event's tags (for type, direction)
	fields      []gateway.Field // copy of the last event's fields
}

// liveness tracks when each MQTT device last gave a sign of life and
// decides its device_status points (see the package documentation):
// online=true on first sight and on the first good message after a silence
// or a broker outage, online=false once a device has been silent longer
// than its stale duration, and quality bad/broker_down for every device
// while the broker connection is down. The stale timers keep running
// through an outage: a broker outage does not hide a dead camera, and a
// reconnection does not restart them.
//
// Devices are keyed by id alone: a camera's events and its heartbeats are
// one device. Declared devices are there from start; undeclared ones are
// learnt from traffic, up to max; messages from further new ids are stored
// as usual but not tracked, and counted.
//
// The decisions are made under a mutex and the points are committed outside
// it; the small race this allows (a message arriving while an offline point
// is being committed) resolves on that device's next message, which is
// announced online again.
type liveness struct {
	mu        sync.Mutex
	devs      map[string]*device
	max       int // learnt devices tracked at most
	learnt    int // learnt devices in devs, provisional ones included
	connected bool
	dirty     bool // the learnt devices changed since they were last saved

	refused      map[uint64]struct{} // hashes of the ids refused by max, at most maxRefused
	reported     int                 // len(refused) last committed as a point
	firstRefused string
}

// newLiveness returns a tracker that knows the declared devices (defaults
// applied; fixed[i] says devs[i] declared its stale). Their clocks start
// with begin.
func newLiveness(devs []Device, fixed []bool, max int) *liveness {
	l := &liveness{devs: make(map[string]*device, len(devs)), max: max}
	for i, d := range devs {
		l.devs[d.ID] = &device{
			kind: d.Kind, label: d.Label, location: d.Location, declared: true, fixedStale: fixed[i], stale: d.Stale,
		}
	}
	return l
}

// begin starts the silence clocks of the devices never heard from: a
// declared device that stays silent is offline once its stale duration has
// passed since start.
func (l *liveness) begin(start time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, d := range l.devs {
		if d.since.IsZero() {
			d.since = start
		}
	}
}

// setConnected records a connection state change.
func (l *liveness) setConnected(up bool) {
	l.mu.Lock()
	l.connected = up
	l.mu.Unlock()
}

// seen is one stored message's device.
type seen struct {
	id string
	// kind is the message's measurement ("" for a heartbeat); announce
	// replaces it with the device's kind where that one wins.
	kind  string
	stale time.Duration
	// heartbeat: a device_status message, saying online and fault. For
	// other messages announce sets fault to the device's.
	heartbeat, online, fault bool

	tracked   bool // set by announce: the device is in the map
	created   bool // announce created the device's provisional entry
	announced bool // an online=true point is stored with it
	// q and why are the device's quality after this entry, if it is a
	// heartbeat or announced.
	q, why string
	point  *gateway.Point
}

// announce decides, for each entry of batch, whether its device is tracked
// (creating provisional entries for new devices while fewer than max are
// learnt) and whether it must be announced with an online=true point: it is
// not known to be online with the quality its last heartbeat gave it (an
// event clears broker_down and offline, not a fault). Entries are judged in
// order, each after the heartbeats and announcements before it. It returns
// how many distinct ids were refused for the first time, and the id of
// the very first refusal if it happened now.
func (l *liveness) announce(batch []seen) (refused int, first string) {
	if len(batch) == 0 {
		return 0, ""
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var last map[string]int // id -> its latest entry in batch that set a status
	for i := range batch {
		s := &batch[i]
		d := l.devs[s.id]
		if d == nil {
			if l.learnt >= l.max {
				if l.refuse(s.id) {
					refused++
					if l.firstRefused == "" {
						l.firstRefused, first = s.id, s.id
					}
				}
				continue
			}
			d = &device{kind: s.kind, stale: s.stale, provisional: true}
			l.devs[s.id] = d
			l.learnt++
			s.created = true
		}
		s.tracked = true
		if d.declared || s.heartbeat {
			s.kind = d.kind
		}
		if s.heartbeat {
			s.q, s.why = heartbeatQuality(s.online, s.fault)
		} else {
			online, fault, q, why := d.status == statusOnline, d.fault, d.quality, d.reason
			if j, ok := last[s.id]; ok {
				b := &batch[j]
				online, fault, q, why = !b.heartbeat || b.online, b.fault, b.q, b.why
			}
			s.fault = fault
			wq, wwhy := heartbeatQuality(true, fault)
			if online && q == wq && why == wwhy {
				continue
			}
			s.announced, s.q, s.why = true, wq, wwhy
		}
		if last == nil {
			last = make(map[string]int)
		}
		last[s.id] = i
	}
	return refused, first
}

// refuse records id as refused and reports whether it was not before.
func (l *liveness) refuse(id string) bool {
	if l.refused == nil {
		l.refused = make(map[uint64]struct{})
	}
	h := fnv64a(id)
	if _, ok := l.refused[h]; ok || len(l.refused) >= maxRefused {
		return false
	}
	l.refused[h] = struct{}{}
	return true
}

// abandon removes the provisional devices announce created for batch,
// whose commit failed.
func (l *liveness) abandon(batch []seen) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range batch {
		if !batch[i].created {
			continue
		}
		if d := l.devs[batch[i].id]; d != nil && d.provisional {
			delete(l.devs, batch[i].id)
			l.learnt--
		}
	}
}

// stored records messages whose points (and online points) were committed
// at arrival time now.
func (l *liveness) stored(batch []seen, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range batch {
		s := &batch[i]
		if !s.tracked {
			continue
		}
		d := l.devs[s.id]
		if d == nil {
			// Abandoned meanwhile by another worker's failed batch: this
			// one's commit succeeded.
			d = &device{kind: s.kind, stale: s.stale}
			l.devs[s.id] = d
			l.learnt++
			l.dirty = true
		}
		if d.provisional {
			d.provisional = false
			l.dirty = true
		}
		if !d.declared && !s.heartbeat && s.kind != d.kind {
			d.kind = s.kind
			l.dirty = true
		}
		if !d.fixedStale {
			d.stale = max(d.stale, s.stale)
		}
		if s.heartbeat || s.announced {
			d.status = statusOnline
			if s.heartbeat && !s.online {
				d.status = statusOffline
			}
			d.quality, d.reason = s.q, s.why
		}
		if s.heartbeat {
			d.fault = s.fault
		}
		if !s.heartbeat || s.online { // a sign of life
			if now.After(d.lastSeen) {
				d.lastSeen = now
			}
			if now.After(d.since) {
				d.since = now
			}
		}
		if s.point != nil && !s.heartbeat && !s.point.Time.Before(d.lastTime) {
			// Copied into the device's own slices: keeping the point's would
			// pin its whole batch's backing arrays per device.
			d.lastTime = s.point.Time
			d.tags = append(d.tags[:0], s.point.Tags...)
			d.fields = append(d.fields[:0], s.point.Fields...)
		}
	}
}

// statusChange is a device_status point the sweep writes.
type statusChange struct {
	id, kind string
	offline  bool // online=false; otherwise no online field (broker_down)
	quality  string
	reason   string
}

// due returns the status points due at now, sorted by kind and id:
// online=false for devices not known to be offline and silent longer than
// their stale duration (reason broker_down while disconnected, else
// offline), and, while disconnected, a broker_down point without an online
// field for every other device not yet marked so. untracked is the number
// of distinct refused ids if it changed since last reported, else -1.
func (l *liveness) due(now time.Time) (changes []statusChange, untracked int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, d := range l.devs {
		if d.provisional {
			continue
		}
		switch {
		case d.status != statusOffline && now.Sub(d.since) > d.stale:
			why := reasonSilent
			if !l.connected {
				why = reasonBrokerDown
			}
			changes = append(changes, statusChange{id: id, kind: d.kind, offline: true, quality: qualityBad, reason: why})
		case !l.connected && (d.quality != qualityBad || d.reason != reasonBrokerDown):
			changes = append(changes, statusChange{id: id, kind: d.kind, quality: qualityBad, reason: reasonBrokerDown})
		}
	}
	slices.SortFunc(changes, func(a, b statusChange) int {
		if c := strings.Compare(a.kind, b.kind); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	untracked = -1
	if len(l.refused) != l.reported {
		untracked = len(l.refused)
	}
	return changes, untracked
}

// applied records that the points of changes (and the untracked count, if
// not negative) are stored.
func (l *liveness) applied(changes []statusChange, untracked int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range changes {
		d := l.devs[c.id]
		if d == nil {
			continue
		}
		if c.offline {
			d.status = statusOffline
		}
		d.quality, d.reason = c.quality, c.reason
	}
	if untracked >= 0 {
		l.reported = untracked
	}
}

// savedDevice is a learnt device as the devices file remembers it.
type savedDevice struct {
	ID       string    `json:"id"`
	Kind     string    `json:"kind,omitempty"`
	LastSeen time.Time `json:"last_seen,omitzero"`
}

// load adds devices remembered from before a restart, the most recently
// seen first, while fewer than max are learnt. Like declared devices they
// are judged from start: the gateway cannot know what they sent while it
// was down (the broker may be about to deliver it). It returns how many it
// left out.
func (l *liveness) load(saved []savedDevice, start time.Time, staleOf func(kind string) time.Duration) (left int) {
	saved = slices.Clone(saved)
	slices.SortStableFunc(saved, func(a, b savedDevice) int { return b.LastSeen.Compare(a.LastSeen) })
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, sd := range saved {
		if d := l.devs[sd.ID]; d != nil {
			if d.declared && sd.LastSeen.After(d.lastSeen) {
				d.lastSeen = sd.LastSeen
			}
			continue
		}
		if l.learnt >= l.max {
			left++
			continue
		}
		l.devs[sd.ID] = &device{kind: sd.Kind, stale: staleOf(sd.Kind), since: start, lastSeen: sd.LastSeen}
		l.learnt++
	}
	return left
}

// learntDevices returns the learnt devices to save, sorted by id, and
// whether they changed since the last call that returned them.
func (l *liveness) learntDevices() ([]savedDevice, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]savedDevice, 0, l.learnt)
	for id, d := range l.devs {
		if !d.declared && !d.provisional {
			out = append(out, savedDevice{ID: id, Kind: d.kind, LastSeen: d.lastSeen})
		}
	}
	slices.SortFunc(out, func(a, b savedDevice) int { return strings.Compare(a.ID, b.ID) })
	changed := l.dirty
	l.dirty = false
	return out, changed
}

// markDirty makes the next learntDevices report a change (a save failed).
func (l *liveness) markDirty() {
	l.mu.Lock()
	l.dirty = true
	l.mu.Unlock()
}

// snapshot returns every device's state, sorted by kind and id.
func (l *liveness) snapshot() []DeviceState {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]DeviceState, 0, len(l.devs))
	for id, d := range l.devs {
		if d.provisional {
			continue
		}
		ds := DeviceState{
			ID: id, Kind: d.kind, Label: d.label, Declared: d.declared, Location: d.location, Source: sourceMQTT,
			Online: d.status == statusOnline, Quality: d.quality, Reason: d.reason,
			LastSeen: d.lastSeen, LastTime: d.lastTime,
			Values: make(map[string]Value, len(d.fields)+1),
		}
		if ds.Quality == "" {
			ds.Quality, ds.Reason = qualityUncertain, reasonNotHeard
		}
		vq := Value{Quality: qualityGood}
		if ds.Quality == qualityBad {
			vq.Quality, vq.Reason = ds.Quality, ds.Reason
		}
		for _, t := range d.tags {
			if t.Key == tagType || t.Key == tagDirection {
				v := vq
				v.Value = t.Value
				ds.Values[t.Key] = v
			}
		}
		for _, f := range d.fields {
			v := vq
			switch f.Kind {
			case gateway.KindFloat:
				v.Value = f.F
			case gateway.KindInt:
				v.Value = f.I
			case gateway.KindBool:
				v.Value = f.B
			default:
				v.Value = f.S
			}
			ds.Values[f.Key] = v
		}
		out = append(out, ds)
	}
	slices.SortFunc(out, func(a, b DeviceState) int {
		if c := strings.Compare(a.Kind, b.Kind); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// forget stops tracking a learnt device: it is no longer swept (no offline
// point), shown or saved. A declared device is refused (the configuration
// removes it), as is an id not tracked.
func (l *liveness) forget(id string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	d := l.devs[id]
	switch {
	case d == nil || d.provisional:
		return ErrUnknownDevice
	case d.declared:
		return ErrDeclaredDevice
	}
	delete(l.devs, id)
	l.learnt--
	l.dirty = true
	return nil
}
