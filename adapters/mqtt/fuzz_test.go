package mqtt

import (
	"encoding/json"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hazardgw/hazardgw/gateway"
)

// checkDecoded holds for every accepted payload, whatever the format: the
// point is storable, the payload was valid JSON text, and the line protocol
// is one line.
func checkDecoded(t *testing.T, payload []byte, r reject, d *decoded) {
	t.Helper()
	if !r.ok() {
		if r.reason == "" {
			t.Fatal("rejected without a reason")
		}
		if r.reason == reasonInvalidJSON && json.Valid(payload) && utf8.Valid(payload) && len(payload) <= MaxPayload && !deep(payload) {
			t.Fatalf("valid JSON rejected as invalid_json: %q", payload)
		}
		return
	}
	if !json.Valid(payload) {
		t.Fatalf("accepted invalid JSON: %q", payload)
	}
	if !d.point.Valid() {
		t.Fatalf("accepted payload gives an invalid point: %+v", d.point)
	}
	p := d.point
	l := gateway.AppendLine(nil, &p)
	// A newline may stand only inside a quoted string field, where
	// InfluxDB keeps it as part of the value; anywhere else it would end
	// the line.
	fields, quoted := false, false
	for i := 0; i < len(l); i++ {
		switch c := l[i]; {
		case c == '\\':
			i++ // an escaped character
		case c == ' ' && !quoted:
			fields = true
		case c == '"' && fields:
			quoted = !quoted
		case (c == '\n' || c == '\r') && !quoted:
			t.Fatalf("line protocol with a newline outside a string field: %q", l)
		}
	}
	seen := map[string]bool{}
	for _, tag := range d.point.Tags {
		if seen[tag.Key] {
			t.Fatalf("duplicate tag %q", tag.Key)
		}
		seen[tag.Key] = true
	}
}

// deep reports nesting beyond what the scanner walks.
func deep(b []byte) bool {
	depth, in, esc := 0, false, false
	for _, c := range b {
		switch {
		case esc:
			esc = false
		case in && c == '\\':
			esc = true
		case c == '"':
			in = !in
		case !in && (c == '{' || c == '['):
			if depth++; depth > maxDepth-1 {
				return true
			}
		case !in && (c == '}' || c == ']'):
			depth--
		}
	}
	return false
}

func addSeeds(f *testing.F, seeds ...string) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
}

func FuzzCameraEvent(f *testing.F) {
	addSeeds(f, goodCamera, `{"camera_id":"C","type":"fire","confidence":1}`, `{"confidence":NaN}`, `[]`, ``,
		`{"a":{"b":[1,{"c":"\ud83d\ude00"}]},"type":"smoke"}`, "{\"camera_id\":\"\xff\"}", `{"ts":"2026-11-22T09:00:00+08:00","type":"hotspot","confidence":0.1,"camera_id":"x"}`,
		`{"ts":"2026-11-22T09:00:05Z","type":"fire","confidence":0.9,"bearing_deg":359.99,"distance_m":0,"event_id":"E\u00e9","image_url":"http://x/1.jpg"}`,
		`{"type":"smoke","confidence":0.9,"bearing_deg":360,"camera_id":"c"}`, `{"type":"smoke","confidence":0.9,"distance_m":-1,"camera_id":"c"}`,
		`{"type":"smoke","confidence":0.9,"event_id":"","image_url":null,"camera_id":"c"}`)
	tags := []gateway.Tag{{Key: "camera", Value: "CAM-T"}, {Key: "zone", Value: "z"}}
	f.Fuzz(func(t *testing.T, payload []byte) {
		var d decoded
		r := cameraDecoder{}.decode(newEnv(tags...), payload, &d)
		checkDecoded(t, payload, r, &d)
		if r.ok() {
			c, _ := d.point.Field(fieldConfidence)
			if !(c.F >= 0 && c.F <= 1) {
				t.Fatalf("confidence %v accepted", c.F)
			}
			if typ, _ := d.point.Tag(tagType); typ != "smoke" && typ != "fire" && typ != "hotspot" {
				t.Fatalf("type %q accepted", typ)
			}
			// What alarms take over from the event (bearing, distance,
			// image, id, time) is what the payload said, and sane.
			var in map[string]any
			if json.Unmarshal(payload, &in) != nil {
				return // e.g. a number beyond float64 in a member the decoder skips
			}
			checkNumber := func(key string, ok func(float64) bool) {
				f, has := d.point.Field(key)
				v, given := in[key].(float64)
				switch {
				case has != given:
					t.Fatalf("%s: field %v, payload %v", key, has, in[key])
				case has && (f.Kind != gateway.KindFloat || f.F != v || !ok(f.F)):
					t.Fatalf("%s: field %+v from %v", key, f, v)
				}
			}
			checkNumber(fieldBearing, func(v float64) bool { return v >= 0 && v < 360 })
			checkNumber(fieldDistance, func(v float64) bool { return v >= 0 })
			for _, key := range []string{fieldEventID, fieldImageURL} {
				f, has := d.point.Field(key)
				v, _ := in[key].(string)
				if has != (v != "") || has && (f.Kind != gateway.KindString || f.S != v) {
					t.Fatalf("%s: field %+v from %q", key, f, v)
				}
			}
			if ts, ok := in["ts"].(string); ok && !d.arrival {
				want, err := time.Parse(time.RFC3339Nano, ts)
				if err == nil && !d.point.Time.Truncate(time.Millisecond).Equal(want.Truncate(time.Millisecond)) {
					t.Fatalf("ts %s stored at %s", ts, d.point.Time.Format(time.RFC3339Nano))
				}
			}
		}
	})
}

