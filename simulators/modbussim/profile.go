package modbussim

import "fmt"

// Point is one value in a unit's register map, described as hazardgw's
// configuration describes it: engineering = raw*scale + offset.
type Point struct {
	Name    string  `json:"name"`
	Area    Area    `json:"area"`
	Address uint16  `json:"address"` // zero-based protocol address
	Type    string  `json:"type"`    // int16 uint16 int32 uint32 int64 uint64 float32 float64 bool
	Order   string  `json:"order,omitempty"`
	Scale   float64 `json:"scale"` // 0 means 1
	Offset  float64 `json:"offset"`
	Unit    string  `json:"unit,omitempty"`
	// Bit is the bit (0 = least significant) of a holding or input register
	// that holds a bool point.
	Bit uint8 `json:"bit,omitempty"`

	// Min and Max are the measuring range: generated values are clamped to
	// it (a real transmitter saturates). Both zero: no clamping.
	Min float64 `json:"min,omitempty"`
	Max float64 `json:"max,omitempty"`
	// Default is the value a unit starts with when it adopts the profile.
	Default float64 `json:"default,omitempty"`
}

// compiled is a Point with its codec parsed once.
type compiled struct {
	Point
	c codec
}

func compilePoint(p Point) (compiled, error) {
	c, err := newCodec(p.Type, p.Order, p.Scale, p.Offset)
	if err != nil {
		return compiled{}, fmt.Errorf("compile point %s: %w", p.Name, err)
	}
	if !p.Area.IsBit() && !p.Area.IsRegister() {
		return compiled{}, fmt.Errorf("compile point %s: invalid area %d", p.Name, p.Area)
	}
	if p.Area.IsBit() && c.typ != typeBool {
		return compiled{}, fmt.Errorf("compile point %s: %s area holds only bool points", p.Name, p.Area)
	}
	if c.typ == typeBool && p.Bit > 15 {
		return compiled{}, fmt.Errorf("compile point %s: bit %d out of 0..15", p.Name, p.Bit)
	}
	if err := checkSpan(p.Address, max(c.typ.words(), 1)); err != nil {
		return compiled{}, fmt.Errorf("compile point %s: %w", p.Name, err)
	}
	return compiled{Point: p, c: c}, nil
}

// clamp limits v to the point's measuring range, if it has one.
func (p *compiled) clamp(v float64) float64 {
	if p.Min == 0 && p.Max == 0 {
		return v
	}
	return min(max(v, p.Min), p.Max)
}

// Profile is the register map of a kind of device.
type Profile struct {
	Name        string  `json:"name"` // also the gateway's device kind
	Description string  `json:"description"`
	Points      []Point `json:"points"`
}

// profile is a Profile with its points compiled.
type profile struct {
	Profile
	points []compiled
}

func (p *profile) point(name string) (*compiled, bool) {
	for i := range p.points {
		if p.points[i].Name == name {
			return &p.points[i], true
		}
	}
	return nil, false
}

// builtinProfiles are the register maps documented in README.md. Keep the
// two in step: the README tables are what engineers copy into configs.
func builtinProfiles() []Profile {
	return []Profile{
		{
			Name:        "gas_detector",
			Description: "fixed-point combustible/toxic gas detector (CH4, H2S, CO, O2) with alarm relay",
			Points: []Point{
				{Name: "ch4", Area: Holding, Address: 0, Type: "float32", Order: "ABCD", Scale: 1, Unit: "%LEL", Min: 0, Max: 100},
				{Name: "h2s", Area: Holding, Address: 2, Type: "uint16", Order: "ABCD", Scale: 0.1, Unit: "ppm", Min: 0, Max: 100},
				{Name: "co", Area: Holding, Address: 3, Type: "uint32", Order: "CDAB", Scale: 1, Unit: "ppm", Min: 0, Max: 1000},
				{Name: "alarm", Area: Holding, Address: 5, Type: "bool", Bit: 0},
				{Name: "fault", Area: Holding, Address: 5, Type: "bool", Bit: 1},
				{Name: "o2", Area: Input, Address: 0, Type: "int16", Order: "ABCD", Scale: 0.01, Unit: "%VOL", Min: 0, Max: 30, Default: 20.9},
				{Name: "sensor_temp_c", Area: Input, Address: 1, Type: "uint16", Order: "ABCD", Scale: 0.1, Offset: -40, Unit: "°C", Min: -40, Max: 85, Default: 25},
				{Name: "relay", Area: Coil, Address: 0, Type: "bool"},
			},
		},
		{
			Name:        "tank",
			Description: "storage tank gauge: radar level, temperature, vapour pressure, volume, net flow, level switches",
			Points: []Point{
				{Name: "level_mm", Area: Holding, Address: 0, Type: "uint32", Order: "CDAB", Scale: 0.1, Unit: "mm", Min: 0, Max: 20000, Default: 8000},
				{Name: "temperature_c", Area: Holding, Address: 2, Type: "int16", Order: "ABCD", Scale: 0.1, Unit: "°C", Min: -40, Max: 150, Default: 25},
				{Name: "pressure_kpa", Area: Holding, Address: 3, Type: "float32", Order: "BADC", Scale: 1, Unit: "kPa", Min: -10, Max: 500, Default: 1.5},
				{Name: "volume_m3", Area: Holding, Address: 5, Type: "float32", Order: "DCBA", Scale: 1, Unit: "m3", Min: 0, Max: 5000, Default: 3000},
				{Name: "flow_m3h", Area: Holding, Address: 7, Type: "int32", Order: "BADC", Scale: 0.01, Unit: "m3/h", Min: -2000, Max: 2000},
				{Name: "high_level", Area: Discrete, Address: 0, Type: "bool"},
				{Name: "high_high_level", Area: Discrete, Address: 1, Type: "bool"},
			},
		},
		{
			Name:        "weather_station",
			Description: "automatic weather station for forest-fire danger: temperature, humidity, wind, rain",
			Points: []Point{
				{Name: "air_temp_c", Area: Input, Address: 0, Type: "int16", Order: "ABCD", Scale: 0.1, Unit: "°C", Min: -40, Max: 60, Default: 18},
				{Name: "rh_pct", Area: Input, Address: 1, Type: "uint16", Order: "ABCD", Scale: 0.1, Unit: "%", Min: 0, Max: 100, Default: 55},
				{Name: "wind_ms", Area: Input, Address: 2, Type: "float32", Order: "CDAB", Scale: 1, Unit: "m/s", Min: 0, Max: 60, Default: 3},
				{Name: "wind_dir_deg", Area: Input, Address: 4, Type: "uint16", Order: "ABCD", Scale: 1, Unit: "°", Min: 0, Max: 359, Default: 180},
				{Name: "rain_mm", Area: Input, Address: 5, Type: "float64", Order: "ABCD", Scale: 1, Unit: "mm", Min: 0, Max: 1e6},
			},
		},
	}
}

// compileProfiles compiles the built-in profiles. It fails only on a
// programming error in builtinProfiles, which a test guards.
func compileProfiles(list []Profile) (map[string]*profile, error) {
	out := make(map[string]*profile, len(list))
	for _, p := range list {
		cp := &profile{Profile: p}
		for _, pt := range p.Points {
			c, err := compilePoint(pt)
			if err != nil {
				return nil, fmt.Errorf("compile profile %s: %w", p.Name, err)
			}
			cp.points = append(cp.points, c)
		}
		out[p.Name] = cp
	}
	return out, nil
}

// Profiles returns the built-in device profiles.
// The slices are fresh copies the caller may keep.
func Profiles() []Profile { return builtinProfiles() }
