package forest

import (
	"testing"
	"time"
)

// TestFactorScores: each factor at its band edges, including how values
// between the standard's stated bands fall (rounded to the resolution).
func TestFactorScores(t *testing.T) {
	tb := DefaultTables()
	for _, c := range []struct {
		name  string
		bands []Band
		step  float64
		v     float64
		want  int
	}{
		{"temp -10", tb.Temperature, TemperatureStep, -10, 0},
		{"temp 5.0", tb.Temperature, TemperatureStep, 5.0, 0},
		{"temp 5.04", tb.Temperature, TemperatureStep, 5.04, 0},
		{"temp 5.05", tb.Temperature, TemperatureStep, 5.05, 4},
		{"temp 5.1", tb.Temperature, TemperatureStep, 5.1, 4},
		{"temp 10.0", tb.Temperature, TemperatureStep, 10.0, 4},
		{"temp 10.1", tb.Temperature, TemperatureStep, 10.1, 8},
		{"temp 15.1", tb.Temperature, TemperatureStep, 15.1, 12},
		{"temp 20.0", tb.Temperature, TemperatureStep, 20.0, 12},
		{"temp 20.1", tb.Temperature, TemperatureStep, 20.1, 16},
		{"temp 25.0", tb.Temperature, TemperatureStep, 25.0, 16},
		{"temp 25.04", tb.Temperature, TemperatureStep, 25.04, 16},
		{"temp 25.05", tb.Temperature, TemperatureStep, 25.05, 20},
		{"temp 25.1", tb.Temperature, TemperatureStep, 25.1, 20},
		{"temp 38", tb.Temperature, TemperatureStep, 38, 20},

		{"rh 100", tb.Humidity, HumidityStep, 100, 0},
		{"rh 65", tb.Humidity, HumidityStep, 65, 0},
		{"rh 64.6", tb.Humidity, HumidityStep, 64.6, 0},
		{"rh 64.4", tb.Humidity, HumidityStep, 64.4, 4},
		{"rh 64", tb.Humidity, HumidityStep, 64, 4},
		{"rh 55", tb.Humidity, HumidityStep, 55, 4},
		{"rh 54", tb.Humidity, HumidityStep, 54, 8},
		{"rh 45", tb.Humidity, HumidityStep, 45, 8},
		{"rh 44", tb.Humidity, HumidityStep, 44, 12},
		{"rh 35", tb.Humidity, HumidityStep, 35, 12},
		{"rh 34", tb.Humidity, HumidityStep, 34, 16},
		{"rh 25", tb.Humidity, HumidityStep, 25, 16},
		{"rh 24.5", tb.Humidity, HumidityStep, 24.5, 16},
		{"rh 24.4", tb.Humidity, HumidityStep, 24.4, 20},
		{"rh 24", tb.Humidity, HumidityStep, 24, 20},
		{"rh 3", tb.Humidity, HumidityStep, 3, 20},

		{"dry 0", tb.DryDays, DryDaysStep, 0, 0},
		{"dry 1", tb.DryDays, DryDaysStep, 1, 5},
		{"dry 5", tb.DryDays, DryDaysStep, 5, 25},
		{"dry 9", tb.DryDays, DryDaysStep, 9, 45},
		{"dry 10", tb.DryDays, DryDaysStep, 10, 50},
		{"dry 60", tb.DryDays, DryDaysStep, 60, 50},

		{"wind 0", tb.Wind, WindStep, 0, 0},
		{"wind 0.2", tb.Wind, WindStep, 0.2, 0},
		{"wind 0.24", tb.Wind, WindStep, 0.24, 0},
		{"wind 0.25", tb.Wind, WindStep, 0.25, 5},
		{"wind 0.3", tb.Wind, WindStep, 0.3, 5},
		{"wind 1.5", tb.Wind, WindStep, 1.5, 5},
		{"wind 1.6", tb.Wind, WindStep, 1.6, 10},
		{"wind 3.3", tb.Wind, WindStep, 3.3, 10},
		{"wind 3.4", tb.Wind, WindStep, 3.4, 15},
		{"wind 5.4", tb.Wind, WindStep, 5.4, 15},
		{"wind 5.5", tb.Wind, WindStep, 5.5, 20},
		{"wind 7.9", tb.Wind, WindStep, 7.9, 20},
		{"wind 8.0", tb.Wind, WindStep, 8.0, 25},
		{"wind 10.7", tb.Wind, WindStep, 10.7, 25},
		{"wind 10.8", tb.Wind, WindStep, 10.8, 30},
		{"wind 13.8", tb.Wind, WindStep, 13.8, 30},
		{"wind 13.9", tb.Wind, WindStep, 13.9, 35},
		{"wind 17.1", tb.Wind, WindStep, 17.1, 35},
		{"wind 17.2", tb.Wind, WindStep, 17.2, 40},
		{"wind 32", tb.Wind, WindStep, 32, 40},
		// float32 registers: 7.9 read as 7.900000095367432 is still 7.9.
		{"wind float32 7.9", tb.Wind, WindStep, float64(float32(7.9)), 20},
	} {
		if got := score(c.bands, c.step, c.v); got != c.want {
			t.Errorf("%s: score %d, want %d", c.name, got, c.want)
		}
	}
}

