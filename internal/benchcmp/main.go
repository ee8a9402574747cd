package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/hazardgw/hazardgw/internal/testenv"
	"github.com/hazardgw/hazardgw/simulators/modbussim"
)

// The programs compared.
const (
	progCeiling  = "bare-paho"
	progTelegraf = "telegraf"
	progHazardgw = "hazardgw"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "ceiling" {
		if err := runCeiling(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "benchcmp ceiling:", err)
			os.Exit(1)
		}
		return
	}
	os.Exit(run())
}

type bench struct {
	e        *env
	work     string
	broker   *testenv.Broker
	influx   *testenv.Influx
	self     string // this program, for `benchcmp ceiling`
	telegraf string
	hazardgw string
	settings settings
	hgData   string // hazardgw's data_dir for every MQTT round
}

type settings struct {
	N          int
	Rounds     int
	ModbusFor  time.Duration
	Interval   time.Duration
	Inflight   int
	SkipMQTT   bool
	SkipModbus bool
}

func settingsFromEnv(getenv func(string) string) (settings, error) {
	s := settings{N: 200_000, Rounds: 3, ModbusFor: 30 * time.Second, Interval: 100 * time.Millisecond, Inflight: 1000}
	for _, v := range []struct {
		name string
		dst  *int
	}{{"BENCH_N", &s.N}, {"BENCH_ROUNDS", &s.Rounds}, {"BENCH_INFLIGHT", &s.Inflight}} {
		if x := getenv(v.name); x != "" {
			n, err := strconv.Atoi(x)
			if err != nil || n < 1 {
				return s, fmt.Errorf("%s=%q: want a positive integer", v.name, x)
			}
			*v.dst = n
		}
	}
	if x := getenv("BENCH_MODBUS_DURATION"); x != "" {
		d, err := time.ParseDuration(x)
		if err != nil || d < time.Second {
			return s, fmt.Errorf("BENCH_MODBUS_DURATION=%q: want a duration of at least 1s", x)
		}
		s.ModbusFor = d
	}
	s.SkipMQTT = getenv("BENCH_SKIP_MQTT") == "1"
	s.SkipModbus = getenv("BENCH_SKIP_MODBUS") == "1"
	return s, nil
}

func run() (code int) {
	telegraf := flag.String("telegraf", "", "Telegraf binary (built with the modbus, mqtt_consumer, json_v2 and influxdb_v2 plugins)")
	hazardgw := flag.String("hazardgw", "", "hazardgw binary")
	work := flag.String("work", "", "working directory (default: a new temporary directory, removed at the end)")
	flag.Parse()
	if *telegraf == "" || *hazardgw == "" {
		fmt.Fprintln(os.Stderr, "usage: benchcmp -telegraf BIN -hazardgw BIN [-work DIR]")
		return 2
	}
	s, err := settingsFromEnv(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchcmp:", err)
		return 2
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchcmp:", err)
		return 1
	}
	dir := *work
	if dir == "" {
		if dir, err = os.MkdirTemp("", "benchcmp-"); err != nil {
			fmt.Fprintln(os.Stderr, "benchcmp:", err)
			return 1
		}
		defer os.RemoveAll(dir)
	}
	e := newEnv(dir)
	defer e.close()
	defer func() {
		if r := recover(); r != nil {
			if f, ok := r.(fatal); ok {
				fmt.Fprintln(os.Stderr, "benchcmp: failed:", f.msg)
				code = 1
				return
			}
			panic(r)
		}
	}()

	b := &bench{e: e, work: dir, self: self, telegraf: *telegraf, hazardgw: *hazardgw, settings: s}
	b.influx = testenv.InfluxDB(e)
	b.hgData = filepath.Join(dir, "hazardgw-mqtt-data")

	fmt.Printf("bench-compare %s: MQTT %d queued messages × %d rounds (max_inflight_messages %d), Modbus %d units × %d registers every %s for %s × %d rounds\n",
		time.Now().UTC().Format(time.RFC3339), s.N, s.Rounds, s.Inflight, modbusUnits, modbusRegisters, s.Interval, s.ModbusFor, s.Rounds)
	fmt.Printf("load average at start: %s\n", loadavg())
	var res results
	progs := []string{progCeiling, progTelegraf, progHazardgw}
	if !s.SkipMQTT {
		b.broker = testenv.Mosquitto(e, testenv.WithMaxQueuedMessages(0), testenv.WithMaxInflightMessages(s.Inflight),
			testenv.WithPersistence(false), testenv.WithMosquittoConfig("max_queued_bytes 0"))
		for r := 1; r <= s.Rounds; r++ {
			for _, p := range progs {
				m, err := b.mqttRound(p, r)
				if err != nil {
					e.Fatalf("MQTT %s round %d: %v", p, r, err)
				}
				res.MQTT = append(res.MQTT, m)
				fmt.Printf("  mqtt   round %d %-10s %8.0f msg/s  %6.1f µs CPU/msg  peak RSS %5.1f MB   (load %s)\n",
					r, p, m.rate(), m.cpuPerMsg(), mb(m.Usage.MaxRSS), loadavg())
			}
		}
	}
	if !s.SkipModbus {
		for r := 1; r <= s.Rounds; r++ {
			for _, p := range []string{progTelegraf, progHazardgw} {
				m, err := b.modbusRound(p, r)
				if err != nil {
					e.Fatalf("Modbus %s round %d: %v", p, r, err)
				}
				res.Modbus = append(res.Modbus, m)
				fmt.Printf("  modbus round %d %-10s %8d points  %6.1f µs CPU/point  peak RSS %5.1f MB   (load %s)\n",
					r, p, m.Points, m.cpuPerPoint(), mb(m.Usage.MaxRSS), loadavg())
			}
		}
	}
	fmt.Println()
	fmt.Print(res.summary().String())
	fmt.Printf("load average at end: %s\n", loadavg())
	return 0
}

