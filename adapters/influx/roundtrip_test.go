package influx

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/gateway"
	"github.com/hazardgw/hazardgw/internal/testenv"
)

// storedAs is the text InfluxDB must hold for a name or tag value s after
// AppendLine, as documented there: newlines become spaces, a backslash at
// the end or before a separator becomes a slash, a measurement's first '#',
// tab or NUL and a first field key's tab or NUL become '_'. Anything else
// is stored exactly.
func storedAs(s string, first, measurement bool) string {
	out := []byte(s)
	for i, c := range out {
		if i == 0 && first && (c == '\t' || c == 0 || (c == '#' && measurement)) {
			out[i] = '_'
			continue
		}
		switch c {
		case '\n', '\r':
			out[i] = ' '
		case '\\':
			if i == len(s)-1 || strings.IndexByte(",= \"\n\r", s[i+1]) >= 0 {
				out[i] = '/'
			}
		}
	}
	return string(out)
}

// nasty are the values line protocol makes hard.
var nasty = []string{
	"plain", "with space", "a,b", "k=v", `say "hi"`, `back\slash`, `trailing\`, `\`, `\\`,
	`\ leading-escaped-space`, `a\,b`, `a\=b`, `a\ b`, `quote\"`, "new\nline", "cr\rlf", "\ttab-first",
	"#hash-first", "火灾 烟雾", "é\u00e9\u2028", " leading space", "trailing space ", "==", ",,", `"`, `""`,
	"mixed ,=\"\\ all", "x\\\n", "\U0001F525", "a\tb",
}

// TestEscapingRoundTrip writes points whose measurement, tag keys, tag
// values, field keys and string fields are hard for line protocol through
// the real writer to a real InfluxDB 1.8 and reads them back: every text is
// stored exactly, or as AppendLine documents it replaces it when
// gateway.Altered says so; string fields are always exact.
func TestEscapingRoundTrip(t *testing.T) {
	db := testenv.InfluxDB(t)
	db.CreateDB(testDB)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var pts []gateway.Point
	for i, s := range nasty {
		pts = append(pts, gateway.Point{
			Measurement: "rt",
			Tags:        []gateway.Tag{{Key: "tv", Value: s}, {Key: "k" + s, Value: "x"}},
			Fields:      []gateway.Field{gateway.Int("id", int64(i)), gateway.String("sv", s), gateway.Int("f"+s, int64(i))},
			Time:        base.Add(time.Duration(i) * time.Second),
		})
	}
	// Empty strings: an empty tag value is left out; an empty string field is kept.
	pts = append(pts, gateway.Point{Measurement: "rt", Tags: []gateway.Tag{{Key: "tv", Value: ""}},
		Fields: []gateway.Field{gateway.Int("id", int64(len(nasty))), gateway.String("sv", "")}, Time: base.Add(time.Hour)})
	// A first field key InfluxDB would skip as white space.
	pts = append(pts, gateway.Point{Measurement: "rt",
		Fields: []gateway.Field{gateway.Int("\tfirst", 1), gateway.Int("id", int64(len(nasty)+1))}, Time: base.Add(2 * time.Hour)})
	// Measurements.
	var wantMeas []string
	for i, s := range nasty {
		pts = append(pts, gateway.Point{Measurement: "m" + s, Fields: []gateway.Field{gateway.Int("v", 1)}, Time: base.Add(time.Duration(i) * time.Second)})
		wantMeas = append(wantMeas, storedAs("m"+s, true, true))
		if !strings.HasPrefix(s, "\t") && !strings.HasPrefix(s, "#") {
			pts = append(pts, gateway.Point{Measurement: s, Fields: []gateway.Field{gateway.Int("v", 1)}, Time: base.Add(time.Duration(i) * time.Second)})
			wantMeas = append(wantMeas, storedAs(s, true, true))
		}
	}
	for _, s := range []string{"#first", "\tfirst", "\x00first"} {
		pts = append(pts, gateway.Point{Measurement: s, Fields: []gateway.Field{gateway.Int("v", 1)}, Time: base})
		wantMeas = append(wantMeas, storedAs(s, true, true))
	}
	checkAltered(t, pts)
	writeAll(t, db, pts)

	rows := selectAll(t, db, "rt")
	for i, s := range nasty {
		r := rows[int64(i)]
		if r == nil {
			t.Errorf("case %d %q: no row", i, s)
			continue
		}
		if got, want := r["tv"], storedAs(s, false, false); got != want {
			t.Errorf("tag value %q stored as %q, want %q", s, got, want)
		}
		if got := r["sv"]; got != s {
			t.Errorf("string field %q stored as %q", s, got)
		}
		if got, want := r[storedAs("k"+s, false, false)], "x"; got != want {
			t.Errorf("tag key %q: column %q = %v, want %q", "k"+s, storedAs("k"+s, false, false), got, want)
		}
		if got := r[storedAs("f"+s, false, false)]; got != float64(i) {
			t.Errorf("field key %q: column %q = %v, want %d", "f"+s, storedAs("f"+s, false, false), got, i)
		}
	}
	if r := rows[int64(len(nasty))]; r == nil || r["sv"] != "" || r["tv"] != nil {
		t.Errorf("empty strings: %v, want sv \"\" and no tv", r)
	}
	if r := rows[int64(len(nasty)+1)]; r == nil || r["_first"] != float64(1) {
		t.Errorf("first field key with a tab: %v, want _first = 1", r)
	}
	gotMeas := showMeasurements(t, db)
	for _, m := range wantMeas {
		if !slices.Contains(gotMeas, m) {
			t.Errorf("measurement %q not stored; InfluxDB has %q", m, gotMeas)
		}
	}
}

