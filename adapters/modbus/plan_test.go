package modbus

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/hazardgw/hazardgw/internal/conf"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// describe renders a plan as "area start+count: name@offset ..." lines; a
// bool shows its byte offset and mask.
func describe(pl plan, pts []pointSpec) string {
	var b strings.Builder
	for _, r := range pl.reads {
		fmt.Fprintf(&b, "%s %d+%d:", r.area, r.start, r.count)
		for _, s := range pl.slots[r.first : r.first+r.n] {
			fmt.Fprintf(&b, " %s@%d", pts[s.point].name, s.off)
			if s.typ == typeBool {
				fmt.Fprintf(&b, "/%#02x", s.mask)
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func specs(t testing.TB, pcs ...PointConfig) []pointSpec {
	t.Helper()
	out := make([]pointSpec, len(pcs))
	for i, pc := range pcs {
		if pc.Name == "" {
			pc.Name = fmt.Sprint("p", i)
		}
		p, err := parsePoint(pc)
		if err != nil {
			t.Fatalf("point %d: %v", i, err)
		}
		out[i] = p
	}
	return out
}

func hr(name string, addr int, typ string) PointConfig {
	return PointConfig{Name: name, Area: "holding", Address: addr, Type: typ}
}

func TestMakePlan(t *testing.T) {
	cases := []struct {
		name   string
		maxGap int
		points []PointConfig
		want   string
	}{
		{"one point", 16, []PointConfig{hr("a", 7, "float32")}, "holding 7+2: a@0\n"},
		{"contiguous", 16, []PointConfig{hr("a", 0, "float32"), hr("b", 2, "uint16"), hr("c", 3, "int64")},
			"holding 0+7: a@0 b@4 c@6\n"},
		{"sorted by address", 16, []PointConfig{hr("c", 20, "uint16"), hr("a", 0, "uint16"), hr("b", 10, "uint16")},
			"holding 0+21: a@0 b@20 c@40\n"},
		{"gap of exactly max_gap is bridged", 16, []PointConfig{hr("a", 0, "uint16"), hr("b", 17, "uint16")},
			"holding 0+18: a@0 b@34\n"},
		{"gap of max_gap+1 splits", 16, []PointConfig{hr("a", 0, "uint16"), hr("b", 18, "uint16")},
			"holding 0+1: a@0\nholding 18+1: b@0\n"},
		{"max_gap 0 merges only adjacent", 0, []PointConfig{hr("a", 0, "uint16"), hr("b", 1, "uint16"), hr("c", 3, "uint16")},
			"holding 0+2: a@0 b@2\nholding 3+1: c@0\n"},
		{"negative max_gap counts as 0", -5, []PointConfig{hr("a", 0, "uint16"), hr("b", 2, "uint16")},
			"holding 0+1: a@0\nholding 2+1: b@0\n"},
		{"125 registers fit one read", 200, []PointConfig{hr("a", 0, "uint16"), hr("b", 123, "float32")},
			"holding 0+125: a@0 b@246\n"},
		{"126 do not", 200, []PointConfig{hr("a", 0, "uint16"), hr("b", 124, "float32")},
			"holding 0+1: a@0\nholding 124+2: b@0\n"},
		{"top of the address space", 16, []PointConfig{hr("a", 65532, "uint64"), hr("b", 65535, "uint16")},
			"holding 65532+4: a@0 b@6\n"},
		{"overlapping points", 16, []PointConfig{hr("f", 10, "float32"), hr("hi", 10, "uint16"), hr("lo", 11, "uint16"), hr("d", 9, "float64")},
			"holding 9+4: d@0 f@2 hi@2 lo@4\n"},
		{"bools share a register", 16, []PointConfig{
			{Name: "b0", Area: "holding", Address: 5, Type: "bool", Bit: ptr(0)},
			{Name: "b15", Area: "holding", Address: 5, Type: "bool", Bit: ptr(15)},
			{Name: "b8", Area: "holding", Address: 5, Type: "bool", Bit: ptr(8)},
			{Name: "b7", Area: "holding", Address: 5, Type: "bool", Bit: ptr(7)},
			{Name: "w", Area: "holding", Address: 5, Type: "uint16"},
		}, "holding 5+1: b0@1/0x01 b15@0/0x80 b8@0/0x01 b7@1/0x80 w@0\n"},
		{"a string spans its length", 16, []PointConfig{
			{Name: "s", Area: "holding", Address: 0, Type: "string", Length: 10}, hr("u", 10, "uint16"),
		}, "holding 0+11: s@0 u@20\n"},
		{"a string of 125 registers fills a read", 16, []PointConfig{
			{Name: "s", Area: "holding", Address: 0, Type: "string", Length: 125}, hr("u", 125, "uint16"),
		}, "holding 0+125: s@0\nholding 125+1: u@0\n"},
		{"the bytes of a register are two points", 0, []PointConfig{
			hr("lo", 5, "uint8l"), hr("hi", 5, "int8h"), hr("half", 6, "float16"), hr("next", 7, "uint64"),
		}, "holding 5+6: lo@0 hi@0 half@2 next@4\n"},
		{"bit 0 is in the second byte", 16, []PointConfig{{Name: "b", Area: "input", Address: 3, Type: "bool", Bit: ptr(0)}},
			"input 3+1: b@1/0x01\n"},
		{"areas are separate", 16, []PointConfig{
			{Name: "i", Area: "input", Address: 0, Type: "uint16"}, hr("h", 0, "uint16"),
			{Name: "c", Area: "coil", Address: 0, Type: "bool"}, {Name: "d", Area: "discrete", Address: 0, Type: "bool"},
		}, "coil 0+1: c@0/0x01\ndiscrete 0+1: d@0/0x01\nholding 0+1: h@0\ninput 0+1: i@0\n"},
		{"bit gap is max_gap×16", 1, []PointConfig{
			{Name: "a", Area: "coil", Address: 0, Type: "bool"},
			{Name: "b", Area: "coil", Address: 17, Type: "bool"}, // 16 unused bits: bridged
			{Name: "c", Area: "coil", Address: 35, Type: "bool"}, // 17 unused: split
			{Name: "d", Area: "coil", Address: 43, Type: "bool"}, // byte 1, bit 0 of its read
			{Name: "e", Area: "coil", Address: 42, Type: "bool"},
		}, "coil 0+18: a@0/0x01 b@2/0x02\ncoil 35+9: c@0/0x01 e@0/0x80 d@1/0x01\n"},
		{"2000 bits fit one read", 16, []PointConfig{
			{Name: "a", Area: "discrete", Address: 100, Type: "bool"},
			{Name: "b", Area: "discrete", Address: 2099, Type: "bool"},
		}, "discrete 100+1: a@0/0x01\ndiscrete 2099+1: b@0/0x01\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pts := specs(t, c.points...)
			pl := makePlan(pts, c.maxGap)
			if got := describe(pl, pts); got != c.want {
				t.Errorf("got\n%s\nwant\n%s", got, c.want)
			}
			checkPlan(t, pl, pts, c.maxGap)
		})
	}
}

// TestMakePlanLimits fills each area densely past its limit: reads of
// exactly 2000 bits or 125 registers, then the rest.
func TestMakePlanLimits(t *testing.T) {
	for _, c := range []struct {
		area, typ string
		n, limit  int
	}{{"coil", "bool", 2001, 2000}, {"discrete", "bool", 4000, 2000}, {"holding", "uint16", 126, 125}, {"input", "uint16", 250, 125}} {
		var pcs []PointConfig
		for i := range c.n {
			pcs = append(pcs, PointConfig{Name: fmt.Sprint("p", i), Area: c.area, Address: i, Type: c.typ})
		}
		pts := specs(t, pcs...)
		pl := makePlan(pts, 16)
		want := (c.n + c.limit - 1) / c.limit
		if len(pl.reads) != want || int(pl.reads[0].count) != c.limit {
			t.Errorf("%s ×%d: %d reads, first %+v; want %d of %d", c.area, c.n, len(pl.reads), pl.reads[0], want, c.limit)
		}
		checkPlan(t, pl, pts, 16)
	}
}

// checkPlan verifies the invariants every plan must hold: each point in
// exactly one read that covers it, reads within limits and sorted, no bridged gap larger than allowed, and as few reads as a
// greedy sweep gives (which is optimal for intervals this short).
func checkPlan(t testing.TB, pl plan, pts []pointSpec, maxGap int) {
	t.Helper()
	maxGap = max(maxGap, 0)
	if len(pl.slots) != len(pts) {
		t.Fatalf("%d slots for %d points", len(pl.slots), len(pts))
	}
	seen := make([]bool, len(pts))
	next := 0
	for ri, r := range pl.reads {
		if r.first != next || r.n < 1 {
			t.Fatalf("read %d: slots [%d,+%d), want start %d", ri, r.first, r.n, next)
		}
		next += r.n
		if r.count < 1 || int(r.count) > r.area.maxCount() || int(r.start)+int(r.count) > 0x10000 {
			t.Fatalf("read %d: %+v out of limits", ri, r)
		}
		if ri > 0 {
			p := pl.reads[ri-1]
			// Reads may overlap where overlapping points straddle a limit.
			if p.area > r.area || p.area == r.area && p.start >= r.start {
				t.Fatalf("reads %d and %d out of order: %+v %+v", ri-1, ri, p, r)
			}
		}
		covered := make([]bool, r.count)
		for _, s := range pl.slots[r.first : r.first+r.n] {
			p := &pts[s.point]
			if seen[s.point] {
				t.Fatalf("point %s in two reads", p.name)
			}
			seen[s.point] = true
			if p.area != r.area || p.addr < r.start || int(p.addr)+p.span() > int(r.start)+int(r.count) {
				t.Fatalf("point %s (%s %d+%d) not inside read %+v", p.name, p.area, p.addr, p.span(), r)
			}
			for k := range p.span() {
				covered[int(p.addr)-int(r.start)+k] = true
			}
			if s.off < 0 || s.off+max(2*s.words, 1) > r.bytes() {
				t.Fatalf("point %s: offset %d beyond %d response bytes", p.name, s.off, r.bytes())
			}
		}
		gap, limit := 0, maxGap
		if r.area.isBit() {
			limit *= bitGapFactor
		}
		for _, c := range covered {
			if c {
				gap = 0
			} else if gap++; gap > limit {
				t.Fatalf("read %+v bridges more than %d unused", r, limit)
			}
		}
		if !covered[0] || !covered[len(covered)-1] {
			t.Fatalf("read %+v reads unused entries at an end", r)
		}
	}
	if next != len(pl.slots) {
		t.Fatalf("reads cover %d of %d slots", next, len(pl.slots))
	}
	if want := greedyReads(pts, maxGap); len(pl.reads) != want {
		t.Fatalf("%d reads, an independent sweep needs %d", len(pl.reads), want)
	}
}

// greedyReads counts reads by a sweep over every address instead of over
// sorted points: an independent reference for the count.
func greedyReads(pts []pointSpec, maxGap int) int {
	n := 0
	for a := areaCoil; a <= areaInput; a++ {
		used := map[int]bool{}
		var addrs []int
		for _, p := range pts {
			if p.area != a {
				continue
			}
			for k := range p.span() {
				if !used[int(p.addr)+k] {
					used[int(p.addr)+k] = true
					addrs = append(addrs, int(p.addr)+k)
				}
			}
		}
		slices.Sort(addrs)
		gap := maxGap
		if a.isBit() {
			gap *= bitGapFactor
		}
		start, last := -1, -1
		for _, x := range addrs {
			// A point's registers must stay together; find the point end.
			end := x
			for _, p := range pts {
				if p.area == a && int(p.addr) <= x && x < int(p.addr)+p.span() {
					end = max(end, int(p.addr)+p.span()-1)
				}
			}
			if start < 0 || x-last-1 > gap || end-start+1 > a.maxCount() {
				n++
				start = x
			}
			last = max(last, end)
		}
	}
	return n
}

// Golden cases: testdata/plan/<case>/config.yaml holds a device's points
// (and max_gap); expected.out the plan, or init.err the error. New's
// error and Validate's problems must be the same lines.
func TestPlanGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/plan/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join(dir, "config.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			var c struct {
				MaxGap int           `yaml:"max_gap"`
				Points []PointConfig `yaml:"points"`
			}
			dec := yaml.NewDecoder(bytes.NewReader(src))
			dec.KnownFields(true)
			if err := dec.Decode(&c); err != nil {
				t.Fatal(err)
			}
			got, file := "", "expected.out"
			cfg := Config{Links: []LinkConfig{{Name: "l", URL: "tcp://127.0.0.1:502", MaxGap: c.MaxGap,
				Devices: []DeviceConfig{{ID: "d", Kind: "k", UnitID: 1, Points: c.Points}}}}}
			source, err := New(cfg, "s", nil)
			// Validate (what check runs) reports exactly what New refuses.
			var p conf.Problems
			cfg.Validate("modbus", &p)
			if perr := problemsError(p); fmt.Sprint(perr) != strings.TrimPrefix(fmt.Sprint(err), "plan modbus polling: ") {
				t.Errorf("Validate: %v\nNew: %v", perr, err)
			}
			if err != nil {
				got, file = err.Error()+"\n", "init.err"
			} else {
				d := source.links[0].devs[0]
				gap := c.MaxGap
				if gap == 0 {
					gap = linkDefaults.MaxGap
				}
				checkPlan(t, d.plan, d.points, gap)
				got = describe(d.plan, d.points)
			}
			golden(t, filepath.Join(dir, file), got)
			// Warnings: valid, but probably not what was meant.
			var warns strings.Builder
			for _, w := range p.Warnings {
				fmt.Fprintf(&warns, "%s: warning: %s\n", w.Path, w.Msg)
			}
			if _, err := os.Stat(filepath.Join(dir, "expected.warn")); warns.Len() > 0 || err == nil {
				golden(t, filepath.Join(dir, "expected.warn"), warns.String())
			}
		})
	}
}

// golden compares got with the file at path, or rewrites the file with
// -update.
func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (got:\n%s)", err, got)
	}
	if got != string(want) {
		t.Errorf("%s: got\n%s\nwant\n%s", path, got, want)
	}
}