// mqttRound queues N messages for program p's session and times its drain.
func (b *bench) mqttRound(p string, round int) (mqttRun, error) {
	n := b.settings.N
	id := "benchcmp-" + p
	url := b.broker.URL()
	if err := session(url, id, false); err != nil {
		return mqttRun{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := publish(ctx, url, time.Now().Add(-time.Hour).Truncate(time.Second), n); err != nil {
		return mqttRun{}, err
	}
	db := fmt.Sprintf("%s_mqtt_r%d", p, round)
	bucket := db + "/autogen"
	logPath := filepath.Join(b.work, fmt.Sprintf("%s-mqtt-r%d.log", p, round))
	run := mqttRun{Program: p, Round: round, N: n}
	var err error
	switch p {
	case progCeiling:
		pr, pw := io.Pipe()
		var pc *proc
		pc, err = startProc(p, logPath, pw, b.self, "ceiling", "-url", url, "-client-id", id, "-n", strconv.Itoa(n))
		if err != nil {
			return run, err
		}
		if err = waitLine(pr, "done"); err != nil {
			pc.stop(time.Second)
			return run, fmt.Errorf("ceiling: %w (log: %s)", err, logPath)
		}
		run.Wall = time.Since(pc.start)
		run.Usage, err = pc.wait(30 * time.Second)
		pw.Close()
	case progTelegraf:
		b.influx.CreateDB(db)
		cfg := filepath.Join(b.work, fmt.Sprintf("telegraf-mqtt-r%d.conf", round))
		if err = writeFile(cfg, telegrafMQTTConfig(url, id, b.influx.URL(), bucket, b.settings.Inflight)); err != nil {
			return run, err
		}
		run.Wall, run.Usage, err = b.untilStored(p, logPath, db, "fire_detection", "confidence", n, b.telegraf, "--config", cfg)
	case progHazardgw:
		b.influx.CreateDB(db)
		cfg := filepath.Join(b.work, fmt.Sprintf("hazardgw-mqtt-r%d.yaml", round))
		if err = writeFile(cfg, hazardgwMQTTConfig(b.hgData, url, id, b.influx.URL(), bucket)); err != nil {
			return run, err
		}
		run.Wall, run.Usage, err = b.untilStored(p, logPath, db, "fire_detection", "confidence", n, b.hazardgw, "run", "-config", cfg)
	}
	if err != nil {
		return run, err
	}
	// Whatever is left (acknowledgements still on their way) is discarded
	// with the session, so that the next program's messages are queued for
	// its session only.
	return run, session(url, id, true)
}

// untilStored starts a program and waits until measurement holds want
// points in db; it returns the time that took from the start, and the
// program's usage once stopped.
func (b *bench) untilStored(name, logPath, db, measurement, field string, want int, bin string, args ...string) (time.Duration, usage, error) {
	pc, err := startProc(name, logPath, nil, bin, args...)
	if err != nil {
		return 0, usage{}, err
	}
	deadline := time.Now().Add(10 * time.Minute)
	for {
		if n := b.count(db, measurement, field); n >= want {
			break
		}
		if pc.exited() {
			u, _ := pc.stop(0)
			return 0, u, fmt.Errorf("%s exited early (log: %s)", name, logPath)
		}
		if time.Now().After(deadline) {
			u, _ := pc.stop(30 * time.Second)
			return 0, u, fmt.Errorf("%s: %d of %d points stored after 10 minutes (log: %s)", name, b.count(db, measurement, field), want, logPath)
		}
		time.Sleep(100 * time.Millisecond) // the database is polled: nothing to await
	}
	wall := time.Since(pc.start)
	u, err := pc.stop(30 * time.Second)
	return wall, u, err
}

// count is SELECT count(field) FROM measurement, or -1 on error.
func (b *bench) count(db, measurement, field string) int {
	res, err := b.influx.Query(db, fmt.Sprintf(`SELECT count(%q) FROM %q`, field, measurement))
	if err != nil {
		return -1
	}
	total := 0
	for _, s := range res.Series {
		for _, row := range s.Values {
			if len(row) > 1 {
				if f, ok := row[1].(float64); ok {
					total += int(f)
				}
			}
		}
	}
	return total
}

// modbusRound runs program p against a fresh simulated device for the
// configured time and counts what it stored.
func (b *bench) modbusRound(p string, round int) (modbusRun, error) {
	sim := modbussim.New(modbussim.Options{ServedLog: -1})
	defer sim.Close()
	addr, err := sim.ListenTCP("127.0.0.1:0")
	if err != nil {
		return modbusRun{}, fmt.Errorf("listen: %w", err)
	}
	for u := 1; u <= modbusUnits; u++ {
		regs := make([]uint16, modbusRegisters)
		for i := range regs {
			regs[i] = uint16(100*u + i)
		}
		if err := sim.Unit(uint8(u)).SetRegisters(modbussim.Holding, 0, regs...); err != nil {
			return modbusRun{}, fmt.Errorf("set registers: %w", err)
		}
	}
	db := fmt.Sprintf("%s_modbus_r%d", p, round)
	b.influx.CreateDB(db)
	bucket := db + "/autogen"
	logPath := filepath.Join(b.work, fmt.Sprintf("%s-modbus-r%d.log", p, round))
	var args []string
	bin := b.telegraf
	switch p {
	case progTelegraf:
		cfg := filepath.Join(b.work, fmt.Sprintf("telegraf-modbus-r%d.conf", round))
		if err := writeFile(cfg, telegrafModbusConfig(addr, b.settings.Interval, b.influx.URL(), bucket)); err != nil {
			return modbusRun{}, err
		}
		args = []string{"--config", cfg}
	case progHazardgw:
		bin = b.hazardgw
		cfg := filepath.Join(b.work, fmt.Sprintf("hazardgw-modbus-r%d.yaml", round))
		data := filepath.Join(b.work, fmt.Sprintf("hazardgw-modbus-data-r%d", round))
		if err := writeFile(cfg, hazardgwModbusConfig(data, addr, b.settings.Interval, b.influx.URL(), bucket)); err != nil {
			return modbusRun{}, err
		}
		args = []string{"run", "-config", cfg}
	}
	pc, err := startProc(p, logPath, nil, bin, args...)
	if err != nil {
		return modbusRun{}, err
	}
	time.Sleep(b.settings.ModbusFor) // the workload's duration
	if pc.exited() {
		return modbusRun{}, fmt.Errorf("%s exited early (log: %s)", p, logPath)
	}
	u, err := pc.stop(30 * time.Second)
	if err != nil {
		return modbusRun{}, err
	}
	// Both flush on SIGTERM; rows are counted once stopped.
	rows := b.count(db, "bench", "r00")
	if rows <= 0 {
		return modbusRun{}, fmt.Errorf("%s stored no polls (log: %s)", p, logPath)
	}
	return modbusRun{Program: p, Round: round, Points: rows * modbusRegisters, Usage: u}, nil
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	var a, c, d string
	fmt.Sscan(string(b), &a, &c, &d)
	return a + " " + c + " " + d
}

func mb(bytes int64) float64 { return float64(bytes) / 1e6 }