// TestEscapingRoundTripRandom: 400 random strings (fixed seed) of the
// characters line protocol cares about, as tag value, tag key, field key,
// string field and measurement, through the real writer and back.
func TestEscapingRoundTripRandom(t *testing.T) {
	db := testenv.InfluxDB(t)
	db.CreateDB(testDB)
	alphabet := []string{" ", ",", "=", `"`, `\`, "\n", "\r", "\t", "#", "a", "b", "Z", "0", "火", "é", "'", "{", "}", "/", "\u00a0"}
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 400
	base := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	strs := make([]string, n)
	var pts []gateway.Point
	wantMeas := map[string]bool{}
	for i := range strs {
		var b strings.Builder
		for range 1 + rng.IntN(10) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		s := b.String()
		strs[i] = s
		pts = append(pts, gateway.Point{
			Measurement: "fz",
			Tags:        []gateway.Tag{{Key: "tv", Value: s}, {Key: "k" + s, Value: "x"}},
			Fields:      []gateway.Field{gateway.Int("id", int64(i)), gateway.String("sv", s), gateway.Int("f"+s, int64(i))},
			Time:        base.Add(time.Duration(i) * time.Millisecond),
		}, gateway.Point{Measurement: "m" + s, Fields: []gateway.Field{gateway.Int("v", 1)}, Time: base})
		wantMeas[storedAs("m"+s, true, true)] = true
	}
	checkAltered(t, pts)
	writeAll(t, db, pts)
	rows := selectAll(t, db, "fz")
	bad := 0
	for i, s := range strs {
		r := rows[int64(i)]
		ok := r != nil && r["tv"] == storedAs(s, false, false) && r["sv"] == s &&
			r[storedAs("k"+s, false, false)] == "x" && r[storedAs("f"+s, false, false)] == float64(i)
		if !ok {
			bad++
			if bad <= 10 {
				t.Errorf("string %d %q: row %v", i, s, r)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d random strings not stored as documented", bad, n)
	}
	gotMeas := showMeasurements(t, db)
	for m := range wantMeas {
		if !slices.Contains(gotMeas, m) {
			t.Errorf("measurement %q not stored", m)
		}
	}
}

// checkAltered checks gateway.Altered against storedAs: a point is altered
// exactly when some name or tag value is not stored as given.
func checkAltered(t *testing.T, pts []gateway.Point) {
	t.Helper()
	for _, p := range pts {
		changed := storedAs(p.Measurement, true, true) != p.Measurement
		for _, tg := range p.Tags {
			if tg.Value != "" && (storedAs(tg.Key, false, false) != tg.Key || storedAs(tg.Value, false, false) != tg.Value) {
				changed = true
			}
		}
		for i, f := range p.Fields {
			if storedAs(f.Key, i == 0, false) != f.Key {
				changed = true
			}
		}
		if got := gateway.Altered(&p); got != changed {
			t.Errorf("Altered(%q %v %v) = %v, want %v", p.Measurement, p.Tags, p.Fields, got, changed)
		}
	}
}

func writeAll(t *testing.T, db *testenv.Influx, pts []gateway.Point) {
	t.Helper()
	lines := make([]string, len(pts))
	for i := range pts {
		lines[i] = string(gateway.AppendLine(nil, &pts[i]))
	}
	fs, _, dead := drain(t, db, lines)
	if fs.Written != int64(len(lines)) || len(dead) > 0 {
		t.Fatalf("written %d of %d; dead letters %q", fs.Written, len(lines), dead)
	}
}

// selectAll returns the rows of measurement by their id field, each as
// column → value.
func selectAll(t *testing.T, db *testenv.Influx, measurement string) map[int64]map[string]any {
	t.Helper()
	res, err := db.Query(testDB, `SELECT * FROM "`+measurement+`"`)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64]map[string]any{}
	for _, s := range res.Series {
		for _, vals := range s.Values {
			r := map[string]any{}
			for i, c := range s.Columns {
				if vals[i] != nil {
					r[c] = vals[i]
				}
			}
			id, ok := r["id"].(float64)
			if !ok {
				t.Fatalf("row without id: %v", r)
			}
			out[int64(id)] = r
		}
	}
	return out
}

func showMeasurements(t *testing.T, db *testenv.Influx) []string {
	t.Helper()
	res, err := db.Query(testDB, `SHOW MEASUREMENTS`)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range res.Series {
		for _, v := range s.Values {
			out = append(out, fmt.Sprint(v[0]))
		}
	}
	return out
}
