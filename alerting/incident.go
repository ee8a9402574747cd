package alerting

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hazardgw/hazardgw/gateway"
	"github.com/hazardgw/hazardgw/geo"
)

// Camera incidents.
//
// An event rule keeps one incident per camera: the events it matches from
// one camera, until none has come for auto_resolve, are one alert whose
// level is the worst type seen (hotspot < smoke < fire). A worse type
// raises the level (alert.changed); any matching event keeps it open. The
// alert carries what the latest event said (CameraEvent) and, for a
// camera with a declared location, where the fire is.

// Defaults of the camera-incident options.
const (
	// DefaultTriangulateWindow is how far apart in time two cameras'
	// bearings may be to be intersected (forest.triangulate_window).
	DefaultTriangulateWindow = 5 * time.Minute
	// DefaultMaxEventAge is how old an event may be when it arrives and
	// still count as news; an older one alarms saying it is late
	// (forest.max_event_age).
	DefaultMaxEventAge = 10 * time.Minute
)

// Location methods (FireLocation.Method).
const (
	// MethodRange: the camera's location, its bearing and its distance.
	MethodRange = "range"
	// MethodTriangulated: the intersection of two cameras' bearings.
	MethodTriangulated = "triangulated"
)

// CameraEvent is what a camera alert carries of the event that raised it
// or, while it is open, of the latest event that kept it open: the
// payload's time, bearing (degrees from true north), distance, image and
// id, and the estimated fire position. Unknown members are left out of the
// JSON.
type CameraEvent struct {
	EventTime  *time.Time    `json:"event_time,omitempty"`
	BearingDeg *float64      `json:"bearing_deg,omitempty"`
	DistanceM  *float64      `json:"distance_m,omitempty"`
	ImageURL   string        `json:"image_url,omitempty"`
	EventID    string        `json:"event_id,omitempty"`
	Location   *FireLocation `json:"location,omitempty"`
	// LateS is how late, in seconds, that event arrived when it was older
	// than the maximum event age (0: it was news).
	LateS int64 `json:"late_s,omitempty"`
}

// FireLocation is an estimated fire position.
type FireLocation struct {
	Lat    float64 `json:"lat"`
	Lon    float64 `json:"lon"`
	Method string  `json:"method"` // MethodRange or MethodTriangulated
	// Cameras are the cameras whose bearings were intersected.
	Cameras []string `json:"cameras,omitempty"`
}

// pointEvent is the point of camera alerts: the value quoted is the
// event's confidence; the level is the event type.
const pointEvent = gateway.FieldConfidence

// maxSightRange bounds where a camera can see a fire: an intersection
// further than this from either camera comes from bearings that do not
// belong together.
const maxSightRange = 50000.0

// maxSeenEvents bounds the event ids remembered (about 32 KiB on disk).
const maxSeenEvents = 4096

// Bounds on the text an alert takes over from an event.
const (
	maxEventIDLen  = 256
	maxImageURLLen = 2048
)

// typeRank orders event types by how bad they are; unknown types rank
// lowest.
func typeRank(typ string) int {
	switch typ {
	case "hotspot":
		return 1
	case "smoke":
		return 2
	case "fire":
		return 3
	}
	return 0
}

// eventInfo is what a camera event point says beyond type and confidence.
type eventInfo struct {
	bearing, distance float64
	hasB, hasD        bool
	imageURL, id      string
}

// eventInfoOf reads a camera event point's bearing, distance, image and
// id; values that make no sense (a bearing outside [0, 360), a negative
// distance, overlong text) are left out.
func eventInfoOf(p *gateway.Point) *eventInfo {
	ev := &eventInfo{}
	for _, f := range p.Fields {
		switch f.Key {
		case gateway.FieldBearing:
			if v, ok := number(f); ok && v >= 0 && v < 360 {
				ev.bearing, ev.hasB = v, true
			}
		case gateway.FieldDistance:
			if v, ok := number(f); ok && v >= 0 && v <= maxSightRange*10 {
				ev.distance, ev.hasD = v, true
			}
		case gateway.FieldImageURL:
			if f.Kind == gateway.KindString && len(f.S) <= maxImageURLLen {
				ev.imageURL = f.S
			}
		case gateway.FieldEventID:
			if f.Kind == gateway.KindString && len(f.S) <= maxEventIDLen {
				ev.id = f.S
			}
		}
	}
	return ev
}

