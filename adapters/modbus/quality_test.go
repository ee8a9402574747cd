package modbus

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/goburrow/modbus"

	"github.com/hazardgw/hazardgw/gateway"
	"github.com/hazardgw/hazardgw/internal/conf"
)

// gasDevice has a methane channel with a range, an oxygen channel, and
// fault and calibration bits in register 2.
var gasDevice = DeviceConfig{ID: "GD-101", UnitID: 1, Kind: "gas_detector", FaultPoint: "fault", MaintenancePoint: "calibrating",
	Points: []PointConfig{
		{Name: "ch4", Area: "holding", Address: 0, Type: "float32", Unit: "%LEL", Range: []float64{0, 100}},
		{Name: "fault", Area: "holding", Address: 2, Type: "bool", Bit: ptr(0)},
		{Name: "calibrating", Area: "holding", Address: 2, Type: "bool", Bit: ptr(1)},
		{Name: "o2", Area: "holding", Address: 3, Type: "uint16", Scale: ptr(0.1), Unit: "%VOL"},
	}}

func f32words(f float32) (uint16, uint16) {
	b := math.Float32bits(f)
	return uint16(b >> 16), uint16(b)
}

func TestReadingQuality(t *testing.T) {
	nan := float32(math.NaN())
	cases := []struct {
		name               string
		ch4                float32
		bits               uint16
		quality, reason    string
		bad                string
		stored             []string // fields of the gas_detector point
		ch4Q, o2Q          Quality
		ch4R               string
		fault, maintenance bool
		outOfService       bool
	}{
		{name: "good", ch4: 12.5, quality: "good", stored: []string{"ch4", "fault", "calibrating", "o2"},
			ch4Q: QualityGood, o2Q: QualityGood},
		{name: "nan", ch4: nan, quality: "bad", reason: "nan", bad: "ch4=nan", stored: []string{"fault", "calibrating", "o2"},
			ch4Q: QualityBad, ch4R: "nan", o2Q: QualityGood},
		{name: "out of range", ch4: 180, quality: "bad", reason: "out_of_range", bad: "ch4=out_of_range",
			stored: []string{"fault", "calibrating", "o2"}, ch4Q: QualityBad, ch4R: "out_of_range", o2Q: QualityGood},
		{name: "fault", ch4: 0, bits: 1, quality: "bad", reason: "fault", stored: []string{"fault", "calibrating"},
			ch4Q: QualityBad, ch4R: "fault", o2Q: QualityBad, fault: true},
		{name: "maintenance", ch4: 50, bits: 2, quality: "uncertain", reason: "maintenance",
			stored: []string{"ch4", "fault", "calibrating", "o2"}, ch4Q: QualityUncertain, ch4R: "maintenance", o2Q: QualityUncertain, maintenance: true},
		{name: "out of service", ch4: 50, quality: "uncertain", reason: "maintenance", outOfService: true,
			stored: []string{"ch4", "fault", "calibrating", "o2"}, ch4Q: QualityUncertain, ch4R: "maintenance", o2Q: QualityUncertain},
		{name: "nan while out of service", ch4: nan, quality: "bad", reason: "nan", bad: "ch4=nan", outOfService: true,
			stored: []string{"fault", "calibrating", "o2"}, ch4Q: QualityBad, ch4R: "nan", o2Q: QualityUncertain},
		{name: "fault during maintenance", ch4: 0, bits: 3, quality: "bad", reason: "fault", stored: []string{"fault", "calibrating"},
			ch4Q: QualityBad, ch4R: "fault", o2Q: QualityBad, fault: true, maintenance: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src, l, fc, _ := fakeLink(t, LinkConfig{Name: "l", Devices: []DeviceConfig{gasDevice}})
			hi, lo := f32words(c.ch4)
			fc.readFn = func(byte, area, uint16, uint16) ([]byte, error) { return regs(hi, lo, c.bits, 209), nil }
			acc := &collector{}
			l.oos = func(id string) bool { return c.outOfService && id == "GD-101" }
			l.poll(context.Background(), acc, l.devs[0])
			if len(acc.pts) != 2 || acc.pts[0].Measurement != gateway.MeasurementDeviceStatus {
				t.Fatalf("points %+v: want the status, then the readings", acc.pts)
			}
			st, v := acc.pts[0], acc.pts[1]
			if q, _ := st.Field("quality"); q.S != c.quality {
				t.Errorf("status quality %q, want %q", q.S, c.quality)
			}
			if r, _ := st.Field("reason"); r.S != c.reason {
				t.Errorf("status reason %q, want %q", r.S, c.reason)
			}
			if b, _ := st.Field("bad_points"); b.S != c.bad {
				t.Errorf("bad_points %q, want %q", b.S, c.bad)
			}
			if f, ok := st.Field("fault"); !ok || f.B != c.fault {
				t.Errorf("status fault %+v, want %v", f, c.fault)
			}
			if f, ok := st.Field("maintenance"); !ok || f.B != c.maintenance {
				t.Errorf("status maintenance %+v, want %v", f, c.maintenance)
			}
			var got []string
			for _, f := range v.Fields {
				got = append(got, f.Key)
			}
			if strings.Join(got, ",") != strings.Join(c.stored, ",") {
				t.Errorf("stored fields %v, want %v: a bad value is never stored", got, c.stored)
			}
			if !v.Valid() {
				t.Errorf("point not storable: %+v", v)
			}
			ds := src.Devices()[0]
			if string(ds.Quality) != c.quality || ds.Reason != c.reason {
				t.Errorf("device quality %s/%s, want %s/%s", ds.Quality, ds.Reason, c.quality, c.reason)
			}
			if ds.Values[0].Quality != c.ch4Q || ds.Values[0].Reason != c.ch4R || ds.Values[3].Quality != c.o2Q {
				t.Errorf("values %+v", ds.Values)
			}
			if ds.Values[1].Quality != QualityGood {
				t.Errorf("the fault point itself is a good reading: %+v", ds.Values[1])
			}
		})
	}
}

