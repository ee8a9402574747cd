package forest

import (
	"testing"
	"time"
)

func shanghai(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func mustRater(t *testing.T, cfg Config, loc *time.Location) *rater {
	t.Helper()
	r, _, err := cfg.compile(loc)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestDryDaysWeek runs a week of readings, four a day, with a 5 mm day in
// the middle and a 2 mm day after it, and checks the count and C each day.
func TestDryDaysWeek(t *testing.T) {
	loc := shanghai(t)
	r := mustRater(t, Config{}, loc)
	d := Day{DryDays: 3}
	type dayPlan struct {
		rain    []float64 // rain so far at 06, 12, 18, 23 h (daily mode)
		wantDry int       // the count during the day (days before it)
		wantC   int       // C of the day's last rating
	}
	plan := []dayPlan{
		{[]float64{0, 0, 0, 0}, 3, 15},     // Mon: dry
		{[]float64{0, 0, 0.1, 0.1}, 4, 20}, // Tue: 0.1 mm still dry
		{[]float64{0, 1, 3, 5.0}, 5, 0},    // Wed: reaches 5 mm: C 0 from then on
		{[]float64{0, 0, 0, 0}, 0, 0},      // Thu: count reset by Wed
		{[]float64{0, 0.2, 0.2, 2}, 1, 5},  // Fri: 2 mm leaves the count
		{[]float64{0, 0, 0, 0}, 1, 5},      // Sat: after Fri's 2 mm still 1
		{[]float64{0, 0, 0, 0}, 2, 10},     // Sun
		{[]float64{0, 0, 0, 0}, 3, 15},     // next Mon
	}
	start := time.Date(2026, 11, 16, 0, 0, 0, 0, loc) // a Monday
	for i, p := range plan {
		var rt Rating
		for j, h := range []int{6, 12, 18, 23} {
			var ok bool
			d, rt, ok = r.take(d, Weather{At: start.AddDate(0, 0, i).Add(time.Duration(h) * time.Hour),
				Temperature: 15, Humidity: 50, Wind: 2, Rain: p.rain[j]})
			if !ok {
				t.Fatalf("day %d %02dh: not rated", i, h)
			}
			if d.DryDays != p.wantDry {
				t.Fatalf("day %d %02dh: dry days %d, want %d", i, h, d.DryDays, p.wantDry)
			}
		}
		if rt.C != p.wantC {
			t.Errorf("day %d: C %d, want %d", i, rt.C, p.wantC)
		}
	}
}

// TestDayBoundaryShanghai: 23:59 and 00:01 local are different days (and
// 15:59 and 16:01 UTC are the same moments); a day_start of 08:00 moves
// the boundary.
func TestDayBoundaryShanghai(t *testing.T) {
	loc := shanghai(t)
	r := mustRater(t, Config{}, loc)
	before := time.Date(2026, 11, 22, 23, 59, 0, 0, loc)
	after := time.Date(2026, 11, 23, 0, 1, 0, 0, loc)
	if got := before.UTC().Format("15:04"); got != "15:59" {
		t.Fatalf("23:59 in Shanghai is %s UTC", got)
	}
	if a, b := r.dateOf(before), r.dateOf(after); a != "2026-11-22" || b != "2026-11-23" {
		t.Fatalf("days %s, %s", a, b)
	}
	// A hot afternoon, then a cool night reading after midnight: the new
	// day starts with only its own reading, and the dry day is counted.
	d := Day{DryDays: 2}
	d, rt, _ := r.take(d, Weather{At: time.Date(2026, 11, 22, 14, 0, 0, 0, loc), Temperature: 27, Humidity: 20, Wind: 6})
	if rt.A != 20 {
		t.Fatalf("afternoon A %d", rt.A)
	}
	d, rt, _ = r.take(d, Weather{At: before, Temperature: 9, Humidity: 70, Wind: 1})
	if rt.A != 20 || rt.B != 20 || d.DryDays != 2 {
		t.Fatalf("23:59 still the day's max and min: %+v, dry %d", rt, d.DryDays)
	}
	d, rt, _ = r.take(d, Weather{At: after, Temperature: 9, Humidity: 70, Wind: 1})
	if rt.A != 4 || rt.B != 0 || rt.E != 5 || d.DryDays != 3 || rt.C != 15 {
		t.Fatalf("00:01 starts a new day: %+v, dry %d", rt, d.DryDays)
	}
	// A reading for the closed day, arriving late, changes nothing.
	if _, _, ok := r.take(d, Weather{At: before.Add(-time.Hour), Temperature: 40, Humidity: 5, Wind: 20}); ok {
		t.Fatal("a late reading of a closed day was rated")
	}

	r8 := mustRater(t, Config{Danger: DangerConfig{DayStart: "08:00"}}, loc)
	if a, b := r8.dateOf(time.Date(2026, 11, 23, 7, 59, 0, 0, loc)), r8.dateOf(time.Date(2026, 11, 23, 8, 0, 0, 0, loc)); a != "2026-11-22" || b != "2026-11-23" {
		t.Fatalf("day_start 08:00: %s, %s", a, b)
	}
}

// TestMissedDays: days without any reading (the station or the gateway
// down) neither count as dry nor reset the count.
func TestMissedDays(t *testing.T) {
	loc := shanghai(t)
	r := mustRater(t, Config{}, loc)
	d := Day{DryDays: 4}
	d, _, _ = r.take(d, Weather{At: time.Date(2026, 11, 1, 12, 0, 0, 0, loc), Temperature: 15, Humidity: 50})
	d, _, _ = r.take(d, Weather{At: time.Date(2026, 11, 5, 12, 0, 0, 0, loc), Temperature: 15, Humidity: 50})
	if d.DryDays != 5 { // Nov 1 was dry; Nov 2–4 unknown
		t.Fatalf("dry days %d after 3 unknown days, want 5", d.DryDays)
	}
}

// TestRainCounter: a tipping-bucket counter; rises within a day add up, a
// reset counts nothing, the step across midnight is not counted.
func TestRainCounter(t *testing.T) {
	loc := shanghai(t)
	r := mustRater(t, Config{Danger: DangerConfig{RainMode: RainCounter}}, loc)
	d := Day{DryDays: 6}
	at := func(day, h int) time.Time { return time.Date(2026, 11, day, h, 0, 0, 0, loc) }
	for _, s := range []struct {
		at      time.Time
		counter float64
		rain    float64
	}{
		{at(10, 1), 100.0, 0}, // first value: the base
		{at(10, 6), 101.5, 1.5},
		{at(10, 9), 0.5, 1.5},  // counter reset: nothing counted, new base
		{at(10, 12), 2.0, 3.0}, // +1.5
		{at(10, 23), 4.0, 5.0}, // +2.0: 5 mm, C 0
		{at(11, 1), 4.2, 0},    // across midnight: not counted
		{at(11, 3), 4.2, 0},
	} {
		var rt Rating
		d, rt, _ = r.take(d, Weather{At: s.at, Temperature: 15, Humidity: 50, Rain: s.counter})
		if RoundTo(d.Rain, RainStep) != s.rain {
			t.Fatalf("%s counter %v: day's rain %v, want %v", s.at, s.counter, d.Rain, s.rain)
		}
		if s.rain >= 5 && rt.C != 0 {
			t.Fatalf("5 mm counted but C %d", rt.C)
		}
	}
	if d.DryDays != 0 {
		t.Fatalf("after a 5 mm day the count is %d", d.DryDays)
	}
}

// TestImplausible: values no weather has are not rated.
func TestImplausible(t *testing.T) {
	for _, w := range []Weather{
		{Temperature: 15, Humidity: 101},
		{Temperature: 15, Humidity: -1},
		{Temperature: 95, Humidity: 50},
		{Temperature: 15, Humidity: 50, Wind: -1},
		{Temperature: 15, Humidity: 50, Rain: -0.5},
	} {
		if plausible(w) {
			t.Errorf("%+v passes as weather", w)
		}
	}
	if !plausible(Weather{Temperature: -20, Humidity: 0, Wind: 0, Rain: 0}) {
		t.Error("a cold dry calm day does not pass")
	}
}
