package e2e

import (
	"fmt"
	"os"
	"path/filepath"
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
	for b.Loop() {
		influx := testenv.InfluxDB(b)
		influx.CreateDB("hazard")
		sim := modbussim.New(modbussim.Options{})
		b.Cleanup(func() { sim.Close() })
		addr, err := sim.ListenTCP("127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		dir := b.TempDir()
		var c strings.Builder
		fmt.Fprintf(&c, `site: {id: bench}
gateway: {data_dir: %s, http: {listen: "127.0.0.1:%d"}}
influxdb: {url: %s, bucket: hazard/autogen, flush_interval: 10s}
modbus:
  links:
    - name: bench
      url: tcp://%s
      timeout: 1s
      devices:
`, filepath.Join(dir, "data"), testenv.FreePort(b), influx.URL(), addr)
		for u := 1; u <= 4; u++ {
			sim.Unit(uint8(u)).SetRegisters(modbussim.Holding, 0, make([]uint16, 20)...)
			fmt.Fprintf(&c, "        - {id: U%d, unit_id: %d, kind: bench, interval: %s, points: [", u, u, interval)
			for r := range 20 {
				if r > 0 {
					c.WriteString(", ")
				}
				fmt.Fprintf(&c, "{name: r%02d, area: holding, address: %d, type: uint16}", r, r)
			}
			c.WriteString("]}\n")
		}
		cfg := filepath.Join(dir, "hazardgw.yaml")
		os.WriteFile(cfg, []byte(c.String()), 0o644)

		bin := hazardgwBin(b, false)
		if w := os.Getenv("HAZARDGW_BENCH_WRAPPER"); w != "" {
			bin = w // e.g. a script running the binary under strace
		}
		gw := startGatewayBin(b, bin, cfg)
		time.Sleep(runFor) // the workload's duration
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
	}
}