func TestReadingQualityKeepsLastGoodValue(t *testing.T) {
	src, l, fc, clk := fakeLink(t, LinkConfig{Name: "l", Devices: []DeviceConfig{gasDevice}})
	ch4 := float32(21)
	fc.readFn = func(byte, area, uint16, uint16) ([]byte, error) {
		hi, lo := f32words(ch4)
		return regs(hi, lo, 0, 209), nil
	}
	acc := &collector{}
	first := *clk
	l.poll(context.Background(), acc, l.devs[0])
	ch4 = float32(math.Inf(1))
	*clk = clk.Add(1e9)
	l.poll(context.Background(), acc, l.devs[0])
	v := src.Devices()[0].Values[0]
	if v.Value != 21.0 || v.Quality != QualityBad || v.Reason != "nan" || !v.Time.Equal(first) {
		t.Errorf("ch4 %+v: want the last good value, marked bad (nan), with its time", v)
	}
	fc.readFn = func(byte, area, uint16, uint16) ([]byte, error) {
		return nil, &modbus.ModbusError{FunctionCode: 3, ExceptionCode: 2}
	}
	l.poll(context.Background(), acc, l.devs[0])
	ds := src.Devices()[0]
	if ds.Quality != QualityBad || ds.Reason != "exception" || ds.Values[0].Reason != "exception" || ds.Values[0].Value != 21.0 {
		t.Errorf("after an exception: %+v", ds)
	}
	st := acc.pts[len(acc.pts)-1]
	if r, _ := st.Field("reason"); st.Measurement != gateway.MeasurementDeviceStatus || r.S != "exception" {
		t.Errorf("status %+v", st)
	}
}

func TestFailureReason(t *testing.T) {
	for err, want := range map[error]string{
		&modbus.ModbusError{FunctionCode: 3, ExceptionCode: 2}: "exception",
		&connectError{err: errors.New("refused")}:              "io",
		timeoutErr{}: "no_reply",
	} {
		if got := failureReason(err); got != want {
			t.Errorf("%v: %q, want %q", err, got, want)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestValidateQualityPoints(t *testing.T) {
	d := gasDevice
	d.FaultPoint, d.MaintenancePoint = "nope", "ch4"
	d.Points = append([]PointConfig(nil), gasDevice.Points...)
	d.Points[3].Range = []float64{5, 1}
	d.Points[1].Range = []float64{0, 1}
	c := Config{Links: []LinkConfig{{Name: "l", URL: "tcp://127.0.0.1:502", Devices: []DeviceConfig{d}}}}
	var p conf.Problems
	c.Validate("modbus", &p)
	var lines []string
	for _, pr := range p.List {
		lines = append(lines, pr.Path+": "+pr.Msg)
	}
	got := strings.Join(lines, "\n")
	for _, want := range []string{
		`modbus.links[0].devices[0].fault_point: no point "nope" in this device`,
		`modbus.links[0].devices[0].maintenance_point: point "ch4" is float32; it must be a bool point`,
		`modbus.links[0].devices[0].points[3].range: min 5 must be below max 1`,
		`modbus.links[0].devices[0].points[1].range: applies only to numeric points, not bool`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	if _, err := New(c, "site1", nil); err == nil {
		t.Error("New accepted a fault point that does not exist")
	}
}

func TestStringPointIsStoredAsString(t *testing.T) {
	dev := DeviceConfig{ID: "GD-201", UnitID: 1, Kind: "gas_detector", Points: []PointConfig{
		{Name: "serial", Area: "holding", Address: 0, Type: "string", Length: 2},
		{Name: "ch4", Area: "holding", Address: 2, Type: "uint16"},
	}}
	src, l, fc, _ := fakeLink(t, LinkConfig{Name: "l", Devices: []DeviceConfig{dev}})
	fc.readFn = func(byte, area, uint16, uint16) ([]byte, error) { return regs(0x4744, 0x3130, 7), nil } // "GD10"
	acc := &collector{}
	l.poll(context.Background(), acc, l.devs[0])
	v := acc.pts[1]
	if f, _ := v.Field("serial"); f.Kind != gateway.KindString || f.S != "GD10" {
		t.Errorf("serial field %+v", f)
	}
	if got := src.Devices()[0].Values[0].Value; got != "GD10" {
		t.Errorf("API value %v", got)
	}
}