func TestLevels(t *testing.T) {
	tb := DefaultTables()
	for _, c := range []struct{ index, want int }{
		{0, 1}, {25, 1}, {26, 2}, {50, 2}, {51, 3}, {72, 3}, {73, 4}, {90, 4}, {91, 5}, {160, 5},
	} {
		if got := level(tb.Levels, c.index); got != c.want {
			t.Errorf("index %d: level %d, want %d", c.index, got, c.want)
		}
	}
}

// TestRainClasses: how a day's rain moves the dry-day count, at the edges.
func TestRainClasses(t *testing.T) {
	for _, c := range []struct {
		rain float64
		want int // from 4
	}{
		{0, 5}, {0.1, 5}, {0.14, 5}, {0.15, 4}, {0.2, 4}, {2, 4}, {4.9, 4}, {4.94, 4}, {4.95, 0}, {5, 0}, {30, 0},
	} {
		if got := closeDay(4, c.rain); got != c.want {
			t.Errorf("rain %v mm: dry days %d → %d, want %d", c.rain, 4, got, c.want)
		}
	}
}

// TestIndexWorkedExamples rates whole days against indexes worked out by
// hand from the tables.
func TestIndexWorkedExamples(t *testing.T) {
	loc, _ := time.LoadLocation("Asia/Shanghai")
	for _, c := range []struct {
		name          string
		w             Weather
		dry           int
		phen          int
		a, b, cc, e   int
		index, levelW int
	}{
		// A cool damp day after rain: 4 + 4 + 0 + 5 = 13 → 1.
		{"damp", Weather{Temperature: 8, Humidity: 60, Wind: 1, Rain: 0}, 0, 0, 4, 4, 0, 5, 13, 1},
		// Mild, six dry days: 12 + 12 + 30 + 10 = 64 → 3.
		{"mild dry", Weather{Temperature: 18, Humidity: 40, Wind: 3, Rain: 0}, 6, 0, 12, 12, 30, 10, 64, 3},
		// 25.0 °C stays in 16: 16 + 16 + 25 + 15 = 72 → 3 (the top of 3).
		{"edge 72", Weather{Temperature: 25.0, Humidity: 30, Wind: 5, Rain: 0}, 5, 0, 16, 16, 25, 15, 72, 3},
		// 25.1 °C is 20: 20 + 16 + 25 + 15 = 76 → 4.
		{"edge 76", Weather{Temperature: 25.1, Humidity: 30, Wind: 5, Rain: 0}, 5, 0, 20, 16, 25, 15, 76, 4},
		// RH 24 against 25 moves 16 → 20: 20 + 20 + 35 + 20 = 95 → 5.
		{"rh 24", Weather{Temperature: 26, Humidity: 24, Wind: 6, Rain: 0}, 7, 0, 20, 20, 35, 20, 95, 5},
		{"rh 25", Weather{Temperature: 26, Humidity: 25, Wind: 6, Rain: 0}, 7, 0, 20, 16, 35, 20, 91, 5},
		// The same with phenology 5: 86 → 4.
		{"phenology", Weather{Temperature: 26, Humidity: 25, Wind: 6, Rain: 0}, 7, 5, 20, 16, 35, 20, 86, 4},
		// Already 5 mm today: C = 0 whatever the count.
		{"wet today", Weather{Temperature: 26, Humidity: 25, Wind: 6, Rain: 5}, 12, 0, 20, 16, 0, 20, 56, 3},
		// 4.9 mm today: C holds.
		{"4.9 today", Weather{Temperature: 26, Humidity: 25, Wind: 6, Rain: 4.9}, 12, 0, 20, 16, 50, 20, 106, 5},
		// A large phenology correction does not make the index negative.
		{"floor", Weather{Temperature: 0, Humidity: 90, Wind: 0, Rain: 0}, 0, 20, 0, 0, 0, 0, 0, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := Config{Danger: DangerConfig{Phenology: map[int]int{11: c.phen}}}
			r, _, err := cfg.compile(loc)
			if err != nil {
				t.Fatal(err)
			}
			c.w.At = time.Date(2026, 11, 22, 14, 0, 0, 0, loc)
			_, rt, ok := r.take(Day{DryDays: c.dry}, c.w)
			if !ok {
				t.Fatal("not rated")
			}
			got := [6]int{rt.A, rt.B, rt.C, rt.E, rt.Index, rt.Level}
			want := [6]int{c.a, c.b, c.cc, c.e, c.index, c.levelW}
			if got != want {
				t.Errorf("A,B,C,E,index,level = %v, want %v", got, want)
			}
		})
	}
}

