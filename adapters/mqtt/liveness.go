package mqtt

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hazardgw/hazardgw/gateway"
)

// DeviceState is one MQTT device (a camera, a checkpoint, or a device named
// by a json mapping) as last seen, for /api/v1/devices.
type DeviceState struct {
	ID     string `json:"id"`
	Kind   string `json:"kind"`   // the measurement its messages go to: fire_detection, checkpoint_passage, ...
	Source string `json:"source"` // always "mqtt"
	Online bool   `json:"online"`
	// LastSeen is when its last message arrived (gateway clock).
	LastSeen time.Time `json:"last_seen"`
	// LastTime is the timestamp of its last point (payload clock).
	LastTime time.Time `json:"last_time"`
	// Values are the fields and event tags (type, direction) of its last
	// message. Quality is always "good": a bad payload is rejected, not stored.
	Values map[string]Value `json:"values"`
}

// Value is one last value of a device.
type Value struct {
	Value   any    `json:"value"`
	Quality string `json:"quality"`
}

// devStatus is where a device's online state stands.
type devStatus uint8

const (
	statusUnknown devStatus = iota // not announced since start
	statusOnline                   // an online=true point is stored
	statusOffline                  // an online=false point is stored
)

type devKey struct{ kind, id string }

type device struct {
	status   devStatus
	lastSeen time.Time
	lastTime time.Time
	stale    time.Duration
	tags     []gateway.Tag   // copy of the last point's tags (for type, direction)
	fields   []gateway.Field // copy of the last point's fields
}

// liveness tracks when each MQTT device was last heard from and decides the
// device_status points (SPEC §4): online=true on first sight and on the
// first message after a silence, online=false once a device has been
// silent longer than its subscription's stale duration.
//
// While the broker connection is down no device is declared offline: the
// gateway cannot tell a silent device from its own outage (that one is
// hazardgw_mqtt_connected). After a reconnection every device gets a full
// stale period again, during which the broker delivers what was queued.
//
// The decisions are made under a mutex and the points are committed outside
// it; the small race this allows (a message arriving while an offline point
// is being committed) resolves on that device's next message, which is
// announced online again.
type liveness struct {
	mu             sync.Mutex
	devs           map[devKey]*device
	connected      bool
	connectedSince time.Time
}

func newLiveness() *liveness { return &liveness{devs: make(map[devKey]*device)} }

// setConnected records a connection state change at now.
func (l *liveness) setConnected(up bool, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if up && !l.connected {
		l.connectedSince = now
	}
	l.connected = up
}

// announce marks the entries of batch whose device must be announced with
// an online=true point: not known to be online, first occurrence in batch.
func (l *liveness) announce(batch []seen) {
	if len(batch) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
next:
	for i := range batch {
		s := &batch[i]
		if d := l.devs[devKey{s.kind, s.id}]; d != nil && d.status == statusOnline {
			continue
		}
		for j := range batch[:i] {
			if batch[j].announced && batch[j].kind == s.kind && batch[j].id == s.id {
				continue next
			}
		}
		s.announced = true
	}
}

// seen is one stored message's device.
type seen struct {
	kind, id  string
	stale     time.Duration
	announced bool // an online=true point was stored with it
	point     *gateway.Point
}

// stored records messages whose points (and online points) were committed
// at arrival time now.
func (l *liveness) stored(batch []seen, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range batch {
		s := &batch[i]
		k := devKey{s.kind, s.id}
		d := l.devs[k]
		if d == nil {
			d = &device{}
			l.devs[k] = d
		}
		if s.announced {
			d.status = statusOnline
		}
		if now.After(d.lastSeen) {
			d.lastSeen = now
		}
		d.stale = s.stale
		if s.point != nil && !s.point.Time.Before(d.lastTime) {
			// Copied into the device's own slices: keeping the point's would
			// pin its whole batch's backing arrays per device.
			d.lastTime = s.point.Time
			d.tags = append(d.tags[:0], s.point.Tags...)
			d.fields = append(d.fields[:0], s.point.Fields...)
		}
	}
}

// staleDevices returns the online devices silent for longer than their
// stale duration at now (none while disconnected), sorted by kind and id.
func (l *liveness) staleDevices(now time.Time) []devKey {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.connected {
		return nil
	}
	var out []devKey
	for k, d := range l.devs {
		if d.status != statusOnline {
			continue
		}
		since := d.lastSeen
		if l.connectedSince.After(since) {
			since = l.connectedSince
		}
		if now.Sub(since) > d.stale {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b devKey) int {
		if c := strings.Compare(a.kind, b.kind); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	return out
}

// wentOffline records that online=false points for keys are stored.
func (l *liveness) wentOffline(keys []devKey) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		if d := l.devs[k]; d != nil {
			d.status = statusOffline
		}
	}
}

// snapshot returns every device's state, sorted by kind and id.
func (l *liveness) snapshot() []DeviceState {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]DeviceState, 0, len(l.devs))
	for k, d := range l.devs {
		ds := DeviceState{
			ID: k.id, Kind: k.kind, Source: "mqtt", Online: d.status == statusOnline,
			LastSeen: d.lastSeen, LastTime: d.lastTime,
			Values: make(map[string]Value, len(d.fields)+1),
		}
		for _, t := range d.tags {
			if t.Key == tagType || t.Key == tagDirection {
				ds.Values[t.Key] = Value{Value: t.Value, Quality: "good"}
			}
		}
		for _, f := range d.fields {
			var v any
			switch f.Kind {
			case gateway.KindFloat:
				v = f.F
			case gateway.KindInt:
				v = f.I
			case gateway.KindBool:
				v = f.B
			default:
				v = f.S
			}
			ds.Values[f.Key] = Value{Value: v, Quality: "good"}
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

// statusPoint is a device_status point (SPEC §4).
func statusPoint(site string, k devKey, online bool, at time.Time, tags []gateway.Tag, fields []gateway.Field) gateway.Point {
	tags = append(tags,
		gateway.Tag{Key: gateway.TagSite, Value: site},
		gateway.Tag{Key: gateway.TagDevice, Value: k.id},
		gateway.Tag{Key: "kind", Value: k.kind},
		gateway.Tag{Key: "source", Value: "mqtt"})
	fields = append(fields, gateway.Bool("online", online))
	return gateway.Point{Measurement: gateway.MeasurementDeviceStatus, Tags: tags, Fields: fields, Time: at}
}
