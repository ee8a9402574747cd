package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/internal/testenv"
	"github.com/hazardgw/hazardgw/simulators/modbussim"
)

// BenchmarkModbusGateway runs PERFORMANCE.md's Modbus workload — 4 unit ids
// × 20 holding registers every 100 ms for 30 s, into a real InfluxDB — and
// reports the gateway process's own CPU (user + system, from its rusage)
// per point and per poll, and its peak RSS. The simulator runs in the test
// process, so its CPU is not counted. Telegraf's reference on this machine:
// ≈ 15 µs CPU per point, 0.29 ms per 20-register poll, 27 MB RSS.
//
//	go test -run '^$' -bench ModbusGateway -benchtime 1x ./test/e2e/
func BenchmarkModbusGateway(b *testing.B) {
	runFor, interval := 30*time.Second, 100*time.Millisecond
	if d, err := time.ParseDuration(os.Getenv("HAZARDGW_BENCH_DURATION")); err == nil {
		runFor = d
	}
	if d, err := time.ParseDuration(os.Getenv("HAZARDGW_BENCH_INTERVAL")); err == nil {
		interval = d
	}
	links := 1
	if os.Getenv("HAZARDGW_BENCH_LINKS") == "4" {
		links = 4 // one device per link: polls not in step
	}
	for b.Loop() {
		influx := newInflux(b, "hazard")
		sim, addr := newModbusSim(b, nil)
		dir := b.TempDir()
		var c strings.Builder
		fmt.Fprintf(&c, `site: {id: bench}
gateway: {data_dir: %s, http: {listen: "127.0.0.1:%d"}}
influxdb: {url: %s, bucket: hazard/autogen, flush_interval: 10s}
modbus:
  links:
`, filepath.Join(dir, "data"), testenv.FreePort(b), influx.URL())
		for l := 1; l <= links; l++ {
			var devs []string
			for u := 1; u <= 4; u++ {
				if links == 1 || u == l {
					devs = append(devs, devYAML(u, interval))
				}
			}
			fmt.Fprintf(&c, "    - {name: bench%d, url: \"tcp://%s\", timeout: 1s, devices: [%s]}\n", l, addr, strings.Join(devs, ", "))
		}
		for u := 1; u <= 4; u++ {
			sim.Unit(uint8(u)).SetRegisters(modbussim.Holding, 0, make([]uint16, 20)...)
		}
		cfg := filepath.Join(dir, "hazardgw.yaml")
		os.WriteFile(cfg, []byte(c.String()), 0o644)

		bin := hazardgwBin(b, false)
		if w := os.Getenv("HAZARDGW_BENCH_WRAPPER"); w != "" {
			bin = w // e.g. a script running the binary under strace
		}
		gw := startGatewayBin(b, bin, cfg)
		metrics := "http://" + listenAddr(b, cfg) + "/metrics"
		c0 := scrapeCounter(b, metrics, "hazardgw_spool_commits_total")
		p0, cpu0 := scrapeSum(b, metrics, "hazardgw_modbus_polls_total"), procCPU(b, gw.cmd.Process.Pid)
		t0 := time.Now()
		time.Sleep(runFor) // the workload's duration
		commits := scrapeCounter(b, metrics, "hazardgw_spool_commits_total") - c0
		steadyPolls, steadyCPU := scrapeSum(b, metrics, "hazardgw_modbus_polls_total")-p0, procCPU(b, gw.cmd.Process.Pid)-cpu0
		elapsed := time.Since(t0)
		gw.stop(30 * time.Second)

		ru := gw.cmd.ProcessState.SysUsage().(*syscall.Rusage)
		cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		polls := influx.Count("hazard", "bench", "")
		if polls <= 0 {
			b.Fatalf("no polls stored")
		}
		points := polls * 20
		b.ReportMetric(float64(cpu.Microseconds())/float64(points), "µs-cpu/point")
		b.ReportMetric(float64(cpu.Microseconds())/1000/float64(polls), "ms-cpu/poll")
		b.ReportMetric(float64(ru.Maxrss)/1024, "MB-peak-rss")
		b.ReportMetric(float64(ru.Stime.Nano())/float64(ru.Utime.Nano()+ru.Stime.Nano()), "sys-fraction")
		b.ReportMetric(float64(polls), "polls")
		b.ReportMetric(float64(cpu.Milliseconds()), "ms-cpu")
		b.ReportMetric(commits/elapsed.Seconds(), "commits/s")
		// The same without start-up and shutdown: CPU between two
		// readings of the running process (10 ms resolution).
		if steadyPolls > 0 {
			b.ReportMetric(float64(steadyCPU.Microseconds())/(steadyPolls*20), "µs-cpu/point-steady")
		}
	}
}

// scrapeValues reads unlabelled metrics from one scrape of a /metrics
// page, in the order of names.
func scrapeValues(tb testing.TB, url string, names ...string) []float64 {
	tb.Helper()
	code, body := get(url)
	if code != 200 {
		tb.Fatalf("GET %s: %d", url, code)
	}
	out := make([]float64, len(names))
	for i, name := range names {
		found := false
		for _, l := range strings.Split(body, "\n") {
			if v, ok := strings.CutPrefix(l, name+" "); ok {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					tb.Fatalf("%s: %v", l, err)
				}
				out[i], found = f, true
				break
			}
		}
		if !found {
			tb.Fatalf("no %s in %s", name, url)
		}
	}
	return out
}