// cameras is the engine's state of camera incidents.
type cameras struct {
	locs   map[string]geo.Point // declared camera locations
	window time.Duration
	maxAge time.Duration
	sights map[string]sighting // per located camera: its latest matching bearing
	seen   seenSet
}

// sighting is a camera's bearing at an event time.
type sighting struct {
	at      time.Time
	bearing float64
}

// storedSighting is a sighting as alerts.db keeps it: the event time says
// its age, so that after a restart it pairs only within the window.
type storedSighting struct {
	At      time.Time `json:"at"`
	Bearing float64   `json:"bearing_deg"`
}

// keySights is the meta key of the cameras' latest bearings.
var keySights = []byte("camera_sightings")

func encodeSights(m map[string]sighting) ([]byte, error) {
	out := make(map[string]storedSighting, len(m))
	for cam, sg := range m {
		out[cam] = storedSighting{At: sg.at.UTC(), Bearing: sg.bearing}
	}
	return json.Marshal(out)
}

// loadSights reads the cameras' latest bearings into c: only those of
// cameras still declared with a location, with a bearing that makes sense.
// A damaged record is ignored (logged): it costs a triangulation, not an
// alarm.
func (c *cameras) loadSights(s *store, log *slog.Logger) {
	var b []byte
	_ = s.db.View(func(tx *bolt.Tx) error {
		b = slices.Clone(tx.Bucket(bucketMeta).Get(keySights))
		return nil
	})
	if len(b) == 0 {
		return
	}
	var m map[string]storedSighting
	if err := json.Unmarshal(b, &m); err != nil {
		log.Warn("cannot read the cameras' last bearings; triangulation waits for a fresh bearing from each camera", "err", err)
		return
	}
	for cam, sg := range m {
		if _, ok := c.locs[cam]; !ok || sg.At.IsZero() || !(sg.Bearing >= 0 && sg.Bearing < 360) {
			continue
		}
		c.sights[cam] = sighting{at: sg.At, bearing: sg.Bearing}
	}
}

func newCameras(opts Options) *cameras {
	c := &cameras{locs: map[string]geo.Point{}, window: opts.TriangulateWindow, maxAge: opts.MaxEventAge,
		sights: map[string]sighting{}}
	if c.window <= 0 {
		c.window = DefaultTriangulateWindow
	}
	if c.maxAge <= 0 {
		c.maxAge = DefaultMaxEventAge
	}
	for _, d := range opts.Devices {
		if d.Location != nil && d.Location.Valid() {
			c.locs[d.ID] = *d.Location
		}
	}
	return c
}

// trackPoint is the point of r's track of an alert at point: for event
// rules always pointEvent (alerts stored before incidents have the event
// type as their point).
func (r *rule) trackPoint(point string) string {
	if r.kind == condEvent {
		return pointEvent
	}
	return point
}

// takesEvent reports whether r is an event rule that takes sample s.
func (r *rule) takesEvent(s *sample) bool {
	return r.kind == condEvent && r.matches(s.kind, s.device, s.point) && r.eventMatches(s.point, s.v)
}

