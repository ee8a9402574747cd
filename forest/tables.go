package forest

import (
	"fmt"
	"math"
)

// The forest fire weather rating of the national standard LY/T 1172
// (森林火险气象等级): the fire danger index is the sum of four factor
// scores — A from the day's highest air temperature, B from its lowest
// relative humidity, C from the consecutive days without rain, E from its
// highest wind speed (Beaufort classes) — less a monthly phenology
// correction, and the index falls in one of five levels.
//
// The tables are data, so that a province's variant of the standard is a
// configuration override (forest.danger.tables) rather than a code change.
//
// How a measured value falls between bands: the standard states its bands
// at the resolution of the observation (0.1 °C, 1 %RH, 0.1 m/s, whole days),
// so a value is first rounded to that resolution, half away from zero,
// then taken by the first band whose Upto it does not exceed. So 25.04 °C
// is 25.0 (A = 16) and 25.05 °C is 25.1 (A = 20); RH 24.4 % is 24 (B = 20)
// and 24.5 % is 25 (B = 16); a wind of 0.24 m/s is 0.2 (E = 0) and 0.25 m/s
// is 0.3 (E = 5).

// Band is one row of a factor table: a value not above Upto (after
// rounding to the table's resolution) scores Score. The last band has no
// Upto: it takes every value above the band before it.
type Band struct {
	Upto  *float64 `yaml:"upto"`
	Score int      `yaml:"score"`
}

// LevelBand is one row of the level table: an index not above Upto is
// Level (1–5). The last row has no Upto.
type LevelBand struct {
	Upto  *int `yaml:"upto"`
	Level int  `yaml:"level"`
}

// Tables are the rating tables (forest.danger.tables). A table left empty
// in the configuration is the national one (DefaultTables).
type Tables struct {
	Temperature []Band      `yaml:"temperature"` // A: the day's highest air temperature, °C
	Humidity    []Band      `yaml:"humidity"`    // B: the day's lowest relative humidity, %
	DryDays     []Band      `yaml:"dry_days"`    // C: consecutive days without rain before today
	Wind        []Band      `yaml:"wind"`        // E: the day's highest wind speed, m/s
	Levels      []LevelBand `yaml:"levels"`      // index → level
}

// Resolutions of the factors: values are rounded to these before lookup.
const (
	TemperatureStep = 0.1 // °C
	HumidityStep    = 1   // %RH
	DryDaysStep     = 1   // days
	WindStep        = 0.1 // m/s
	RainStep        = 0.1 // mm
)

// Rain limits of the dry-day count: a day with at most DryRain mm is dry
// (+1), one with at least WetRain mm resets the count to 0, and one in
// between leaves it as it was; a day that already has WetRain mm rates
// C = 0.
const (
	DryRain = 0.1
	WetRain = 5.0
)

func upto(v float64) *float64 { return &v }
func uptoI(v int) *int        { return &v }

// DefaultTables returns the tables of LY/T 1172 (a fresh copy).
func DefaultTables() Tables {
	return Tables{
		// A: ≤5 → 0, 5.1–10 → 4, 10.1–15 → 8, 15.1–20 → 12, 20.1–25 → 16, >25 → 20.
		Temperature: []Band{
			{upto(5), 0}, {upto(10), 4}, {upto(15), 8}, {upto(20), 12}, {upto(25), 16}, {nil, 20},
		},
		// B: ≤24 → 20, 25–34 → 16, 35–44 → 12, 45–54 → 8, 55–64 → 4, ≥65 → 0.
		Humidity: []Band{
			{upto(24), 20}, {upto(34), 16}, {upto(44), 12}, {upto(54), 8}, {upto(64), 4}, {nil, 0},
		},
		// C: 0 → 0, 1 → 5, … 9 → 45, ≥10 → 50.
		DryDays: []Band{
			{upto(0), 0}, {upto(1), 5}, {upto(2), 10}, {upto(3), 15}, {upto(4), 20},
			{upto(5), 25}, {upto(6), 30}, {upto(7), 35}, {upto(8), 40}, {upto(9), 45}, {nil, 50},
		},
		// E (Beaufort 0–8+): ≤0.2 → 0, 0.3–1.5 → 5, 1.6–3.3 → 10, 3.4–5.4 → 15,
		// 5.5–7.9 → 20, 8.0–10.7 → 25, 10.8–13.8 → 30, 13.9–17.1 → 35, ≥17.2 → 40.
		Wind: []Band{
			{upto(0.2), 0}, {upto(1.5), 5}, {upto(3.3), 10}, {upto(5.4), 15}, {upto(7.9), 20},
			{upto(10.7), 25}, {upto(13.8), 30}, {upto(17.1), 35}, {nil, 40},
		},
		// ≤25 → 1 低, 26–50 → 2 较低, 51–72 → 3 较高, 73–90 → 4 高, ≥91 → 5 极高.
		Levels: []LevelBand{{uptoI(25), 1}, {uptoI(50), 2}, {uptoI(72), 3}, {uptoI(90), 4}, {nil, 5}},
	}
}