// scrapeSum is the sum of a counter over all its labels on a /metrics page.
func scrapeSum(tb testing.TB, url, name string) float64 {
	tb.Helper()
	code, body := get(url)
	if code != 200 {
		tb.Fatalf("GET %s: %d", url, code)
	}
	sum, found := 0.0, false
	for _, l := range strings.Split(body, "\n") {
		if !strings.HasPrefix(l, name+"{") && !strings.HasPrefix(l, name+" ") {
			continue
		}
		f, err := strconv.ParseFloat(l[strings.LastIndexByte(l, ' ')+1:], 64)
		if err != nil {
			tb.Fatalf("%s: %v", l, err)
		}
		sum, found = sum+f, true
	}
	if !found {
		tb.Fatalf("no %s in %s", name, url)
	}
	return sum
}

// procCPU is the user + system CPU that process pid has used so far, from
// /proc/PID/stat (Linux; in clock ticks of 10 ms).
func procCPU(tb testing.TB, pid int) time.Duration {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	// The fields after the command name, which is in parentheses and may
	// hold spaces: state is field 3, utime 14, stime 15.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		tb.Fatalf("parse /proc/%d/stat: %s", pid, b)
	}
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// devYAML is bench unit u with 20 holding registers, as a flow mapping.
func devYAML(u int, interval time.Duration) string {
	var c strings.Builder
	fmt.Fprintf(&c, "{id: U%d, unit_id: %d, kind: bench, interval: %s, points: [", u, u, interval)
	for r := range 20 {
		if r > 0 {
			c.WriteString(", ")
		}
		fmt.Fprintf(&c, "{name: r%02d, area: holding, address: %d, type: uint16}", r, r)
	}
	c.WriteString("]}")
	return c.String()
}

// scrapeCounter reads one unlabelled counter from a /metrics page.
func scrapeCounter(tb testing.TB, url, name string) float64 {
	tb.Helper()
	code, body := get(url)
	if code != 200 {
		tb.Fatalf("GET %s: %d", url, code)
	}
	for _, l := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				tb.Fatalf("%s: %v", l, err)
			}
			return f
		}
	}
	tb.Fatalf("no %s in %s", name, url)
	return 0
}

// BenchmarkMQTTDrainGateway measures the gateway process on a queued MQTT
// backlog, three rounds on one data_dir: each round queues
// HAZARDGW_BENCH_MESSAGES camera events (default 50,000) at Mosquitto for
// the gateway's persistent session while it is stopped, then starts it and
// waits until every event is committed to the spool (and so acknowledged).
// It reports per round the drain rate, the process's CPU per message and
// peak RSS (its rusage: start-up included), and the highest heap in use
// seen on /metrics during the drain. With HAZARDGW_BENCH_INFLUX_DOWN=1
// InfluxDB is stopped for the three rounds, so the spool's backlog grows
// round after round: memory must not follow it.
//
//	go test -run '^$' -bench MQTTDrainGateway -benchtime 1x ./test/e2e/
func BenchmarkMQTTDrainGateway(b *testing.B) {
	n := 50_000
	if v, err := strconv.Atoi(os.Getenv("HAZARDGW_BENCH_MESSAGES")); err == nil && v > 0 {
		n = v
	}
	influxDown := os.Getenv("HAZARDGW_BENCH_INFLUX_DOWN") == "1"
	for b.Loop() {
		broker := testenv.Mosquitto(b)
		influx := testenv.InfluxDB(b)
		influx.CreateDB("hazard")
		cfg := writeMQTTConfig(b, b.TempDir(), influx.URL(), broker.URL())
		bin := hazardgwBin(b, false)
		if w := os.Getenv("HAZARDGW_BENCH_WRAPPER"); w != "" {
			bin = w
		}
		// The first start creates the persistent session.
		gw := startGatewayBin(b, bin, cfg)
		testenv.Eventually(b, 60*time.Second, func() bool { return strings.Contains(gw.out.String(), "connected to MQTT broker") }, "gateway connected")
		gw.stop(30 * time.Second)
		if influxDown {
			influx.Stop()
		}
		metrics := "http://" + listenAddr(b, cfg) + "/metrics"
		base := time.Now().Add(-time.Hour).Truncate(time.Second)
		for round := 1; round <= 3; round++ {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			err := publishStream(ctx, broker.URL(), base.Add(time.Duration(round)*time.Minute), n, 0)
			cancel()
			if err != nil {
				b.Fatal(err)
			}
			gw := startGatewayBin(b, bin, cfg)
			t0 := time.Now()
			heap := 0.0
			testenv.Eventually(b, 5*time.Minute, func() bool { // one scrape per look: each costs the gateway CPU
				v := scrapeValues(b, metrics, "go_memstats_heap_inuse_bytes", "hazardgw_points_accepted_total")
				heap = max(heap, v[0])
				return v[1] >= float64(n)
			}, "round %d: %d messages drained", round, n)
			elapsed := time.Since(t0)
			gw.stop(30 * time.Second)
			ru := gw.cmd.ProcessState.SysUsage().(*syscall.Rusage)
			cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
			b.ReportMetric(float64(n)/elapsed.Seconds(), fmt.Sprintf("msg/s-r%d", round))
			b.ReportMetric(float64(cpu.Microseconds())/float64(n), fmt.Sprintf("µs-cpu/msg-r%d", round))
			b.ReportMetric(float64(ru.Maxrss)/1024, fmt.Sprintf("MB-peak-rss-r%d", round))
			b.ReportMetric(heap/(1<<20), fmt.Sprintf("MB-heap-inuse-r%d", round))
		}
	}
}