// event evaluates a camera event against the event rules. d is nil for a
// device past the cap on learnt devices.
func (e *Engine) event(d *devState, s *sample, now time.Time) {
	c := e.cam
	ev := s.ev
	if ev == nil {
		ev = &eventInfo{}
	}
	if ev.id != "" {
		if !c.seen.add(seenKey(s.device, ev.id)) {
			// A retained message, or one the broker redelivers: it was
			// judged when it first came.
			e.log.Info("camera event already seen: ignored", "camera", s.device, "event_id", ev.id)
			return
		}
		e.cs.seen = &c.seen
	}
	// The first event rule (in configuration order) that takes the event
	// is the one it raises or escalates an incident under.
	var r *rule
	for _, x := range e.rules {
		if x.takesEvent(s) {
			r = x
			break
		}
	}
	if r == nil {
		return
	}
	data := CameraEvent{ImageURL: ev.imageURL, EventID: ev.id}
	// The MQTT source places an event a fraction of a millisecond after its
	// ts, to keep events of one instant apart in InfluxDB: cut to the
	// millisecond, the time is the payload's.
	at := s.at.Truncate(time.Millisecond)
	data.EventTime = &at
	if late := now.Sub(s.at); late > c.maxAge {
		data.LateS = int64(late.Round(time.Second) / time.Second)
	}
	if ev.hasB {
		b := ev.bearing
		data.BearingDeg = &b
	}
	if ev.hasD {
		dist := ev.distance
		data.DistanceM = &dist
	}
	data.Location = e.locate(s.device, ev, s.at)

	inc := e.incident(s.device)
	switch {
	case inc == nil: // a new incident
		t := e.track(trackKey{r.idx, s.device, pointEvent}, d)
		if t.kind == "" {
			t.kind = s.kind
		}
		t.cond = condState{Level: 0, Target: 0}
		t.evType, t.value, t.ev = s.point, s.v, &data
		e.transition(r, t, 0, now)
		if t.alert != nil {
			t.alert.AutoResolveAt = now.Add(r.autoResolve)
		}
	case typeRank(s.point) > typeRank(inc.evType): // worse: the level rises
		t := inc
		if e.rules[inc.key.rule] != r {
			t = e.moveIncident(inc, r, d)
		}
		t.cond = condState{Level: 0, Target: 0}
		t.evType, t.value, t.ev = s.point, s.v, &data
		e.transition(r, t, 0, now) // alert.changed
		if data.LateS == 0 && t.alert != nil {
			t.alert.AutoResolveAt = now.Add(r.autoResolve)
		}
	default: // no worse: it keeps the incident open and updates what it says
		a := inc.alert
		a.Latched = false // a latched incident (close: manual) is active again
		if data.LateS == 0 {
			a.AutoResolveAt = now.Add(e.rules[inc.key.rule].autoResolve)
		}
		if s.point == inc.evType {
			a.Value = max(a.Value, s.v)
		}
		if a.EventTime == nil || !s.at.Before(*a.EventTime) {
			data.update(&a.CameraEvent)
		}
		e.markDirty(a)
	}
}

// incident returns the track of the camera's open incident: its firing
// event alert (of the worst level, should there be several, as alerts
// stored before incidents may be), or nil.
func (e *Engine) incident(camera string) *track {
	var inc *track
	for _, r := range e.rules {
		if r.kind != condEvent {
			continue
		}
		t := e.tracks[trackKey{r.idx, camera, pointEvent}]
		if t == nil || t.alert == nil || t.alert.Status != StatusFiring {
			continue
		}
		if inc == nil || typeRank(t.evType) > typeRank(inc.evType) {
			inc = t
		}
	}
	return inc
}

// moveIncident hands an open incident to rule r, whose event is worse
// than the incident's level (a thermal-hotspot incident that sees smoke
// becomes a forest-fire one): the same occurrence, id and start, now under
// r's rule name, key and severity. It returns r's track holding it.
func (e *Engine) moveIncident(inc *track, r *rule, d *devState) *track {
	a := inc.alert
	from := a.Rule
	t := e.track(trackKey{r.idx, a.Device, pointEvent}, d)
	if t.kind == "" {
		t.kind = inc.kind
	}
	inc.alert, inc.cond, inc.evType = nil, normalState, ""
	if d == nil {
		delete(e.tracks, inc.key) // an untracked device's: nothing to keep
	}
	a.Rule, a.Key = r.name, AlertKey(r.name, a.Device, pointEvent)
	t.alert = a
	e.log.Info("camera incident goes to the rule of its worse event", "alert", a.ID, "camera", a.Device,
		"from", from, "to", r.name)
	return t
}

// update takes the newer event c into an alert's: all of it, except that
// an event without a bearing leaves the bearing, distance and location of
// the one before.
func (c *CameraEvent) update(into *CameraEvent) {
	n := *c
	if n.BearingDeg == nil {
		n.BearingDeg, n.DistanceM, n.Location = into.BearingDeg, into.DistanceM, into.Location
	}
	*into = n
}

