package mqtt

import (
	"time"
	"unicode/utf8"

	"github.com/hazardgw/hazardgw/gateway"
)

// A reason says why a payload was rejected; it is the `reason` label of
// hazardgw_mqtt_rejected_total.
type reason string

// Rejection reasons.
const (
	reasonTooLarge     reason = "too_large"     // payload above MaxPayload
	reasonEmpty        reason = "empty"         // no bytes, or only white space
	reasonInvalidJSON  reason = "invalid_json"  // not JSON (truncated, trailing garbage, too deeply nested)
	reasonInvalidUTF8  reason = "invalid_utf8"  // bytes or \u escapes that are not UTF-8 text
	reasonWrongType    reason = "wrong_type"    // a member of the wrong JSON type, or a document that is not an object
	reasonOutOfRange   reason = "out_of_range"  // a value outside its domain (confidence 7, negative count, NaN, bearing 360)
	reasonMissingField reason = "missing_field" // a required member is absent
	reasonBadTimestamp reason = "bad_timestamp" // ts unparsable
	reasonUnknownType  reason = "unknown_type"  // camera event type not smoke, fire or hotspot
	reasonUnknownDir   reason = "unknown_direction"
	reasonUnknownTopic reason = "unknown_topic" // matches no subscription's template
	reasonInvalidTopic reason = "invalid_topic" // a {name} level that cannot be a tag value (control characters, over 256 bytes)
	reasonOverload     reason = "overload"      // QoS 0 message dropped because the workers were saturated
)

// allReasons lists every reason, so that each series exists from the start.
var allReasons = []reason{
	reasonTooLarge, reasonEmpty, reasonInvalidJSON, reasonInvalidUTF8, reasonWrongType,
	reasonOutOfRange, reasonMissingField, reasonBadTimestamp,
	reasonUnknownType, reasonUnknownDir, reasonUnknownTopic, reasonInvalidTopic, reasonOverload,
}

// MaxPayload is the largest payload decoded; larger ones are
// rejected as too_large before any parsing.
const MaxPayload = 64 << 10

// MaxFuture is how far ahead of the gateway's clock a payload timestamp may
// be. Further is a device clock gone wrong (or the gateway's).
const MaxFuture = time.Hour

// minTime is the earliest plausible payload timestamp: devices without a
// real-time clock start in 1970.
//
// A message whose timestamp is implausible is not rejected: a fire camera
// with a wrong clock still sees fire. It is stored at the arrival time,
// counted, and logged (see plausible), so its alarm still fires while its
// point lands where dashboards look.
var minTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// A reject is a decoder's verdict on a bad payload: the reason and, for
// the log, the member it concerns. The zero value means "accepted".
type reject struct {
	reason reason
	field  string
}

func (r reject) ok() bool { return r.reason == "" }

// env is what a decoder needs besides the payload. One env belongs to one
// worker; it is not safe for concurrent use.
type env struct {
	site      string
	now       time.Time     // arrival time
	topicTags []gateway.Tag // from the subscription's template
	ids       *interner
	sc        scanner
	vals      []value // json mapping: extracted values by slot
	vbuf      []byte  // json mapping: their bytes
}

// decoded is one decoded payload.
type decoded struct {
	point   gateway.Point
	device  string // the device this message is from ("" if unknown)
	arrival bool   // stamped with the arrival time (no timestamp in the payload, or an implausible one)
	// badClock is the implausible payload timestamp replaced by the arrival
	// time (zero if none).
	badClock time.Time
	// heartbeat says the point is a device_status message's; online and
	// fault are what it said.
	heartbeat, online, fault bool
}

// A decoder turns one payload into a point. Tags and fields are appended to
// out.point.Tags[:0] and out.point.Fields[:0], so a caller may preset them
// with spare capacity to decode without allocating. Strings in the point
// never alias payload.
type decoder interface {
	decode(e *env, payload []byte, out *decoded) reject
	kind() string // device kind for liveness: the measurement
}

// precheck applies the checks common to every format.
func precheck(payload []byte) reject {
	if len(payload) > MaxPayload {
		return reject{reason: reasonTooLarge}
	}
	blank := true
	for _, c := range payload {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			blank = false
			break
		}
	}
	if blank {
		return reject{reason: reasonEmpty}
	}
	if !utf8.Valid(payload) {
		return reject{reason: reasonInvalidUTF8}
	}
	return reject{}
}

// eventStamp is an event payload's ts.
type eventStamp struct {
	t      time.Time
	digits int       // fractional-second digits the payload wrote (0–9)
	set    bool      // the payload had a plausible ts
	bad    time.Time // the payload's ts if it was implausible
}

