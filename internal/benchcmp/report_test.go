package main

import (
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{5}, 5},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{10, 10, 1}, 10},
	} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestMedianLeavesInputAlone(t *testing.T) {
	in := []float64{3, 1, 2}
	median(in)
	if in[0] != 3 || in[1] != 1 || in[2] != 2 {
		t.Errorf("median reordered its input: %v", in)
	}
}

// mq is a drain of n messages in wall seconds using cpu seconds and rss MB.
func mq(prog string, round, n int, wall, cpu float64, rssMB int64) mqttRun {
	return mqttRun{Program: prog, Round: round, N: n, Wall: time.Duration(wall * float64(time.Second)),
		Usage: usage{CPU: time.Duration(cpu * float64(time.Second)), MaxRSS: rssMB * 1e6}}
}

func mbRun(prog string, round, points int, cpu float64, rssMB int64) modbusRun {
	return modbusRun{Program: prog, Round: round, Points: points,
		Usage: usage{CPU: time.Duration(cpu * float64(time.Second)), MaxRSS: rssMB * 1e6}}
}

func row(t *testing.T, s summary, prefix string) summaryRow {
	t.Helper()
	for _, r := range s.Rows {
		if strings.HasPrefix(r.Measure, prefix) {
			return r
		}
	}
	t.Fatalf("no row %q in %+v", prefix, s.Rows)
	return summaryRow{}
}

func TestSummaryVerdicts(t *testing.T) {
	for _, tc := range []struct {
		name                    string
		res                     results
		drain, cpu, rss, modbus string // expected Met
		drainRatio, modbusRatio string
	}{
		{
			name: "every target met",
			res: results{
				MQTT: []mqttRun{
					// 100k msg/s, 10 µs/msg; 95k msg/s, 14 µs/msg (ceiling + 4): 0.95×.
					mq(progCeiling, 1, 100000, 1, 1.0, 15), mq(progTelegraf, 1, 100000, 3, 2.5, 80), mq(progHazardgw, 1, 100000, 100000.0/95000, 1.4, 30),
					mq(progCeiling, 2, 100000, 1, 1.0, 15), mq(progTelegraf, 2, 100000, 3, 2.5, 80), mq(progHazardgw, 2, 100000, 100000.0/95000, 1.4, 40),
				},
				Modbus: []modbusRun{mbRun(progTelegraf, 1, 1000, 0.015, 25), mbRun(progHazardgw, 1, 1000, 0.0045, 15)},
			},
			drain: "yes", cpu: "yes", rss: "yes", modbus: "yes",
			drainRatio: "0.95× ceiling, 2.85× Telegraf", modbusRatio: "0.30× Telegraf",
		},
		{
			name: "every target missed",
			res: results{
				MQTT: []mqttRun{
					mq(progCeiling, 1, 100000, 1, 1.0, 15), mq(progTelegraf, 1, 100000, 3, 2.5, 80), mq(progHazardgw, 1, 100000, 2, 1.6, 30),
					mq(progCeiling, 2, 100000, 1, 1.0, 15), mq(progTelegraf, 2, 100000, 3, 2.5, 80), mq(progHazardgw, 2, 100000, 2, 1.6, 41),
				},
				Modbus: []modbusRun{mbRun(progTelegraf, 1, 1000, 0.015, 25), mbRun(progHazardgw, 1, 1000, 0.021, 15)},
			},
			drain: "no", cpu: "no", rss: "no", modbus: "no",
			drainRatio: "0.50× ceiling, 1.50× Telegraf", modbusRatio: "1.40× Telegraf",
		},
		{
			name: "median, not mean: one slow round does not decide",
			res: results{
				MQTT: []mqttRun{
					mq(progCeiling, 1, 1000, 1, 0.01, 15), mq(progTelegraf, 1, 1000, 2, 0.02, 80), mq(progHazardgw, 1, 1000, 1, 0.01, 30),
					mq(progCeiling, 2, 1000, 1, 0.01, 15), mq(progTelegraf, 2, 1000, 2, 0.02, 80), mq(progHazardgw, 2, 1000, 10, 0.1, 30),
					mq(progCeiling, 3, 1000, 1, 0.01, 15), mq(progTelegraf, 3, 1000, 2, 0.02, 80), mq(progHazardgw, 3, 1000, 1, 0.01, 30),
				},
			},
			drain: "yes", cpu: "yes", rss: "yes", modbus: "",
			drainRatio: "1.00× ceiling, 2.00× Telegraf",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.res.summary()
			if r := row(t, s, "MQTT drain"); r.Met != tc.drain || r.Ratio != tc.drainRatio {
				t.Errorf("drain row %+v, want met %q ratio %q", r, tc.drain, tc.drainRatio)
			}
			if r := row(t, s, "CPU per message"); r.Met != tc.cpu {
				t.Errorf("CPU row %+v, want met %q", r, tc.cpu)
			}
			if r := row(t, s, "MQTT peak RSS"); r.Met != tc.rss {
				t.Errorf("RSS row %+v, want met %q", r, tc.rss)
			}
			if tc.modbus == "" {
				for _, r := range s.Rows {
					if strings.HasPrefix(r.Measure, "Modbus") {
						t.Errorf("Modbus row without Modbus runs: %+v", r)
					}
				}
				return
			}
			if r := row(t, s, "Modbus CPU"); r.Met != tc.modbus || r.Ratio != tc.modbusRatio {
				t.Errorf("Modbus row %+v, want met %q ratio %q", r, tc.modbus, tc.modbusRatio)
			}
		})
	}
}