// eventOutcome gives a camera alert that fires or changes the event that
// made it do so.
func (t *track) eventOutcome(a *Alert) {
	if t.ev != nil {
		t.ev.update(&a.CameraEvent)
		t.ev = nil
	}
}

// locate estimates where the fire that camera cam sees is: the
// intersection with another located camera's bearing within the window
// (the nearest in time), else the camera's bearing and distance; nil when
// neither can be had.
func (e *Engine) locate(cam string, ev *eventInfo, at time.Time) *FireLocation {
	c := e.cam
	here, ok := c.locs[cam]
	if !ok || !ev.hasB {
		return nil
	}
	var (
		best    *FireLocation
		bestGap time.Duration
		other   string
	)
	for id, sg := range c.sights {
		gap := at.Sub(sg.at)
		if gap < 0 {
			gap = -gap
		}
		if id == cam || gap > c.window {
			continue
		}
		if best != nil && (gap > bestGap || gap == bestGap && id > other) {
			continue
		}
		there := c.locs[id]
		p, err := geo.Intersect(here, ev.bearing, there, sg.bearing, geo.DefaultMinCrossing)
		if err == nil && (geo.Distance(here, p) > maxSightRange || geo.Distance(there, p) > maxSightRange) {
			err = errors.New("the lines of sight meet beyond what a camera can see")
		}
		if err != nil {
			e.log.Info("cannot triangulate: the camera's own bearing and distance locate the fire if it gives one",
				"camera", cam, "bearing", ev.bearing, "other", id, "other_bearing", sg.bearing, "reason", err.Error())
			continue
		}
		cams := []string{id, cam}
		slices.Sort(cams)
		best, bestGap, other = &FireLocation{Lat: p.Lat, Lon: p.Lon, Method: MethodTriangulated, Cameras: cams}, gap, id
	}
	if prev, ok := c.sights[cam]; !ok || !at.Before(prev.at) {
		c.sights[cam] = sighting{at: at, bearing: ev.bearing}
		e.cs.sights = c.sights
	}
	if best != nil {
		return best
	}
	if !ev.hasD {
		return nil
	}
	p := geo.Destination(here, ev.bearing, ev.distance)
	return &FireLocation{Lat: p.Lat, Lon: p.Lon, Method: MethodRange}
}

// seenKey identifies an event: FNV-1a over camera and event id.
func seenKey(camera, id string) uint64 {
	h := uint64(14695981039346656037)
	for _, s := range [...]string{camera, "\x00", id} {
		for i := range len(s) {
			h ^= uint64(s[i])
			h *= 1099511628211
		}
	}
	return h
}

// seenSet is the ids of the last maxSeenEvents camera events, so that a
// retained or redelivered event is recognised, also after a restart (it is
// stored with the alerts).
type seenSet struct {
	ring []uint64 // oldest first once next wraps
	next int
	set  map[uint64]struct{}
}

// add records k and reports whether it is new.
func (s *seenSet) add(k uint64) bool {
	if s.set == nil {
		s.set = map[uint64]struct{}{}
	}
	if _, ok := s.set[k]; ok {
		return false
	}
	s.set[k] = struct{}{}
	if len(s.ring) < maxSeenEvents {
		s.ring = append(s.ring, k)
		return true
	}
	delete(s.set, s.ring[s.next])
	s.ring[s.next] = k
	s.next = (s.next + 1) % len(s.ring)
	return true
}

// encode writes the ids oldest first, 8 bytes each.
func (s *seenSet) encode() []byte {
	b := make([]byte, 0, 8*len(s.ring))
	for i := range s.ring {
		b = binary.BigEndian.AppendUint64(b, s.ring[(s.next+i)%len(s.ring)])
	}
	return b
}

// decode adds what encode wrote.
func (s *seenSet) decode(b []byte) {
	for ; len(b) >= 8; b = b[8:] {
		s.add(binary.BigEndian.Uint64(b))
	}
}

// keySeen is the meta key of the seen camera event ids.
var keySeen = []byte("camera_events_seen")