// parseStamp parses an RFC 3339 timestamp and checks it is plausible.
func parseStamp(b []byte, now time.Time) (eventStamp, reason) {
	t, err := time.Parse(time.RFC3339Nano, bstr(b))
	if err != nil {
		return eventStamp{}, reasonBadTimestamp
	}
	if !plausible(t, now) {
		return eventStamp{bad: t}, ""
	}
	st := eventStamp{t: t, set: true}
	// RFC 3339 fixes "2006-01-02T15:04:05" at 19 bytes; a fraction follows.
	if len(b) > 19 && (b[19] == '.' || b[19] == ',') {
		for i := 20; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			st.digits++
		}
	}
	return st, ""
}

// sourceID is an event's camera or checkpoint id: the payload's (member
// field), else the topic's tag.
func sourceID(e *env, id, tag, field string) (string, reject) {
	if id != "" {
		return id, reject{}
	}
	if id = topicTag(e.topicTags, tag); id == "" {
		return "", reject{reason: reasonMissingField, field: field}
	}
	if !validID(id) {
		return "", reject{reason: reasonOutOfRange, field: field}
	}
	return id, reject{}
}

// finishEvent completes out as an event point with the given fields:
// tagged with the site, the event's source and its kind, then the topic
// tags; timed by eventTime from the payload's ts and the event's identity
// hash, or at arrival when the payload had no plausible ts.
func finishEvent(e *env, out *decoded, measurement string, source, kind gateway.Tag, fields []gateway.Field, st eventStamp, identity uint64) {
	ts := e.now
	if st.set {
		ts = eventTime(st.t, st.digits, identity)
	} else {
		out.arrival, out.badClock = true, st.bad
	}
	tags := append(out.point.Tags[:0], gateway.Tag{Key: gateway.TagSite, Value: e.site}, source, kind)
	tags = addTopicTags(tags, e.topicTags)
	out.point = gateway.Point{Measurement: measurement, Tags: tags, Fields: fields, Time: ts}
	out.device = source.Value
}

// eventTime is an event's point time: its payload timestamp plus a
// deterministic offset inside the digits the payload left unwritten and
// under a millisecond (under a millisecond for "09:00:05Z" and for
// "09:00:05.123Z", under 100 µs for "09:00:05.1234Z"): cut to the
// millisecond, the time is the payload's ts, which alarms quote.
// Without the offset, two passages through one checkpoint in the same direction
// and second (or two smoke events of one camera in the same millisecond)
// would be one series at one timestamp, and InfluxDB would keep only the
// last. The offset is a hash of the event's identity (event_id, or the
// whole payload when there is none), so a redelivered event lands on the
// same nanosecond and overwrites itself, as a replay should;
// truncated to what the payload wrote, the time is exactly its ts. A
// timestamp written to the nanosecond is kept as is.
func eventTime(t time.Time, digits int, identity uint64) time.Time {
	unit := uint64(time.Second)
	for range digits {
		unit /= 10
	}
	unit = min(unit, uint64(time.Millisecond))
	if unit <= 1 {
		return t
	}
	return t.Add(time.Duration(identity % unit))
}

// fnv64a is FNV-1a, for eventTime's identity hash.
func fnv64a[T string | []byte](b T) uint64 {
	h := uint64(14695981039346656037)
	for i := range len(b) {
		h ^= uint64(b[i])
		h *= 1099511628211
	}
	return h
}

// plausible is the check of any payload timestamp against the arrival
// time now; see minTime for what happens to one that fails it.
func plausible(t, now time.Time) bool {
	return !t.Before(minTime) && !t.After(now.Add(MaxFuture))
}