// withDefaults fills the tables left empty from DefaultTables.
func (t Tables) withDefaults() Tables {
	d := DefaultTables()
	if len(t.Temperature) == 0 {
		t.Temperature = d.Temperature
	}
	if len(t.Humidity) == 0 {
		t.Humidity = d.Humidity
	}
	if len(t.DryDays) == 0 {
		t.DryDays = d.DryDays
	}
	if len(t.Wind) == 0 {
		t.Wind = d.Wind
	}
	if len(t.Levels) == 0 {
		t.Levels = d.Levels
	}
	return t
}

// steps counts v in units of step, rounded half away from zero. The tiny
// nudge keeps decimal halves that binary floating point stores just below
// the half (25.05 → 250.49999…) on the side a person reading the display
// expects.
func steps(v, step float64) int64 {
	x := v / step
	return int64(math.Round(x + math.Copysign(1e-9, x)))
}

// RoundTo rounds v to the resolution step, half away from zero.
func RoundTo(v, step float64) float64 { return float64(steps(v, step)) * step }

// score looks v up in bands at resolution step.
func score(bands []Band, step, v float64) int {
	n := steps(v, step)
	for _, b := range bands {
		if b.Upto == nil || n <= steps(*b.Upto, step) {
			return b.Score
		}
	}
	return bands[len(bands)-1].Score // not reached: validated tables end open
}

// level looks an index up in the level table.
func level(bands []LevelBand, index int) int {
	for _, b := range bands {
		if b.Upto == nil || index <= *b.Upto {
			return b.Level
		}
	}
	return bands[len(bands)-1].Level
}

// checkBands reports what is wrong with a factor table: it must have rows,
// ascending limits at its resolution, and an open last row.
func checkBands(bands []Band, step float64) error {
	if len(bands) == 0 {
		return nil // the national table
	}
	for i, b := range bands {
		last := i == len(bands)-1
		switch {
		case last && b.Upto != nil:
			return fmt.Errorf("the last row must have no upto (it takes every value above the row before)")
		case !last && b.Upto == nil:
			return fmt.Errorf("row %d: upto required (only the last row is open)", i)
		case b.Score < 0 || b.Score > 1000:
			return fmt.Errorf("row %d: score %d out of range 0..1000", i, b.Score)
		}
		if !last && (math.IsNaN(*b.Upto) || math.IsInf(*b.Upto, 0)) {
			return fmt.Errorf("row %d: upto must be a number", i)
		}
		if i > 0 && !last && steps(*b.Upto, step) <= steps(*bands[i-1].Upto, step) {
			return fmt.Errorf("row %d: upto %v must be above the previous row's %v (at a resolution of %v)", i, *b.Upto, *bands[i-1].Upto, step)
		}
	}
	return nil
}

// checkLevels reports what is wrong with a level table: ascending limits,
// levels 1–5 not falling, an open last row.
func checkLevels(bands []LevelBand) error {
	for i, b := range bands {
		last := i == len(bands)-1
		switch {
		case last && b.Upto != nil:
			return fmt.Errorf("the last row must have no upto")
		case !last && b.Upto == nil:
			return fmt.Errorf("row %d: upto required (only the last row is open)", i)
		case b.Level < 1 || b.Level > 5:
			return fmt.Errorf("row %d: level %d out of range 1..5", i, b.Level)
		case i > 0 && b.Level < bands[i-1].Level:
			return fmt.Errorf("row %d: level %d below the previous row's %d", i, b.Level, bands[i-1].Level)
		}
		if i > 0 && !last && *b.Upto <= *bands[i-1].Upto {
			return fmt.Errorf("row %d: upto %d must be above the previous row's %d", i, *b.Upto, *bands[i-1].Upto)
		}
	}
	return nil
}