// loadSeen reads the seen camera event ids.
func (s *store) loadSeen() []byte {
	var out []byte
	_ = s.db.View(func(tx *bolt.Tx) error {
		out = slices.Clone(tx.Bucket(bucketMeta).Get(keySeen))
		return nil
	})
	return out
}

// Messages of camera alerts.

// writeEvent writes a camera alert: what was seen, where, and how late.
func writeEvent(b *strings.Builder, zh bool, a *Alert, dev, lvl string) {
	conf := fmtFixed(a.Value, 2)
	if zh {
		b.WriteString(dev + " 检测到" + lvl + "，置信度 " + conf)
	} else {
		b.WriteString(dev + " detected " + lvl + ", confidence " + conf)
	}
	ev := &a.CameraEvent
	if ev.BearingDeg != nil {
		if zh {
			b.WriteString("，方位 " + fmtNum(*ev.BearingDeg) + "°")
		} else {
			b.WriteString(", bearing " + fmtNum(*ev.BearingDeg) + "°")
		}
	}
	if ev.DistanceM != nil && (ev.Location == nil || ev.Location.Method == MethodRange) {
		if zh {
			b.WriteString("，约 " + fmtDistance(*ev.DistanceM))
		} else {
			b.WriteString(", about " + fmtDistance(*ev.DistanceM))
		}
	}
	if l := ev.Location; l != nil {
		switch {
		case zh && l.Method == MethodTriangulated:
			b.WriteString("，" + fmtLatLon(zh, l.Lat, l.Lon) + "（" + strings.Join(l.Cameras, "、") + " 交会定位）")
		case zh:
			b.WriteString("，" + fmtLatLon(zh, l.Lat, l.Lon) + "（按方位和距离估算）")
		case l.Method == MethodTriangulated:
			b.WriteString(", at " + fmtLatLon(zh, l.Lat, l.Lon) + " (triangulated from " + strings.Join(l.Cameras, " and ") + ")")
		default:
			b.WriteString(", at " + fmtLatLon(zh, l.Lat, l.Lon) + " (from bearing and distance)")
		}
	}
	if ev.LateS > 0 {
		late := time.Duration(ev.LateS) * time.Second
		if late >= time.Minute {
			late = late.Round(time.Minute)
		}
		if zh {
			b.WriteString("（延迟 " + fmtDur(zh, late) + "到达）")
		} else {
			b.WriteString(" (arrived " + fmtDur(zh, late) + " late)")
		}
	}
}

// writeEventEnded writes the end of a camera incident: no new detection
// for auto_resolve. It never says the fire is out: only people on site
// can say that.
func writeEventEnded(b *strings.Builder, zh bool, r *rule, dev, lvl string) {
	if zh {
		b.WriteString(dev + " " + lvl + "：" + fmtDur(zh, r.autoResolve) + "无新的检测，告警自动结束，请以现场核实为准")
	} else {
		b.WriteString(dev + " " + lvl + ": no new detection for " + fmtDur(zh, r.autoResolve) + "; alert closed automatically, confirm on site")
	}
}

// fmtDistance writes metres for people: "800 m", "1.8 km".
func fmtDistance(m float64) string {
	if m < 1000 {
		return fmtFixed(math.Round(m), 0) + " m"
	}
	return fmtFixed(m/1000, 1) + " km"
}

// fmtLatLon writes a position to 4 decimals (about 10 m):
// "北纬 25.0000° 东经 118.0099°", "25.0000°N 118.0099°E".
func fmtLatLon(zh bool, lat, lon float64) string {
	ns, ew := "N", "E"
	zns, zew := "北纬", "东经"
	if lat < 0 {
		ns, zns = "S", "南纬"
	}
	if lon < 0 {
		ew, zew = "W", "西经"
	}
	la, lo := fmtFixed(math.Abs(lat), 4), fmtFixed(math.Abs(lon), 4)
	if zh {
		return zns + " " + la + "° " + zew + " " + lo + "°"
	}
	return la + "°" + ns + " " + lo + "°" + ew
}

// fmtFixed writes v with n decimals.
func fmtFixed(v float64, n int) string { return strconv.FormatFloat(v, 'f', n, 64) }