func FuzzCheckpointPassage(f *testing.F) {
	addSeeds(f, goodPassage, `{"checkpoint_id":"K","direction":"out","vehicles":0}`, `{"people":-1}`, `{"people":1.0}`,
		`{"checkpoint_id":"K","direction":"in","plate":"\u95fdC12345"}`, `{"voice_played":fals}`)
	f.Fuzz(func(t *testing.T, payload []byte) {
		var d decoded
		r := passageDecoder{}.decode(newEnv(), payload, &d)
		checkDecoded(t, payload, r, &d)
		if r.ok() {
			for _, k := range []string{fieldPeople, fieldVehicles} {
				if f, ok := d.point.Field(k); ok && (f.Kind != gateway.KindInt || f.I < 0) {
					t.Fatalf("%s = %+v accepted", k, f)
				}
			}
		}
	})
}

func FuzzJSONMapping(f *testing.F) {
	addSeeds(f, `{"meta":{"t":1795338000123,"dev":"WS-1","zone":3},"data":{"wind":4.5,"n":7,"ok":true,"note":"x"},"list":[{"name":"a"},1,2.5]}`,
		`{"meta":{"dev":7},"data":{"n":7.0}}`, `{"list":[[],[],3]}`, `{"meta":"x","data":[1]}`, `{"data":{"wind":1e400}}`)
	dec, err := compileMapping(&JSONMapping{
		Measurement: "weather", Time: "meta.t", TimeFormat: "unix_ms", Device: "meta.dev",
		Tags: map[string]string{"zone": "meta.zone", "first": "list.0.name"},
		Fields: map[string]JSONField{
			"wind": {Path: "data.wind"}, "count": {Path: "data.n", Type: "int"}, "ok": {Path: "data.ok", Type: "bool"},
			"note": {Path: "data.note", Type: "string"}, "third": {Path: "list.2"},
		},
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		var d decoded
		r := dec.decode(newEnv(gateway.Tag{Key: "device", Value: "T"}), payload, &d)
		checkDecoded(t, payload, r, &d)
	})
}

func FuzzDeviceStatus(f *testing.F) {
	addSeeds(f, `{"device_id":"CAM-01","ts":"2026-11-22T09:00:00Z","online":true,"fault":false}`, `{}`, `{"online":false}`,
		`{"fault":true,"device_id":"\u0007"}`, `{"device_id":null,"online":null}`, `{"ts":"2026-11-22T09:00:00+08:00","x":[{}]}`, `[]`)
	f.Fuzz(func(t *testing.T, payload []byte) {
		var d decoded
		r := statusDecoder{}.decode(newEnv(gateway.Tag{Key: "device", Value: "T"}), payload, &d)
		checkDecoded(t, payload, r, &d)
		if r.ok() {
			q, _ := d.point.Field(fieldQuality)
			why, _ := d.point.Field(fieldReason)
			on, _ := d.point.Field(fieldOnline)
			if wq, wwhy := heartbeatQuality(on.B, d.fault); q.S != wq || why.S != wwhy || on.B != d.online || !d.heartbeat {
				t.Fatalf("online=%v fault=%v stored as quality %q reason %q", d.online, d.fault, q.S, why.S)
			}
			if dev, _ := d.point.Tag(gateway.TagDevice); !validID(dev) {
				t.Fatalf("device %q accepted", dev)
			}
		}
	})
}