// TestTablesOverride: a province's table replaces the national one.
func TestTablesOverride(t *testing.T) {
	cfg := Config{Danger: DangerConfig{Tables: Tables{
		Temperature: []Band{{upto(10), 0}, {nil, 10}},
		Levels:      []LevelBand{{uptoI(40), 1}, {uptoI(60), 3}, {nil, 5}},
	}}}
	r, _, err := cfg.compile(time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	_, rt, _ := r.take(Day{DryDays: 2}, Weather{At: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), Temperature: 12, Humidity: 50, Wind: 2})
	// A 10 (province) + B 8 + C 10 + E 10 (national) = 38 → 1.
	if rt.A != 10 || rt.Index != 38 || rt.Level != 1 {
		t.Errorf("rating %+v, want A 10, index 38, level 1", rt)
	}
}

func TestTablesValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		t    Tables
		ok   bool
	}{
		{"national", DefaultTables(), true},
		{"empty", Tables{}, true},
		{"closed last", Tables{Wind: []Band{{upto(1), 0}, {upto(2), 5}}}, false},
		{"open middle", Tables{Wind: []Band{{nil, 0}, {nil, 5}}}, false},
		{"not ascending", Tables{Wind: []Band{{upto(2), 0}, {upto(1), 5}, {nil, 10}}}, false},
		{"same at resolution", Tables{Wind: []Band{{upto(1.01), 0}, {upto(1.04), 5}, {nil, 10}}}, false},
		{"level 6", Tables{Levels: []LevelBand{{uptoI(10), 1}, {nil, 6}}}, false},
		{"level falls", Tables{Levels: []LevelBand{{uptoI(10), 3}, {nil, 2}}}, false},
	} {
		cfg := Config{Danger: DangerConfig{Station: "WS-01", Points: Points{"t", "h", "w", "r"}, Tables: c.t}}
		d, err := New(cfg, Options{})
		if (err == nil) != c.ok {
			t.Errorf("%s: New error %v, want ok=%v", c.name, err, c.ok)
		}
		_ = d
	}
}
