package gateway

import (
	"fmt"
	"math"
	"strconv"
	"testing"
	"time"
)

func TestAppendLine(t *testing.T) {
	ts := time.Unix(1700000000, 123456789)
	tests := []struct {
		name string
		p    Point
		want string
	}{
		{"float and sorted tags", Point{Measurement: "gas_detector",
			Tags:   []Tag{{"site", "qz"}, {"device", "GD-101"}, {"area", "tank farm"}},
			Fields: []Field{Float("ch4", 12.5)}, Time: ts},
			`gas_detector,area=tank\ farm,device=GD-101,site=qz ch4=12.5 1700000000123456789`},
		{"all kinds", Point{Measurement: "m", Fields: []Field{Int("n", -3), Bool("b", true), String("s", `a "q" \ b`), Float("f", 1e21)}, Time: ts},
			`m n=-3i,b=true,s="a \"q\" \\ b",f=1000000000000000000000 1700000000123456789`},
		{"escapes", Point{Measurement: "my m,x", Tags: []Tag{{"k=1", "v,2 3"}}, Fields: []Field{Float("f k", 0)}, Time: ts},
			`my\ m\,x,k\=1=v\,2\ 3 f\ k=0 1700000000123456789`},
		{"empty tag omitted, newline flattened in a tag, kept in a string", Point{Measurement: "m", Tags: []Tag{{"a", ""}, {"b", "x\ny"}}, Fields: []Field{String("s", "l1\nl2")}, Time: ts},
			"m,b=x\\ y s=\"l1\nl2\" 1700000000123456789"},
		{"trailing backslash", Point{Measurement: "m", Tags: []Tag{{"t", `v\`}}, Fields: []Field{Float("f", 1)}, Time: ts},
			`m,t=v/ f=1 1700000000123456789`},
		{"backslashes InfluxDB keeps", Point{Measurement: `m\x`, Tags: []Tag{{"t", `a\b\\c`}}, Fields: []Field{Float(`f\g`, 1)}, Time: ts},
			`m\x,t=a\b\\c f\g=1 1700000000123456789`},
		{"backslash before a separator", Point{Measurement: `m\ x`, Tags: []Tag{{`k\=`, `a\,b`}}, Fields: []Field{Float(`f\"`, 1)}, Time: ts},
			`m/\ x,k/\==a/\,b f/"=1 1700000000123456789`},
		{"utf8", Point{Measurement: "checkpoint_passage", Tags: []Tag{{"checkpoint", "KK-03"}}, Fields: []Field{String("plate", "闽C12345")}, Time: ts},
			`checkpoint_passage,checkpoint=KK-03 plate="闽C12345" 1700000000123456789`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(AppendLine(nil, &tt.p))
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestPointValid(t *testing.T) {
	ts := time.Now()
	for _, tt := range []struct {
		p    Point
		want bool
	}{
		{Point{Measurement: "m", Fields: []Field{Float("f", 1)}, Time: ts}, true},
		{Point{Measurement: "", Fields: []Field{Float("f", 1)}, Time: ts}, false},
		{Point{Measurement: "m", Time: ts}, false},
		{Point{Measurement: "m", Fields: []Field{Float("f", math.NaN())}, Time: ts}, false},
		{Point{Measurement: "m", Fields: []Field{Float("f", math.Inf(1))}, Time: ts}, false},
		{Point{Measurement: "m", Fields: []Field{Float("f", 1)}}, false},
	} {
		if got := tt.p.Valid(); got != tt.want {
			t.Errorf("%+v: Valid = %v, want %v", tt.p, got, tt.want)
		}
	}
}

func BenchmarkAppendLine(b *testing.B) {
	p := Point{Measurement: "fire_detection",
		Tags:   []Tag{{"site", "qz-petro-01"}, {"camera", "CAM-07"}, {"type", "smoke"}},
		Fields: []Field{Float("confidence", 0.87), Float("bearing_deg", 132.5), Float("distance_m", 1800), String("event_id", "CAM-07-000123")},
		Time:   time.Now()}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendLine(buf[:0], &p)
	}
}

// FuzzLineProtocol checks that whatever text a device or config supplies,
// the encoder writes one line that InfluxDB 1.8's rules parse back to the
// same names and values (after the documented replacements, which Altered
// reports).
func FuzzLineProtocol(f *testing.F) {
	f.Add("gas_detector", "device", `CAM-LP4\`, "value", `a "q" \ b`, 1.5, int64(3))
	f.Add(`m,x y`, `k=\`, "v,\\ 2=3\n", `f\"`, "l1\nl2\\", -0.0, int64(-1))
	f.Add("#\tm", "\t", "\x00", "\tf", "", 0.0, int64(1))
	f.Add(`\`, `\\`, `\\\`, `\ `, `\"`, 1e300, int64(0))
	f.Fuzz(func(t *testing.T, meas, tagKey, tagVal, fieldKey, str string, fv float64, iv int64) {
		p := Point{Measurement: meas, Tags: []Tag{{tagKey, tagVal}, {"site", "qz"}},
			Fields: []Field{Float(fieldKey, fv), String("s", str), Int("n", iv), Bool("b", true)},
			Time:   time.Unix(0, iv)}
		if !p.Valid() || fieldKey == "s" || fieldKey == "n" || fieldKey == "b" {
			return
		}
		wantAltered := Altered(&p)
		line, altered := appendLine(nil, &p)
		if altered != wantAltered {
			t.Fatalf("appendLine altered=%v, Altered=%v", altered, wantAltered)
		}
		got, err := parseLine(string(line))
		if err != nil {
			t.Fatalf("%v: %q", err, line)
		}
		if got.measurement != representable(meas, true, measurementEsc) {
			t.Fatalf("measurement %q, want %q (line %q)", got.measurement, representable(meas, true, measurementEsc), line)
		}
		var wantTags []Tag
		for _, tg := range p.Tags { // sorted by appendLine
			if tg.Key != "" && tg.Value != "" {
				wantTags = append(wantTags, Tag{representable(tg.Key, false, keyEsc), representable(tg.Value, false, keyEsc)})
			}
		}
		if fmt.Sprint(got.tags) != fmt.Sprint(wantTags) {
			t.Fatalf("tags %q, want %q (line %q)", got.tags, wantTags, line)
		}
		wantFields := []Tag{{representable(fieldKey, true, keyEsc), strconv.FormatFloat(fv, 'f', -1, 64)}, {"s", str},
			{"n", strconv.FormatInt(iv, 10) + "i"}, {"b", "true"}}
		if fmt.Sprint(got.fields) != fmt.Sprint(wantFields) {
			t.Fatalf("fields %q, want %q (line %q)", got.fields, wantFields, line)
		}
		if got.ts != iv {
			t.Fatalf("timestamp %d, want %d", got.ts, iv)
		}
		if !altered && (got.measurement != meas || got.fields[0].Key != fieldKey) {
			t.Fatal("text changed without being reported as altered")
		}
	})
}
