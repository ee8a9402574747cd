package forest

import (
	"math"
	"time"
)

// Weather is one good reading of the station.
type Weather struct {
	At          time.Time
	Temperature float64 // air temperature, °C
	Humidity    float64 // relative humidity, %
	Wind        float64 // wind speed, m/s
	Rain        float64 // mm: the day's rain so far (RainDaily) or a counter (RainCounter)
}

// Rating is a computed fire danger rating.
type Rating struct {
	At    time.Time
	Index int // A + B + C + E − phenology, not below 0
	Level int // 1 (低) … 5 (极高)
	A     int // highest temperature score
	B     int // lowest humidity score
	C     int // dry days score
	E     int // highest wind score
}

// Day is what the rating remembers of the current rating day, and the
// dry-day count carried from day to day. It is persisted as is (see
// stateDoc), so its fields are plain.
type Day struct {
	// Date is the rating day ("2006-01-02" in the site's time zone, the day
	// starting at day_start); "" before the first reading.
	Date string `json:"date"`
	// Readings counts the good readings of Date; 0 means nothing of the
	// day is known yet.
	Readings    int     `json:"readings"`
	MaxTemp     float64 `json:"max_temp_c"`
	MinHumidity float64 `json:"min_rh_pct"`
	MaxWind     float64 `json:"max_wind_ms"`
	Rain        float64 `json:"rain_mm"` // rain of Date so far
	// Counter is the last rain counter value (rain_mode counter) and
	// CounterDate the rating day it was read on.
	Counter     *float64 `json:"counter,omitempty"`
	CounterDate string   `json:"counter_date,omitempty"`
	// DryDays is the count of consecutive days without rain before Date.
	DryDays int `json:"dry_days"`
	// Last is the time of the latest reading taken: one not after it (a
	// redelivered or replayed reading) is not taken again.
	Last time.Time `json:"last,omitzero"`
}

// maxDryDays caps the count: far beyond any table, it only keeps the
// number bounded.
const maxDryDays = 3660

// Rain modes of the station's rain point.
const (
	// RainDaily: the point is the rain of the station's day so far (mm),
	// reset by the station at the start of its day, which should be
	// day_start. The day's rain is the largest value read that day.
	RainDaily = "daily"
	// RainCounter: the point is an ever-growing total (a tipping-bucket
	// counter, mm). The day's rain is the sum of its rises between two
	// readings of that day; a fall (the counter was reset) counts nothing
	// and starts again from the new value. The rise between the last
	// reading of a day and the first of the next is not counted (it
	// belongs to neither for sure): at most one reading interval of rain.
	RainCounter = "counter"
)

// rater holds the compiled configuration the pure decisions need.
type rater struct {
	tables    Tables
	loc       *time.Location
	dayStart  int // minutes after local midnight
	phenology [13]int
	rainMode  string
}

// dateOf is the rating day of t: the local date, the day starting at
// dayStart minutes after local midnight.
func (r *rater) dateOf(t time.Time) string {
	lt := t.In(r.loc)
	y, m, d := lt.Date()
	if lt.Hour()*60+lt.Minute() < r.dayStart {
		d--
	}
	return time.Date(y, m, d, 12, 0, 0, 0, time.UTC).Format(time.DateOnly)
}

// closeDay carries the dry-day count over the end of a day with rain mm:
// a dry day (≤ 0.1 mm) adds one, a wet one (≥ 5 mm) resets it, one in
// between leaves it.
func closeDay(dry int, rain float64) int {
	switch n := steps(rain, RainStep); {
	case n <= steps(DryRain, RainStep):
		return min(dry+1, maxDryDays)
	case n >= steps(WetRain, RainStep):
		return 0
	}
	return dry
}

// advance moves d to the rating day date (later than d.Date). The day that
// ends is counted only if it had readings: a day the station or the
// gateway was down for, wholly, is unknown and leaves the count as it is
// (it neither passes for dry nor for wet). So do the days in between.
func advance(d Day, date string) Day {
	if d.Date != "" && d.Readings > 0 {
		d.DryDays = closeDay(d.DryDays, d.Rain)
	}
	return Day{Date: date, Counter: d.Counter, CounterDate: d.CounterDate, DryDays: d.DryDays, Last: d.Last}
}

// take adds a good reading w to the day and rates it. ok is false when w
// is not after the latest reading taken: a redelivered or replayed reading
// (rating it again would rewrite its fire_danger point with the day as it
// stands now) or a late one of a day already closed.
func (r *rater) take(d Day, w Weather) (Day, Rating, bool) {
	if !w.At.After(d.Last) {
		return d, Rating{}, false
	}
	date := r.dateOf(w.At)
	switch {
	case d.Date == "":
		d.Date = date
	case date < d.Date:
		return d, Rating{}, false
	case date > d.Date:
		d = advance(d, date)
	}
	if d.Readings == 0 {
		d.MaxTemp, d.MinHumidity, d.MaxWind, d.Rain = w.Temperature, w.Humidity, w.Wind, 0
	} else {
		d.MaxTemp = max(d.MaxTemp, w.Temperature)
		d.MinHumidity = min(d.MinHumidity, w.Humidity)
		d.MaxWind = max(d.MaxWind, w.Wind)
	}
	d.Readings++
	d.Last = w.At
	switch r.rainMode {
	case RainCounter:
		if d.Counter != nil && d.CounterDate == date && w.Rain > *d.Counter {
			d.Rain += w.Rain - *d.Counter
		}
		c := w.Rain
		d.Counter, d.CounterDate = &c, date
	default:
		d.Rain = max(d.Rain, w.Rain)
	}
	return d, r.rate(d, w.At), true
}

// rate rates the day d as it stands.
func (r *rater) rate(d Day, at time.Time) Rating {
	t := &r.tables
	rt := Rating{
		At: at,
		A:  score(t.Temperature, TemperatureStep, d.MaxTemp),
		B:  score(t.Humidity, HumidityStep, d.MinHumidity),
		C:  score(t.DryDays, DryDaysStep, float64(d.DryDays)),
		E:  score(t.Wind, WindStep, d.MaxWind),
	}
	if steps(d.Rain, RainStep) >= steps(WetRain, RainStep) {
		rt.C = 0 // already a wet day
	}
	month := 0
	if day, err := time.Parse(time.DateOnly, d.Date); err == nil {
		month = int(day.Month())
	}
	rt.Index = max(rt.A+rt.B+rt.C+rt.E-r.phenology[month], 0)
	rt.Level = level(t.Levels, rt.Index)
	return rt
}

// plausible reports whether w can be a reading at all: a value outside
// these bounds is a broken sensor, not weather, and must not rate.
func plausible(w Weather) bool {
	for _, v := range []float64{w.Temperature, w.Humidity, w.Wind, w.Rain} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return w.Temperature >= -80 && w.Temperature <= 70 &&
		w.Humidity >= 0 && w.Humidity <= 100 &&
		w.Wind >= 0 && w.Wind <= 120 && w.Rain >= 0
}