func TestSummaryMarkdown(t *testing.T) {
	s := results{MQTT: []mqttRun{mq(progCeiling, 1, 1000, 1, 0.01, 15), mq(progTelegraf, 1, 1000, 2, 0.02, 80), mq(progHazardgw, 1, 1000, 1, 0.01, 30)}}.summary()
	lines := strings.Split(strings.TrimSpace(s.String()), "\n")
	if len(lines) != 2+len(s.Rows) {
		t.Fatalf("%d lines for %d rows:\n%s", len(lines), len(s.Rows), s)
	}
	for _, l := range lines {
		if strings.Count(l, "|") != 8 {
			t.Errorf("not a 7-column Markdown row: %q", l)
		}
	}
}

func TestSettingsFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	s, err := settingsFromEnv(env(nil))
	if err != nil || s.N != 200000 || s.Rounds != 3 || s.ModbusFor != 30*time.Second || s.Inflight != 1000 || s.SkipMQTT || s.SkipModbus {
		t.Errorf("defaults: %+v, %v", s, err)
	}
	s, err = settingsFromEnv(env(map[string]string{"BENCH_N": "20000", "BENCH_ROUNDS": "1", "BENCH_MODBUS_DURATION": "5s", "BENCH_SKIP_MQTT": "1"}))
	if err != nil || s.N != 20000 || s.Rounds != 1 || s.ModbusFor != 5*time.Second || !s.SkipMQTT {
		t.Errorf("set: %+v, %v", s, err)
	}
	for _, bad := range []map[string]string{{"BENCH_N": "0"}, {"BENCH_N": "many"}, {"BENCH_ROUNDS": "-1"}, {"BENCH_MODBUS_DURATION": "10ms"}, {"BENCH_INFLIGHT": "x"}} {
		if _, err := settingsFromEnv(env(bad)); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// The generated hazardgw configurations are YAML with the workload's shape;
// cmd/hazardgw's `check` is not importable here, so the shape is checked.
func TestHazardgwConfigs(t *testing.T) {
	var m struct {
		Gateway struct {
			DataDir string `yaml:"data_dir"`
		}
		Influxdb struct{ Bucket string }
		Mqtt     struct {
			URL           string
			ClientID      string `yaml:"client_id"`
			Subscriptions []struct{ Topic, Format string }
		}
	}
	if err := yaml.Unmarshal([]byte(hazardgwMQTTConfig("/d", "tcp://127.0.0.1:1", "c1", "http://127.0.0.1:2", "db/autogen")), &m); err != nil {
		t.Fatal(err)
	}
	if m.Gateway.DataDir != "/d" || m.Influxdb.Bucket != "db/autogen" || m.Mqtt.ClientID != "c1" || len(m.Mqtt.Subscriptions) != 1 || m.Mqtt.Subscriptions[0].Format != "camera_event" {
		t.Errorf("MQTT config: %+v", m)
	}
	var mc struct {
		Modbus struct {
			Links []struct {
				URL     string
				Devices []struct {
					UnitID   int `yaml:"unit_id"`
					Kind     string
					Interval string
					Points   []struct {
						Name, Area string
						Address    int
					}
				}
			}
		}
	}
	if err := yaml.Unmarshal([]byte(hazardgwModbusConfig("/d", "127.0.0.1:502", 100*time.Millisecond, "http://x", "db/autogen")), &mc); err != nil {
		t.Fatal(err)
	}
	if len(mc.Modbus.Links) != 1 || len(mc.Modbus.Links[0].Devices) != modbusUnits {
		t.Fatalf("Modbus config: %+v", mc)
	}
	for i, d := range mc.Modbus.Links[0].Devices {
		if d.UnitID != i+1 || d.Kind != "bench" || d.Interval != "100ms" || len(d.Points) != modbusRegisters ||
			d.Points[modbusRegisters-1].Address != modbusRegisters-1 || d.Points[0].Area != "holding" {
			t.Errorf("device %d: %+v", i, d)
		}
	}
}

func TestTelegrafConfigs(t *testing.T) {
	c := telegrafMQTTConfig("tcp://127.0.0.1:1", "c1", "http://127.0.0.1:2", "db/autogen", 1000)
	for _, want := range []string{`metric_batch_size = 500`, `persistent_session = true`, `qos = 1`, `max_undelivered_messages = 1000`,
		`client_id = "c1"`, `bucket = "db/autogen"`, `measurement_name = "fire_detection"`, `timestamp_path = "ts"`} {
		if !strings.Contains(c, want) {
			t.Errorf("Telegraf MQTT config lacks %s:\n%s", want, c)
		}
	}
	c = telegrafModbusConfig("127.0.0.1:502", 100*time.Millisecond, "http://x", "db/autogen")
	if n := strings.Count(c, "[[inputs.modbus.request]]"); n != modbusUnits {
		t.Errorf("%d requests, want %d", n, modbusUnits)
	}
	if n := strings.Count(c, `type = "UINT16"`); n != modbusUnits*modbusRegisters {
		t.Errorf("%d fields, want %d", n, modbusUnits*modbusRegisters)
	}
	if !strings.Contains(c, `interval = "100ms"`) {
		t.Errorf("no 100ms interval:\n%s", c)
	}
}
