package mqtt

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/gateway"
)

var testNow = time.Date(2026, 11, 22, 9, 0, 30, 0, time.UTC)

func newEnv(topicTags ...gateway.Tag) *env {
	return &env{site: "qz-petro-01", now: testNow, topicTags: topicTags, ids: &interner{}}
}

// line renders a decoded point as line protocol, the form the spool keeps.
func line(p gateway.Point) string {
	p.Tags = slices.Clone(p.Tags)
	return string(gateway.AppendLine(nil, &p))
}

var tsMember = regexp.MustCompile(`"ts" *: *"[0-9T:-]{19}(?:[.,]([0-9]*))?`)

// eventLine is line for an event decoded from payload, with its time cut
// back to the precision the payload's ts stated. It fails the test if the
// decoder moved the time outside that precision (see eventTime).
func eventLine(t *testing.T, p gateway.Point, payload string, arrival bool) string {
	t.Helper()
	m := tsMember.FindStringSubmatch(payload)
	if m == nil || arrival {
		return line(p)
	}
	unit := time.Second
	for range len(m[1]) {
		unit /= 10
	}
	if unit > 0 {
		p.Time = p.Time.Truncate(unit)
	}
	return line(p)
}

const goodCamera = `{"event_id":"CAM-07-000123","camera_id":"CAM-07","ts":"2026-11-22T09:00:00.123Z",
 "type":"smoke","confidence":0.87,"bearing_deg":132.5,"distance_m":1800,
 "temperature_c":312.0,"image_url":"http://10.0.0.7/snap/000123.jpg"}`

const goodPassage = `{"event_id":"KK-03-000045","checkpoint_id":"KK-03","ts":"2026-11-22T09:00:05Z",
 "direction":"in","people":2,"vehicles":1,"plate":"闽C12345","voice_played":true}`

