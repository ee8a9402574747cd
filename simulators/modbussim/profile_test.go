package modbussim

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestBuiltinProfilesCompile(t *testing.T) {
	if _, err := compileProfiles(builtinProfiles()); err != nil {
		t.Fatal(err)
	}
}

// Points of a profile must not share registers, except bool points that
// are different bits of one status register.
func TestProfilesDoNotOverlap(t *testing.T) {
	for _, p := range Profiles() {
		type slot struct {
			area Area
			addr uint16
		}
		owner := make(map[slot]string)
		bitOwner := make(map[string]string)
		for _, pt := range p.Points {
			c, err := compilePoint(pt)
			mustNoErr(t, err)
			if c.c.typ == typeBool && pt.Area.IsRegister() {
				key := fmt.Sprintf("%s/%d/%d", pt.Area, pt.Address, pt.Bit)
				if prev, ok := bitOwner[key]; ok {
					t.Errorf("%s: %s and %s share bit %s", p.Name, prev, pt.Name, key)
				}
				bitOwner[key] = pt.Name
				if prev, ok := owner[slot{pt.Area, pt.Address}]; ok && !strings.HasPrefix(prev, "bits:") {
					t.Errorf("%s: %s overlaps %s", p.Name, pt.Name, prev)
				}
				owner[slot{pt.Area, pt.Address}] = "bits:" + pt.Name
				continue
			}
			for i := range max(c.c.typ.words(), 1) {
				s := slot{pt.Area, pt.Address + uint16(i)}
				if prev, ok := owner[s]; ok {
					t.Errorf("%s: %s overlaps %s at %s %d", p.Name, pt.Name, prev, s.area, s.addr)
				}
				owner[s] = pt.Name
			}
		}
	}
}

// profileTable renders a profile's register map as the README shows it.
func profileTable(p Profile) string {
	var b strings.Builder
	b.WriteString("| point | area | address | registers | type | order | scale | offset | unit | bit |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, pt := range p.Points {
		c, _ := compilePoint(pt) // TestBuiltinProfilesCompile checks the error
		regs := "-"
		if n := c.c.typ.words(); n > 1 {
			regs = fmt.Sprintf("%d-%d", pt.Address, int(pt.Address)+n-1)
		} else if pt.Area.IsRegister() {
			regs = strconv.Itoa(int(pt.Address))
		}
		order, bit := pt.Order, "-"
		if pt.Type == "bool" {
			order = "-"
			if pt.Area.IsRegister() {
				bit = strconv.Itoa(int(pt.Bit))
			}
		}
		unit := pt.Unit
		if unit == "" {
			unit = "-"
		}
		scale := pt.Scale
		if scale == 0 {
			scale = 1
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %s | %s | %s | %g | %g | %s | %s |\n",
			pt.Name, pt.Area, pt.Address, regs, pt.Type, order, scale, pt.Offset, unit, bit)
	}
	return b.String()
}

// The README's tables are what engineers copy into gateway configs, so
// they must be exactly the profiles.
func TestReadmeHasProfileTables(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	mustNoErr(t, err)
	for _, p := range Profiles() {
		if table := profileTable(p); !strings.Contains(string(readme), table) {
			t.Errorf("README.md lacks the current table of %s:\n%s", p.Name, table)
		}
	}
}

// The register contents of each profile, read over the wire, against words
// worked out by hand: this is what the gateway must decode.
func TestProfilesOnTheWire(t *testing.T) {
	s, addr := startTCP(t)
	c := dialTCP(t, addr)
	set := func(unit uint8, profile string, vals map[string]float64) {
		t.Helper()
		u := s.Unit(unit)
		mustNoErr(t, u.UseProfile(profile, ""))
		for name, v := range vals {
			mustNoErr(t, u.Override(name, v))
		}
	}
	read := func(unit byte, fc byte, addr, n uint16) []uint16 {
		t.Helper()
		return regsOf(t, c.call(t, unit, readReq(fc, addr, n)))
	}
	check := func(what string, got, want []uint16) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s: %04X, want %04X", what, got, want)
		}
	}

	set(1, "gas_detector", map[string]float64{"ch4": 57.3, "h2s": 12.3, "co": 70000, "alarm": 1, "fault": 1, "o2": 20.9, "sensor_temp_c": 25, "relay": 1})
	check("gas_detector holding 0..5", read(1, fcReadHolding, 0, 6), []uint16{
		0x4265, 0x3333, // ch4 57.3 float32 ABCD: 1.790625 * 2^5
		0x007B,         // h2s 12.3 ppm / 0.1 = 123
		0x1170, 0x0001, // co 70000 = 0x00011170, CDAB
		0x0003, // alarm bit 0, fault bit 1
	})
	check("gas_detector input 0..1", read(1, fcReadInput, 0, 2), []uint16{
		0x082A, // o2 20.9 / 0.01 = 2090
		0x028A, // sensor_temp_c (25 - -40) / 0.1 = 650
	})
	if got := c.call(t, 1, readReq(fcReadCoils, 0, 1)); got[2] != 1 {
		t.Errorf("relay coil: % X", got)
	}

	set(2, "tank", map[string]float64{"level_mm": 12345.6, "temperature_c": -5.5, "pressure_kpa": 1.5, "volume_m3": 3000, "flow_m3h": -12.5, "high_level": 1})
	check("tank holding 0..8", read(2, fcReadHolding, 0, 9), []uint16{
		0xE240, 0x0001, // level 123456 = 0x0001E240, CDAB
		0xFFC9,         // temperature -55
		0xC03F, 0x0000, // pressure 1.5 = 0x3FC00000, BADC
		0x0080, 0x3B45, // volume 3000 = 0x453B8000, DCBA
		0xFFFF, 0x1EFB, // flow -1250 = 0xFFFFFB1E, BADC
	})
	if got := c.call(t, 2, readReq(fcReadDiscrete, 0, 2)); got[2] != 0x01 {
		t.Errorf("tank switches: % X, want high_level only", got)
	}

	set(3, "weather_station", map[string]float64{"air_temp_c": -3.2, "rh_pct": 55.5, "wind_ms": 4.5, "wind_dir_deg": 270, "rain_mm": 12.5})
	check("weather_station input 0..8", read(3, fcReadInput, 0, 9), []uint16{
		0xFFE0,         // air temperature -32
		0x022B,         // rh 555
		0x0000, 0x4090, // wind 4.5 = 0x40900000, CDAB
		0x010E,                         // direction 270
		0x4029, 0x0000, 0x0000, 0x0000, // rain 12.5 = 0x4029000000000000
	})

	vals := s.UnitValues(2)
	if vals["level_mm"] != 12345.6 || vals["flow_m3h"] != -12.5 || vals["high_level"] != 1 || vals["high_high_level"] != 0 {
		t.Errorf("UnitValues(2) = %v", vals)
	}
	if s.UnitValues(200) != nil {
		t.Error("UnitValues of a missing unit: want nil")
	}
}

func TestOverrideErrors(t *testing.T) {
	s := newTestServer(t)
	u := s.Unit(1)
	if err := u.Override("ch4", 1); err == nil {
		t.Error("override on a unit without profile: want an error")
	}
	mustNoErr(t, u.UseProfile("gas_detector", "x"))
	if err := u.Override("nope", 1); err == nil {
		t.Error("override of an unknown point: want an error")
	}
	if err := u.Override("h2s", -5); err == nil {
		t.Error("override with a value the type cannot hold: want an error")
	}
	if err := u.UseProfile("toaster", ""); err == nil {
		t.Error("unknown profile: want an error")
	}
}