// validID reports whether s can name a device or be a tag value from a
// topic level: not empty, at most 256 bytes, no control characters (they
// would end a log line or a line-protocol tag).
func validID[T string | []byte](s T) bool {
	if len(s) == 0 || len(s) > 256 {
		return false
	}
	for i := range len(s) {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// addTopicTags appends the template's tags that the payload did not
// already set: the format's own tags and `site` win over topic levels.
func addTopicTags(tags, topic []gateway.Tag) []gateway.Tag {
next:
	for _, t := range topic {
		if t.Value == "" {
			continue
		}
		for _, have := range tags {
			if have.Key == t.Key {
				continue next
			}
		}
		tags = append(tags, t)
	}
	return tags
}

// topicTag returns the value of the template tag key, or "".
func topicTag(tags []gateway.Tag, key string) string {
	for _, t := range tags {
		if t.Key == key {
			return t.Value
		}
	}
	return ""
}

// interner keeps one copy of each device id, so that steady traffic from
// known devices allocates no id strings. It stops growing at a bound so
// that a stream of garbage ids cannot grow memory.
type interner struct {
	m map[string]string
}

const maxInterned = 4096

func (n *interner) get(b []byte) string {
	if s, ok := n.m[bstr(b)]; ok {
		return s
	}
	s := string(b)
	if n.m == nil {
		n.m = make(map[string]string)
	}
	if len(n.m) < maxInterned {
		n.m[s] = s
	}
	return s
}

// rejectAfter rejects for r once the rest of the object (after member n)
// is known to be valid JSON: a truncated payload is invalid_json, whatever
// its first members said.
func (s *scanner) rejectAfter(n int, r reason, field string) reject {
	for n++; ; n++ {
		if _, more := s.key(n); !more || !s.skip() {
			break
		}
	}
	if s.err != "" || !s.end() {
		return reject{reason: s.err}
	}
	return reject{reason: r, field: field}
}

// ---- camera_event ----

// cameraDecoder decodes the built-in camera events into fire_detection points.
type cameraDecoder struct{}

// Event types of the camera format; tag values are these constants, never allocated.
var cameraTypes = [...]string{"smoke", "fire", "hotspot"}

func (cameraDecoder) kind() string { return measurementFire }

const (
	measurementFire     = "fire_detection"
	measurementPassage  = "checkpoint_passage"
	tagCamera           = "camera"
	tagCheckpoint       = "checkpoint"
	tagType             = "type"
	tagDirection        = "direction"
	fieldConfidence     = gateway.FieldConfidence
	fieldBearing        = gateway.FieldBearing
	fieldDistance       = gateway.FieldDistance
	fieldTemperature    = "temperature_c"
	fieldEventID        = gateway.FieldEventID
	fieldImageURL       = gateway.FieldImageURL
	fieldPeople         = "people"
	fieldVehicles       = "vehicles"
	fieldPlate          = "plate"
	fieldVoicePlayed    = "voice_played"
	absoluteZeroCelsius = -273.15
)

func (cameraDecoder) decode(e *env, payload []byte, out *decoded) reject {
	if r := precheck(payload); !r.ok() {
		return r
	}
	s := &e.sc
	s.reset(payload)
	if !s.beginObject() {
		return reject{reason: s.err}
	}
	var (
		camera, typ         string
		stamp               eventStamp
		haveConf            bool
		conf                float64
		bearing, dist, temp float64
		haveB, haveD, haveT bool
		eventID, imageURL   string
		field               string
		fail                reason
		fields              = out.point.Fields[:0]
		okv                 bool
		v                   []byte
		f                   float64
		n                   int
	)
	for ; ; n++ {
		k, more := s.key(n)
		if !more {
			break
		}
		if s.null() {
			continue // null is absent
		}
		field = ""
		switch bstr(k) {
		case "camera_id":
			field = "camera_id"
			if v, okv = s.str(); okv {
				if !validID(v) {
					fail = reasonOutOfRange
				} else {
					camera = e.ids.get(v)
				}
			}
		case "type":
			field = "type"
			if v, okv = s.str(); okv {
				typ = ""
				for _, t := range cameraTypes {
					if bstr(v) == t {
						typ = t
					}
				}
				if typ == "" {
					fail = reasonUnknownType
				}
			}
		case "ts":
			field = "ts"
			if v, okv = s.str(); okv {
				stamp, fail = parseStamp(v, e.now)
			}
		case "confidence":
			field = fieldConfidence
			if f, okv = s.float(); okv {
				if !(f >= 0 && f <= 1) {
					fail = reasonOutOfRange
				}
				conf, haveConf = f, true
			}
		case "bearing_deg":
			field = fieldBearing
			if f, okv = s.float(); okv {
				if !(f >= 0 && f < 360) {
					fail = reasonOutOfRange
				}
				bearing, haveB = f, true
			}
		case "distance_m":
			field = fieldDistance
			if f, okv = s.float(); okv {
				if !(f >= 0) {
					fail = reasonOutOfRange
				}
				dist, haveD = f, true
			}
		case "temperature_c":
			field = fieldTemperature
			if f, okv = s.float(); okv {
				if !(f >= absoluteZeroCelsius) {
					fail = reasonOutOfRange
				}
				temp, haveT = f, true
			}
		case "event_id":
			field = fieldEventID
			if v, okv = s.str(); okv {
				eventID = string(v)
			}
		case "image_url":
			field = fieldImageURL
			if v, okv = s.str(); okv {
				imageURL = string(v)
			}
		default:
			okv = s.skip()
		}
		if !okv {
			return reject{reason: s.err, field: field}
		}
		if fail != "" {
			return s.rejectAfter(n, fail, field)
		}
	}
	if s.err != "" || !s.end() {
		return reject{reason: s.err}
	}
	camera, r := sourceID(e, camera, tagCamera, "camera_id")
	if !r.ok() {
		return r
	}
	if typ == "" {
		return reject{reason: reasonMissingField, field: "type"}
	}
	if !haveConf {
		return reject{reason: reasonMissingField, field: fieldConfidence}
	}
	fields = append(fields, gateway.Float(fieldConfidence, conf))
	if haveB {
		fields = append(fields, gateway.Float(fieldBearing, bearing))
	}
	if haveD {
		fields = append(fields, gateway.Float(fieldDistance, dist))
	}
	if haveT {
		fields = append(fields, gateway.Float(fieldTemperature, temp))
	}
	if eventID != "" {
		fields = append(fields, gateway.String(fieldEventID, eventID))
	}
	if imageURL != "" {
		fields = append(fields, gateway.String(fieldImageURL, imageURL))
	}
	var identity uint64
	if stamp.set {
		if eventID != "" {
			identity = fnv64a(eventID)
		} else {
			identity = fnv64a(payload)
		}
	}
	finishEvent(e, out, measurementFire, gateway.Tag{Key: tagCamera, Value: camera}, gateway.Tag{Key: tagType, Value: typ},
		fields, stamp, identity)
	return reject{}
}

// ---- checkpoint_passage ----

// passageDecoder decodes the built-in checkpoint passages.
type passageDecoder struct{}

func (passageDecoder) kind() string { return measurementPassage }

func (passageDecoder) decode(e *env, payload []byte, out *decoded) reject {
	if r := precheck(payload); !r.ok() {
		return r
	}
	s := &e.sc
	s.reset(payload)
	if !s.beginObject() {
		return reject{reason: s.err}
	}
	var (
		checkpoint, dir  string
		stamp            eventStamp
		identity         uint64
		haveID           bool
		people, vehicles int64
		haveP, haveV     bool
		plate            string
		havePlate        bool
		voice, haveVoice bool
		field            string
		fail             reason
		fields           = out.point.Fields[:0]
		okv              bool
		v                []byte
		i                int64
		n                int
	)
	for ; ; n++ {
		k, more := s.key(n)
		if !more {
			break
		}
		if s.null() {
			continue
		}
		field = ""
		switch bstr(k) {
		case "checkpoint_id":
			field = "checkpoint_id"
			if v, okv = s.str(); okv {
				if !validID(v) {
					fail = reasonOutOfRange
				} else {
					checkpoint = e.ids.get(v)
				}
			}
		case "direction":
			field = tagDirection
			if v, okv = s.str(); okv {
				switch bstr(v) {
				case "in":
					dir = "in"
				case "out":
					dir = "out"
				default:
					fail = reasonUnknownDir
				}
			}
		case "ts":
			field = "ts"
			if v, okv = s.str(); okv {
				stamp, fail = parseStamp(v, e.now)
			}
		case "event_id":
			field = "event_id"
			if v, okv = s.str(); okv && len(v) > 0 {
				identity, haveID = fnv64a(v), true
			}
		case "people":
			field = fieldPeople
			if i, okv = s.int(); okv {
				if i < 0 {
					fail = reasonOutOfRange
				}
				people, haveP = i, true
			}
		case "vehicles":
			field = fieldVehicles
			if i, okv = s.int(); okv {
				if i < 0 {
					fail = reasonOutOfRange
				}
				vehicles, haveV = i, true
			}
		case "plate":
			field = fieldPlate
			if v, okv = s.str(); okv {
				plate, havePlate = string(v), len(v) > 0
			}
		case "voice_played":
			field = fieldVoicePlayed
			voice, okv = s.bool()
			haveVoice = okv
		default:
			okv = s.skip()
		}
		if !okv {
			return reject{reason: s.err, field: field}
		}
		if fail != "" {
			return s.rejectAfter(n, fail, field)
		}
	}
	if s.err != "" || !s.end() {
		return reject{reason: s.err}
	}
	checkpoint, r := sourceID(e, checkpoint, tagCheckpoint, "checkpoint_id")
	if !r.ok() {
		return r
	}
	if dir == "" {
		return reject{reason: reasonMissingField, field: tagDirection}
	}
	if !haveP && !haveV && !havePlate && !haveVoice {
		return reject{reason: reasonMissingField, field: "people"}
	}
	if stamp.set && !haveID {
		identity = fnv64a(payload)
	}
	if haveP {
		fields = append(fields, gateway.Int(fieldPeople, people))
	}
	if haveV {
		fields = append(fields, gateway.Int(fieldVehicles, vehicles))
	}
	if havePlate {
		fields = append(fields, gateway.String(fieldPlate, plate))
	}
	if haveVoice {
		fields = append(fields, gateway.Bool(fieldVoicePlayed, voice))
	}
	finishEvent(e, out, measurementPassage, gateway.Tag{Key: tagCheckpoint, Value: checkpoint}, gateway.Tag{Key: tagDirection, Value: dir},
		fields, stamp, identity)
	return reject{}
}
