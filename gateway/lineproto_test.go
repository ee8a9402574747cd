package gateway

import (
	"math"
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
		{"empty tag omitted, newline flattened", Point{Measurement: "m", Tags: []Tag{{"a", ""}, {"b", "x\ny"}}, Fields: []Field{String("s", "l1\nl2")}, Time: ts},
			`m,b=x\ y s="l1 l2" 1700000000123456789`},
		{"trailing backslash", Point{Measurement: "m", Tags: []Tag{{"t", `v\`}}, Fields: []Field{Float("f", 1)}, Time: ts},
			`m,t=v\\ f=1 1700000000123456789`},
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
