package modbus

import (
	"math"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/hazardgw/hazardgw/simulators/modbussim"
)

// TestCollector runs a source with a healthy link (one answering and one
// silent unit) and a link to a port nobody listens on, then checks that
// the exported series agree with Stats and Devices and pass promlint.
func TestCollector(t *testing.T) {
	sim, addr := startSim(t)
	_ = sim.Unit(1).SetRegisters(modbussim.Holding, 0, 1)
	if err := sim.Unit(2).SetFault(modbussim.Fault{Mode: modbussim.NoReply}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := ln.Addr().String()
	ln.Close()

	pt := []PointConfig{{Name: "a", Area: "holding", Address: 0, Type: "uint16"}}
	r := runSource(t, Config{Links: []LinkConfig{
		{Name: "site-tcp", URL: "tcp://" + addr, Timeout: 100 * time.Millisecond, Devices: []DeviceConfig{
			{ID: "GD-101", UnitID: 1, Kind: "gas_detector", Interval: 50 * time.Millisecond, Points: pt},
			{ID: "GD-102", UnitID: 2, Kind: "gas_detector", Interval: 50 * time.Millisecond, Points: pt},
		}},
		{Name: "dead", URL: "tcp://" + deadAddr, MaxBackoff: 200 * time.Millisecond, Devices: []DeviceConfig{
			{ID: "TK-01", UnitID: 3, Kind: "tank", Interval: 50 * time.Millisecond, Points: pt},
		}},
	}})
	c := r.src.Collector()
	waitFor(t, 10*time.Second, "polls on both links", func() bool {
		st := r.src.Stats()
		ds := r.src.Devices()
		return st.ConnectFailures >= 2 && ds[0].Online && ds[1].Failures >= 2 && ds[2].Failures >= 2
	})
	// While running: scraping races with polling (go test -race checks it).
	const series = 2 + 4*2 + (4+len(metricClasses))*3 // source-wide, per link (2), per device (3) with its errors by class
	if n := testutil.CollectAndCount(c); n != series {
		t.Errorf("%d series, want %d", n, series)
	}
	r.stop()

	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}

	// Values, now that nothing moves.
	st, ds := r.src.Stats(), r.src.Devices()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			got[mf.GetName()+labelString(m)] = metricValue(m)
		}
	}
	want := map[string]float64{
		"hazardgw_modbus_connect_failures_total":                                                    float64(st.ConnectFailures),
		"hazardgw_modbus_accept_errors_total":                                                       0,
		`hazardgw_modbus_polls_total{link=site-tcp}`:                                                float64(ds[0].Polls + ds[1].Polls),
		`hazardgw_modbus_polls_total{link=dead}`:                                                    float64(ds[2].Polls),
		`hazardgw_modbus_poll_failures_total{link=site-tcp}`:                                        float64(ds[1].Failures),
		`hazardgw_modbus_poll_failures_total{link=dead}`:                                            float64(ds[2].Polls),
		`hazardgw_modbus_missed_slots_total{link=site-tcp}`:                                         float64(ds[0].Missed + ds[1].Missed),
		`hazardgw_modbus_device_online{device=GD-101,kind=gas_detector,link=site-tcp}`:              1,
		`hazardgw_modbus_device_online{device=GD-102,kind=gas_detector,link=site-tcp}`:              0,
		`hazardgw_modbus_device_online{device=TK-01,kind=tank,link=dead}`:                           0,
		`hazardgw_modbus_device_rtt_seconds{device=GD-101,kind=gas_detector,link=site-tcp}`:         ds[0].RTTMillis / 1000,
		`hazardgw_modbus_device_poll_failures_total{device=GD-102,kind=gas_detector,link=site-tcp}`: float64(ds[1].Failures),
		`hazardgw_modbus_device_last_poll_timestamp_seconds{device=TK-01,kind=tank,link=dead}`:      float64(ds[2].LastPoll.UnixNano()) / 1e9,
		// One request per poll of the answering unit; none that failed.
		`hazardgw_modbus_request_duration_seconds{link=site-tcp}`: float64(ds[0].Polls - ds[0].Failures),
		`hazardgw_modbus_request_duration_seconds{link=dead}`:     0,
		// The silent unit times out; the dead link fails to connect.
		`hazardgw_modbus_errors_total{class=timeout,device=GD-102,link=site-tcp}`:   float64(ds[1].Failures),
		`hazardgw_modbus_errors_total{class=io,device=TK-01,link=dead}`:             float64(ds[2].Failures),
		`hazardgw_modbus_errors_total{class=timeout,device=GD-101,link=site-tcp}`:   0,
		`hazardgw_modbus_errors_total{class=exception,device=GD-102,link=site-tcp}`: 0,
		`hazardgw_modbus_errors_total{class=crc,device=TK-01,link=dead}`:            0,
		`hazardgw_modbus_errors_total{class=protocol,device=TK-01,link=dead}`:       0,
	}
	for k, v := range want {
		// RTTMillis/1000 and Duration.Seconds may round differently.
		if g, ok := got[k]; !ok || math.Abs(g-v) > 1e-9*math.Abs(v) {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if sum := got[`hazardgw_modbus_polls_total{link=site-tcp}`] + got[`hazardgw_modbus_polls_total{link=dead}`]; sum != float64(st.Polls) {
		t.Errorf("per-link polls sum to %v, Stats().Polls = %d", sum, st.Polls)
	}
}

func labelString(m *dto.Metric) string {
	if len(m.GetLabel()) == 0 {
		return ""
	}
	var parts []string
	for _, l := range m.GetLabel() { // sorted by name
		parts = append(parts, l.GetName()+"="+l.GetValue())
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func metricValue(m *dto.Metric) float64 {
	switch {
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	case m.GetHistogram() != nil:
		return float64(m.GetHistogram().GetSampleCount())
	}
	return 0
}
