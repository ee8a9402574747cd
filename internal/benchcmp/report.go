package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// mqttRun is one program's drain of one round.
type mqttRun struct {
	Program string
	Round   int
	N       int
	Wall    time.Duration // from the program's start until all N were acknowledged or stored
	Usage   usage
}

func (r mqttRun) rate() float64 { return float64(r.N) / r.Wall.Seconds() }

func (r mqttRun) cpuPerMsg() float64 { return float64(r.Usage.CPU.Nanoseconds()) / 1e3 / float64(r.N) }

// modbusRun is one program's Modbus run.
type modbusRun struct {
	Program string
	Round   int
	Points  int // stored rows × registers
	Usage   usage
}

func (r modbusRun) cpuPerPoint() float64 {
	return float64(r.Usage.CPU.Nanoseconds()) / 1e3 / float64(r.Points)
}

type results struct {
	MQTT   []mqttRun
	Modbus []modbusRun
}

// The targets, as ratios against the ceiling and Telegraf measured in the
// same run.
const (
	targetDrainOfCeiling   = 0.90 // hazardgw's drain rate ≥ 0.90 × the ceiling's
	targetCPUAboveCeiling  = 5.0  // µs per message above the ceiling's
	targetPeakRSSMB        = 40.0 // in every round
	targetModbusOfTelegraf = 0.30 // CPU per point ≤ 0.3 × Telegraf's
)

// A summaryRow is one line of the final table: per program its median
// (or, for peak RSS, every round), then hazardgw's ratio, the target and
// whether it is met.
type summaryRow struct {
	Measure  string
	Ceiling  string
	Telegraf string
	Hazardgw string
	Ratio    string
	Target   string
	Met      string // "yes", "no", or "—" when not measured
}

type summary struct{ Rows []summaryRow }

// median of xs; NaN-free input assumed; 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

func (r results) mqttValues(prog string, f func(mqttRun) float64) []float64 {
	var out []float64
	for _, m := range r.MQTT {
		if m.Program == prog {
			out = append(out, f(m))
		}
	}
	return out
}

func (r results) modbusValues(prog string, f func(modbusRun) float64) []float64 {
	var out []float64
	for _, m := range r.Modbus {
		if m.Program == prog {
			out = append(out, f(m))
		}
	}
	return out
}

// summary computes the final table from the runs: medians over the rounds,
// hazardgw's ratios against the ceiling and Telegraf of the same run, and
// the verdicts.
func (r results) summary() summary {
	var s summary
	rate := func(m mqttRun) float64 { return m.rate() }
	cpu := func(m mqttRun) float64 { return m.cpuPerMsg() }
	rss := func(m mqttRun) float64 { return mb(m.Usage.MaxRSS) }
	if len(r.MQTT) > 0 {
		c, t, h := median(r.mqttValues(progCeiling, rate)), median(r.mqttValues(progTelegraf, rate)), median(r.mqttValues(progHazardgw, rate))
		row := summaryRow{Measure: "MQTT drain, msg/s (median)", Ceiling: kilo(c), Telegraf: kilo(t), Hazardgw: kilo(h),
			Target: fmt.Sprintf("≥ %.2f× ceiling", targetDrainOfCeiling), Met: "—"}
		if c > 0 && t > 0 && h > 0 {
			row.Ratio = fmt.Sprintf("%.2f× ceiling, %.2f× Telegraf", h/c, h/t)
			row.Met = yesNo(h >= targetDrainOfCeiling*c)
		}
		s.Rows = append(s.Rows, row)

		c, t, h = median(r.mqttValues(progCeiling, cpu)), median(r.mqttValues(progTelegraf, cpu)), median(r.mqttValues(progHazardgw, cpu))
		row = summaryRow{Measure: "CPU per message, µs (median)", Ceiling: fmt.Sprintf("%.1f", c), Telegraf: fmt.Sprintf("%.1f", t), Hazardgw: fmt.Sprintf("%.1f", h),
			Target: fmt.Sprintf("≤ ceiling + %.0f µs", targetCPUAboveCeiling), Met: "—"}
		if c > 0 && h > 0 {
			row.Ratio = fmt.Sprintf("ceiling %+.1f µs (Telegraf %+.1f)", h-c, t-c)
			row.Met = yesNo(h <= c+targetCPUAboveCeiling)
		}
		s.Rows = append(s.Rows, row)

		hr := r.mqttValues(progHazardgw, rss)
		row = summaryRow{Measure: "MQTT peak RSS, MB (each round)", Ceiling: list(r.mqttValues(progCeiling, rss)),
			Telegraf: list(r.mqttValues(progTelegraf, rss)), Hazardgw: list(hr),
			Target: fmt.Sprintf("≤ %.0f MB every round", targetPeakRSSMB), Met: "—"}
		if len(hr) > 0 {
			row.Ratio = fmt.Sprintf("max %.0f MB", slices.Max(hr))
			row.Met = yesNo(slices.Max(hr) <= targetPeakRSSMB)
		}
		s.Rows = append(s.Rows, row)
	}
	if len(r.Modbus) > 0 {
		per := func(m modbusRun) float64 { return m.cpuPerPoint() }
		t, h := median(r.modbusValues(progTelegraf, per)), median(r.modbusValues(progHazardgw, per))
		row := summaryRow{Measure: "Modbus CPU per point, µs (median)", Ceiling: "—", Telegraf: fmt.Sprintf("%.1f", t), Hazardgw: fmt.Sprintf("%.1f", h),
			Target: fmt.Sprintf("≤ %.2f× Telegraf", targetModbusOfTelegraf), Met: "—"}
		if t > 0 && h > 0 {
			row.Ratio = fmt.Sprintf("%.2f× Telegraf", h/t)
			row.Met = yesNo(h <= targetModbusOfTelegraf*t)
		}
		s.Rows = append(s.Rows, row)
		mrss := func(m modbusRun) float64 { return mb(m.Usage.MaxRSS) }
		s.Rows = append(s.Rows, summaryRow{Measure: "Modbus peak RSS, MB (each round)", Ceiling: "—",
			Telegraf: list(r.modbusValues(progTelegraf, mrss)), Hazardgw: list(r.modbusValues(progHazardgw, mrss)), Met: "—"})
	}
	return s
}

func kilo(x float64) string {
	if x == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1fk", x/1000)
}

func list(xs []float64) string {
	if len(xs) == 0 {
		return "—"
	}
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%.0f", x)
	}
	return strings.Join(parts, ", ")
}

// String renders the table in Markdown, so that it can be pasted into a
// note as it is.
func (s summary) String() string {
	var b strings.Builder
	b.WriteString("| measure | bare paho | Telegraf 1.37.2 | hazardgw | hazardgw vs | target | met |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, r := range s.Rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", r.Measure, r.Ceiling, r.Telegraf, r.Hazardgw, r.Ratio, r.Target, r.Met)
	}
	return b.String()
}