func TestDecodeCamera(t *testing.T) {
	zone := gateway.Tag{Key: "zone", Value: "north"}
	tests := []struct {
		name     string
		payload  string
		topic    []gateway.Tag
		want     string // line protocol, or "" when rejected
		reason   reason
		arrival  bool
		badClock bool // arrival time because the payload's ts was implausible
	}{
		{name: "spec example", payload: goodCamera, topic: []gateway.Tag{zone},
			want: `fire_detection,camera=CAM-07,site=qz-petro-01,type=smoke,zone=north confidence=0.87,bearing_deg=132.5,distance_m=1800,temperature_c=312,event_id="CAM-07-000123",image_url="http://10.0.0.7/snap/000123.jpg" 1795338000123000000`},
		{name: "camera from topic", payload: `{"ts":"2026-11-22T09:00:00Z","type":"fire","confidence":1}`,
			topic: []gateway.Tag{{Key: "camera", Value: "CAM-02"}},
			want:  `fire_detection,camera=CAM-02,site=qz-petro-01,type=fire confidence=1 1795338000000000000`},
		{name: "payload camera wins over topic", payload: `{"camera_id":"CAM-01","ts":"2026-11-22T09:00:00Z","type":"hotspot","confidence":0}`,
			topic: []gateway.Tag{{Key: "camera", Value: "CAM-02"}, {Key: "type", Value: "x"}},
			want:  `fire_detection,camera=CAM-01,site=qz-petro-01,type=hotspot confidence=0 1795338000000000000`},
		{name: "no ts: arrival time", payload: `{"camera_id":"C","type":"smoke","confidence":0.5}`, arrival: true,
			want: `fire_detection,camera=C,site=qz-petro-01,type=smoke confidence=0.5 1795338030000000000`},
		{name: "nulls are absent", payload: `{"camera_id":"C","type":"smoke","confidence":0.5,"bearing_deg":null,"ts":null}`, arrival: true,
			want: `fire_detection,camera=C,site=qz-petro-01,type=smoke confidence=0.5 1795338030000000000`},
		{name: "unknown members skipped", payload: `{"camera_id":"C","extra":{"a":[1,2,{"b":null}],"c":"\u00e9"},"type":"smoke","confidence":0.5,"ts":"2026-11-22T17:00:00+08:00"}`,
			want: `fire_detection,camera=C,site=qz-petro-01,type=smoke confidence=0.5 1795338000000000000`},
		{name: "escapes in strings", payload: `{"camera_id":"C\u002d1","type":"smoke","confidence":0.5,"event_id":"a\"b\\c\n","ts":"2026-11-22T09:00:00Z"}`,
			want: `fire_detection,camera=C-1,site=qz-petro-01,type=smoke confidence=0.5,event_id="a\"b\\c` + "\n" + `" 1795338000000000000`},
		{name: "site from topic ignored", payload: `{"camera_id":"C","type":"smoke","confidence":0.5,"ts":"2026-11-22T09:00:00Z"}`,
			topic: []gateway.Tag{{Key: "site", Value: "evil"}},
			want:  `fire_detection,camera=C,site=qz-petro-01,type=smoke confidence=0.5 1795338000000000000`},

		{name: "empty", payload: ``, reason: reasonEmpty},
		{name: "blank", payload: " \n\t", reason: reasonEmpty},
		{name: "truncated", payload: goodCamera[:40], reason: reasonInvalidJSON},
		{name: "truncated after bad value", payload: `{"confidence":7,"type":"smo`, reason: reasonInvalidJSON},
		{name: "trailing garbage", payload: goodCamera + `x`, reason: reasonInvalidJSON},
		{name: "two documents", payload: goodCamera + goodCamera, reason: reasonInvalidJSON},
		{name: "array", payload: `[1,2]`, reason: reasonWrongType},
		{name: "string document", payload: `"x"`, reason: reasonWrongType},
		{name: "not json", payload: `hello`, reason: reasonInvalidJSON},
		{name: "single quotes", payload: `{'type':'smoke'}`, reason: reasonInvalidJSON},
		{name: "trailing comma", payload: `{"camera_id":"C","type":"smoke","confidence":0.5,}`, reason: reasonInvalidJSON},
		{name: "deep nesting", payload: `{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, reason: reasonInvalidJSON},
		{name: "invalid utf8", payload: "{\"camera_id\":\"C\xff\",\"type\":\"smoke\",\"confidence\":0.5}", reason: reasonInvalidUTF8},
		{name: "lone surrogate", payload: `{"camera_id":"C\ud800","type":"smoke","confidence":0.5}`, reason: reasonInvalidUTF8},
		{name: "too large", payload: `{"camera_id":"` + strings.Repeat("a", MaxPayload) + `"}`, reason: reasonTooLarge},
		{name: "confidence string", payload: `{"camera_id":"C","type":"smoke","confidence":"0.5"}`, reason: reasonWrongType},
		{name: "confidence 7", payload: `{"camera_id":"C","type":"smoke","confidence":7}`, reason: reasonOutOfRange},
		{name: "confidence NaN", payload: `{"camera_id":"C","type":"smoke","confidence":NaN}`, reason: reasonOutOfRange},
		{name: "confidence -Infinity", payload: `{"camera_id":"C","type":"smoke","confidence":-Infinity}`, reason: reasonOutOfRange},
		{name: "confidence overflow", payload: `{"camera_id":"C","type":"smoke","confidence":1e999}`, reason: reasonOutOfRange},
		{name: "bearing 360", payload: `{"camera_id":"C","type":"smoke","confidence":0.5,"bearing_deg":360}`, reason: reasonOutOfRange},
		{name: "negative distance", payload: `{"camera_id":"C","type":"smoke","confidence":0.5,"distance_m":-1}`, reason: reasonOutOfRange},
		{name: "below absolute zero", payload: `{"camera_id":"C","type":"smoke","confidence":0.5,"temperature_c":-300}`, reason: reasonOutOfRange},
		{name: "unknown type", payload: `{"camera_id":"C","type":"flood","confidence":0.5}`, reason: reasonUnknownType},
		{name: "type number", payload: `{"camera_id":"C","type":3,"confidence":0.5}`, reason: reasonWrongType},
		{name: "type object", payload: `{"camera_id":"C","type":{"a":1},"confidence":0.5}`, reason: reasonWrongType},
		{name: "missing type", payload: `{"camera_id":"C","confidence":0.5}`, reason: reasonMissingField},
		{name: "missing confidence", payload: `{"camera_id":"C","type":"smoke"}`, reason: reasonMissingField},
		{name: "missing camera", payload: `{"type":"smoke","confidence":0.5}`, reason: reasonMissingField},
		{name: "control char in camera", payload: `{"camera_id":"C\u0007","type":"smoke","confidence":0.5}`, reason: reasonOutOfRange},
		{name: "bad ts", payload: `{"camera_id":"C","type":"smoke","confidence":0.5,"ts":"yesterday"}`, reason: reasonBadTimestamp},
		{name: "ts number", payload: `{"camera_id":"C","type":"smoke","confidence":0.5,"ts":1795338000}`, reason: reasonWrongType},
		// A wrong clock does not hide a fire: arrival time, flagged.
		{name: "ts 1970", payload: `{"camera_id":"C","type":"fire","confidence":0.9,"ts":"1970-01-01T00:00:05Z"}`, arrival: true, badClock: true,
			want: `fire_detection,camera=C,site=qz-petro-01,type=fire confidence=0.9 1795338030000000000`},
		{name: "ts future", payload: `{"camera_id":"C","type":"smoke","confidence":0.5,"ts":"2026-11-22T10:30:00Z"}`, arrival: true, badClock: true,
			want: `fire_detection,camera=C,site=qz-petro-01,type=smoke confidence=0.5 1795338030000000000`},
		{name: "nested garbage", payload: `{"camera_id":{"camera_id":{"camera_id":[]}},"type":"smoke","confidence":0.5}`, reason: reasonWrongType},
		{name: "bad escape", payload: `{"camera_id":"C\x","type":"smoke","confidence":0.5}`, reason: reasonInvalidJSON},
		{name: "raw newline in string", payload: "{\"camera_id\":\"C\n\",\"type\":\"smoke\",\"confidence\":0.5}", reason: reasonInvalidJSON},
		{name: "leading zero", payload: `{"camera_id":"C","type":"smoke","confidence":00.5}`, reason: reasonInvalidJSON},
		{name: "bare dot", payload: `{"camera_id":"C","type":"smoke","confidence":.5}`, reason: reasonInvalidJSON},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var d decoded
			r := cameraDecoder{}.decode(newEnv(tc.topic...), []byte(tc.payload), &d)
			if r.reason != tc.reason {
				t.Fatalf("reason = %q (field %q), want %q", r.reason, r.field, tc.reason)
			}
			if tc.want == "" {
				return
			}
			if got := eventLine(t, d.point, tc.payload, d.arrival); got != tc.want {
				t.Errorf("point\n got %s\nwant %s", got, tc.want)
			}
			if d.arrival != tc.arrival || d.badClock.IsZero() == tc.badClock {
				t.Errorf("arrival = %v, bad clock %v; want %v, %v", d.arrival, d.badClock, tc.arrival, tc.badClock)
			}
			if !d.point.Valid() {
				t.Errorf("decoded point is not valid")
			}
		})
	}
}

func TestDecodePassage(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		topic   []gateway.Tag
		want    string
		reason  reason
	}{
		{name: "spec example", payload: goodPassage, topic: []gateway.Tag{{Key: "site", Value: "x"}, {Key: "checkpoint", Value: "KK-99"}, {Key: "road", Value: "r1"}},
			want: `checkpoint_passage,checkpoint=KK-03,direction=in,road=r1,site=qz-petro-01 people=2i,vehicles=1i,plate="闽C12345",voice_played=true 1795338005000000000`},
		{name: "checkpoint from topic, counts only", payload: `{"direction":"out","people":0,"ts":"2026-11-22T09:00:05.5+08:00"}`,
			topic: []gateway.Tag{{Key: "checkpoint", Value: "KK-01"}},
			want:  `checkpoint_passage,checkpoint=KK-01,direction=out,site=qz-petro-01 people=0i 1795309205500000000`},
		{name: "escaped plate", payload: `{"checkpoint_id":"KK-1","direction":"in","plate":"\u95fdC12345","ts":"2026-11-22T09:00:05Z"}`,
			want: `checkpoint_passage,checkpoint=KK-1,direction=in,site=qz-petro-01 plate="闽C12345" 1795338005000000000`},

		{name: "unknown direction", payload: `{"checkpoint_id":"KK-1","direction":"up","people":1}`, reason: reasonUnknownDir},
		{name: "negative people", payload: `{"checkpoint_id":"KK-1","direction":"in","people":-1}`, reason: reasonOutOfRange},
		{name: "fractional vehicles", payload: `{"checkpoint_id":"KK-1","direction":"in","vehicles":1.5}`, reason: reasonWrongType},
		{name: "huge people", payload: `{"checkpoint_id":"KK-1","direction":"in","people":99999999999999999999}`, reason: reasonOutOfRange},
		{name: "people string", payload: `{"checkpoint_id":"KK-1","direction":"in","people":"2"}`, reason: reasonWrongType},
		{name: "voice string", payload: `{"checkpoint_id":"KK-1","direction":"in","voice_played":"yes"}`, reason: reasonWrongType},
		{name: "voice broken literal", payload: `{"checkpoint_id":"KK-1","direction":"in","voice_played":tru}`, reason: reasonInvalidJSON},
		{name: "no direction", payload: `{"checkpoint_id":"KK-1","people":1}`, reason: reasonMissingField},
		{name: "no counts", payload: `{"checkpoint_id":"KK-1","direction":"in"}`, reason: reasonMissingField},
		{name: "no checkpoint", payload: `{"direction":"in","people":1}`, reason: reasonMissingField},
		{name: "bad ts", payload: `{"checkpoint_id":"KK-1","direction":"in","people":1,"ts":"2026-13-01T00:00:00Z"}`, reason: reasonBadTimestamp},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var d decoded
			r := passageDecoder{}.decode(newEnv(tc.topic...), []byte(tc.payload), &d)
			if r.reason != tc.reason {
				t.Fatalf("reason = %q (field %q), want %q", r.reason, r.field, tc.reason)
			}
			if tc.want != "" {
				if got := eventLine(t, d.point, tc.payload, d.arrival); got != tc.want {
					t.Errorf("point\n got %s\nwant %s", got, tc.want)
				}
			}
		})
	}
}

func TestDecodeMapping(t *testing.T) {
	m := &JSONMapping{
		Measurement: "weather",
		Time:        "meta.t",
		TimeFormat:  "unix_ms",
		Device:      "meta.dev",
		Tags:        map[string]string{"zone": "meta.zone", "first": "list.0.name"},
		Fields: map[string]JSONField{
			"wind":  {Path: "data.wind"},
			"count": {Path: "data.n", Type: "int"},
			"ok":    {Path: "data.ok", Type: "bool"},
			"note":  {Path: "data.note", Type: "string"},
			"third": {Path: "list.2", Type: "float"},
		},
	}
	dec, err := compileMapping(m)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		payload  string
		topic    []gateway.Tag
		want     string
		reason   reason
		arrival  bool
		badClock bool
	}{
		{name: "all paths", payload: `{"meta":{"t":1795338000123,"dev":"WS-1","zone":3},"data":{"wind":4.5,"n":7,"ok":true,"note":"风"},"list":[{"name":"a"},1,2.5],"x":[{}]}`,
			topic: []gateway.Tag{{Key: "vendor", Value: "acme"}},
			want:  `weather,device=WS-1,first=a,site=qz-petro-01,vendor=acme,zone=3 count=7i,note="风",ok=true,third=2.5,wind=4.5 1795338000123000000`},
		{name: "int written as float", payload: `{"meta":{"t":"1795338000123","dev":7},"data":{"n":7.0}}`,
			want: `weather,device=7,site=qz-petro-01 count=7i 1795338000123000000`},
		{name: "device from topic, arrival time", payload: `{"data":{"wind":1}}`, arrival: true,
			topic: []gateway.Tag{{Key: "device", Value: "WS-9"}},
			want:  `weather,device=WS-9,site=qz-petro-01 wind=1 1795338030000000000`},
		{name: "scalar where object expected", payload: `{"meta":5,"data":{"wind":1}}`, topic: []gateway.Tag{{Key: "device", Value: "D"}}, arrival: true,
			want: `weather,device=D,site=qz-petro-01 wind=1 1795338030000000000`},

		{name: "no fields", payload: `{"meta":{"dev":"WS-1"},"data":{}}`, reason: reasonMissingField},
		{name: "no device", payload: `{"data":{"wind":1}}`, reason: reasonMissingField},
		{name: "wind string", payload: `{"meta":{"dev":"D"},"data":{"wind":"1"}}`, reason: reasonWrongType},
		{name: "count fractional", payload: `{"meta":{"dev":"D"},"data":{"n":1.5}}`, reason: reasonWrongType},
		{name: "ok number", payload: `{"meta":{"dev":"D"},"data":{"ok":1}}`, reason: reasonWrongType},
		{name: "tag object", payload: `{"meta":{"dev":"D","zone":{}},"data":{"wind":1}}`, reason: reasonWrongType},
		{name: "time string garbage", payload: `{"meta":{"dev":"D","t":"soon"},"data":{"wind":1}}`, reason: reasonBadTimestamp},
		{name: "time far future", payload: `{"meta":{"dev":"D","t":4102444800000},"data":{"wind":1}}`, arrival: true, badClock: true,
			want: `weather,device=D,site=qz-petro-01 wind=1 1795338030000000000`},
		{name: "time 1970", payload: `{"meta":{"dev":"D","t":5000},"data":{"wind":1}}`, arrival: true, badClock: true,
			want: `weather,device=D,site=qz-petro-01 wind=1 1795338030000000000`},
		{name: "time overflow", payload: `{"meta":{"dev":"D","t":1e300},"data":{"wind":1}}`, reason: reasonBadTimestamp},
		{name: "wind NaN", payload: `{"meta":{"dev":"D"},"data":{"wind":NaN}}`, reason: reasonOutOfRange},
		{name: "array document", payload: `[{"meta":{}}]`, reason: reasonWrongType},
		{name: "truncated", payload: `{"meta":{"dev":"D"},"data":{"wind":1}`, reason: reasonInvalidJSON},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var d decoded
			r := dec.decode(newEnv(tc.topic...), []byte(tc.payload), &d)
			if r.reason != tc.reason {
				t.Fatalf("reason = %q (field %q), want %q", r.reason, r.field, tc.reason)
			}
			if tc.want != "" {
				if got := line(d.point); got != tc.want {
					t.Errorf("point\n got %s\nwant %s", got, tc.want)
				}
				if d.arrival != tc.arrival || d.badClock.IsZero() == tc.badClock {
					t.Errorf("arrival = %v, bad clock %v; want %v, %v", d.arrival, d.badClock, tc.arrival, tc.badClock)
				}
			}
		})
	}
}

func TestMappingTimeFormats(t *testing.T) {
	want := time.Date(2026, 11, 22, 9, 0, 0, 500_000_000, time.UTC)
	for _, tc := range []struct{ format, value string }{
		{"", `"2026-11-22T09:00:00.5Z"`},
		{"rfc3339", `"2026-11-22T17:00:00.5+08:00"`},
		{"unix", `1795338000.5`},
		{"unix_ms", `1795338000500`},
		{"unix_us", `1795338000500000`},
		{"unix_ns", `"1795338000500000000"`},
		{"2006-01-02 15:04:05.000", `"2026-11-22 09:00:00.500"`},
	} {
		dec, err := compileMapping(&JSONMapping{Measurement: "m", Time: "t", TimeFormat: tc.format, Fields: map[string]JSONField{"v": {Path: "v"}}})
		if err != nil {
			t.Fatal(err)
		}
		var d decoded
		if r := dec.decode(newEnv(), []byte(`{"t":`+tc.value+`,"v":1}`), &d); !r.ok() {
			t.Fatalf("%s: %v", tc.format, r)
		}
		if !d.point.Time.Equal(want) {
			t.Errorf("%s %s: time %v, want %v", tc.format, tc.value, d.point.Time, want)
		}
	}
}

func TestCompileMappingErrors(t *testing.T) {
	f := map[string]JSONField{"v": {Path: "v"}}
	for _, m := range []*JSONMapping{
		nil,
		{Fields: f},
		{Measurement: "m"},
		{Measurement: "m", Fields: map[string]JSONField{"v": {Path: "a..b"}}},
		{Measurement: "m", Fields: map[string]JSONField{"v": {Path: "a", Type: "decimal"}}},
		{Measurement: "m", Fields: map[string]JSONField{"time": {Path: "a"}}},
		{Measurement: "m", Fields: f, Tags: map[string]string{"site": "s"}},
		{Measurement: "m", Fields: f, Tags: map[string]string{"device": "s"}},
	} {
		if _, err := compileMapping(m); err == nil {
			t.Errorf("compileMapping(%+v) = nil error", m)
		}
	}
}

// TestDecodedPointsAreValid: whatever a decoder accepts, the pipeline
// stores (Point.Valid), so an acknowledged message is never silently lost.
func TestDecodedPointsAreValid(t *testing.T) {
	for _, p := range []string{goodCamera, `{"camera_id":"C","type":"smoke","confidence":1e-400}`} {
		var d decoded
		if r := (cameraDecoder{}).decode(newEnv(), []byte(p), &d); !r.ok() || !d.point.Valid() {
			t.Errorf("%s: %v valid=%v", p, r, d.point.Valid())
		}
	}
	if math.IsNaN(0) {
		t.Fatal("unreachable")
	}
}

func TestDecodeNoAllocsWithArena(t *testing.T) {
	e := newEnv(gateway.Tag{Key: "zone", Value: "n"})
	payload := []byte(`{"camera_id":"CAM-07","ts":"2026-11-22T09:00:00.123Z","type":"smoke","confidence":0.87,"bearing_deg":132.5,"distance_m":1800}`)
	tags := make([]gateway.Tag, 0, 16)
	fields := make([]gateway.Field, 0, 16)
	var d decoded
	allocs := testing.AllocsPerRun(100, func() {
		d = decoded{}
		d.point.Tags, d.point.Fields = tags, fields
		if r := (cameraDecoder{}).decode(e, payload, &d); !r.ok() {
			panic(fmt.Sprint(r))
		}
	})
	if allocs > 0 {
		t.Errorf("decoding a camera event without strings allocates %v times", allocs)
	}
}

// TestEventTimeKeepsEveryEvent: events that share a series and the time
// their payload states are distinct points (InfluxDB would otherwise keep
// only the last), a redelivered event is the same point, and the time
// never leaves the precision the payload stated.
func TestEventTimeKeepsEveryEvent(t *testing.T) {
	decode := func(dec decoder, payload string) time.Time {
		t.Helper()
		var d decoded
		if r := dec.decode(newEnv(), []byte(payload), &d); !r.ok() {
			t.Fatalf("%s: %v", payload, r)
		}
		return d.point.Time
	}
	second := time.Date(2026, 11, 22, 9, 0, 5, 0, time.UTC)
	seen := map[time.Time]string{}
	for i := range 200 {
		// 200 passages through KK-03, inbound, all stamped 09:00:05.
		p := fmt.Sprintf(`{"event_id":"KK-03-%06d","checkpoint_id":"KK-03","ts":"2026-11-22T09:00:05Z","direction":"in","people":1}`, i)
		ts := decode(passageDecoder{}, p)
		if ts.Truncate(time.Second) != second {
			t.Fatalf("%s: time %v left the stated second", p, ts)
		}
		if prev, dup := seen[ts]; dup {
			t.Fatalf("%s and %s share time %v", prev, p, ts)
		}
		seen[ts] = p
		if again := decode(passageDecoder{}, p); again != ts {
			t.Fatalf("redelivery at %v, first at %v", again, ts)
		}
	}
	// Without an event_id, the payload is the identity.
	a := decode(passageDecoder{}, `{"checkpoint_id":"KK-03","ts":"2026-11-22T09:00:05Z","direction":"in","people":1}`)
	b := decode(passageDecoder{}, `{"checkpoint_id":"KK-03","ts":"2026-11-22T09:00:05Z","direction":"in","people":2}`)
	if a == b || a.Truncate(time.Second) != second || b.Truncate(time.Second) != second {
		t.Errorf("passages without event_id: %v and %v", a, b)
	}
	// Cameras write milliseconds: the offset stays under one.
	ms := time.Date(2026, 11, 22, 9, 0, 0, 123_000_000, time.UTC)
	c1 := decode(cameraDecoder{}, `{"event_id":"E1","camera_id":"CAM-07","ts":"2026-11-22T09:00:00.123Z","type":"smoke","confidence":0.5}`)
	c2 := decode(cameraDecoder{}, `{"event_id":"E2","camera_id":"CAM-07","ts":"2026-11-22T09:00:00.123Z","type":"smoke","confidence":0.5}`)
	if c1 == c2 || c1.Truncate(time.Millisecond) != ms || c2.Truncate(time.Millisecond) != ms {
		t.Errorf("camera events in one millisecond: %v and %v", c1, c2)
	}
	// A timestamp written to the nanosecond is kept exactly.
	ns := decode(cameraDecoder{}, `{"event_id":"E1","camera_id":"CAM-07","ts":"2026-11-22T09:00:00.123456789Z","type":"smoke","confidence":0.5}`)
	if want := time.Date(2026, 11, 22, 9, 0, 0, 123456789, time.UTC); !ns.Equal(want) {
		t.Errorf("nanosecond ts: %v, want %v", ns, want)
	}
}
