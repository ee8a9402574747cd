package e2e

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/internal/testenv"
	"github.com/hazardgw/hazardgw/simulators/modbussim"
)

// e2ePoint is one register-backed point of the test device: the gateway's
// register map and the test's independent decoding both derive from it.
type e2ePoint struct {
	name          string
	area          modbussim.Area
	address       int
	typ, order    string
	scale, offset float64
	bit           int // >= 0: a bool from this bit of the register
}

// eightPoints is the test device: every width, all four orders, scale and
// offset, a gap to bridge and a bit, over two register areas.
var eightPoints = []e2ePoint{
	{"ch4", modbussim.Holding, 0, "float32", "ABCD", 1, 0, -1},
	{"h2s", modbussim.Holding, 2, "uint16", "ABCD", 0.1, 0, -1},
	{"co", modbussim.Holding, 3, "uint32", "CDAB", 1, 0, -1},
	{"pressure", modbussim.Holding, 5, "float32", "BADC", 1, 0, -1},
	{"temperature", modbussim.Holding, 8, "int16", "ABCD", 0.1, -40, -1}, // gap at 7
	{"total", modbussim.Holding, 9, "float64", "DCBA", 1, 0, -1},
	{"alarm", modbussim.Holding, 13, "uint16", "ABCD", 1, 0, 3},
	{"level", modbussim.Input, 0, "int32", "CDAB", 0.01, 0, -1},
}

// served is one answered read, as the simulator reports it.
type served struct {
	at    time.Time
	words []uint16
}

type servedLog struct {
	mu sync.Mutex
	m  map[string][]served // key: unit/area
}

func (l *servedLog) add(unit uint8, area modbussim.Area, at time.Time, words []uint16) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := fmt.Sprintf("%d/%s", unit, area)
	l.m[k] = append(l.m[k], served{at, append([]uint16(nil), words...)})
}

func (l *servedLog) get(unit uint8, area modbussim.Area) []served {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]served(nil), l.m[fmt.Sprintf("%d/%s", unit, area)]...)
}

func deviceID(link, unit int) string { return fmt.Sprintf("L%d-D%02d", link, unit) }

func writeModbusConfig(t *testing.T, dir, influxURL string, addrs []string, devices int, interval time.Duration) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, `site: {id: e2e-site, name: 测试站}
gateway:
  data_dir: %s
  http: {listen: "127.0.0.1:%d", token: test-token}
  shutdown_timeout: 20s
influxdb:
  url: %s
  bucket: hazard/autogen
  batch_size: 500
  flush_interval: 200ms
modbus:
  links:
`, filepath.Join(dir, "data"), testenv.FreePort(t), influxURL)
	for l, addr := range addrs {
		fmt.Fprintf(&b, "    - name: link%d\n      url: tcp://%s\n      timeout: 1s\n      devices:\n", l, addr)
		for u := 1; u <= devices; u++ {
			fmt.Fprintf(&b, "        - id: %s\n          unit_id: %d\n          kind: e2e_dev\n          interval: %s\n          tags: {link: link%d}\n          points:\n",
				deviceID(l, u), u, interval, l)
			for _, p := range eightPoints {
				typ := p.typ
				if p.bit >= 0 {
					typ = "bool"
				}
				fmt.Fprintf(&b, "            - {name: %s, area: %s, address: %d, type: %s", p.name, p.area, p.address, typ)
				if p.bit >= 0 {
					fmt.Fprintf(&b, ", bit: %d", p.bit)
				} else {
					fmt.Fprintf(&b, ", order: %s, scale: %g, offset: %g", p.order, p.scale, p.offset)
				}
				b.WriteString("}\n")
			}
		}
	}
	path := filepath.Join(dir, "hazardgw.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// setValues writes the k-th set of values into every point of u, so that
// every poll sees values different from the previous one.
func setValues(t *testing.T, u *modbussim.Unit, k int) {
	f := float64(k)
	vals := map[string]float64{
		"ch4": float64(float32(f*0.37 + float64(u.ID()))), "h2s": float64(k%6000) * 0.1,
		"co": float64(k * 7 % 100000), "pressure": float64(float32(101.3 + f/7)),
		"temperature": float64(k%1200)*0.1 - 40, "total": f*1.5 + 0.25,
		"level": float64(k*13%200000) * 0.01,
	}
	for _, p := range eightPoints {
		if p.bit >= 0 {
			var w uint16
			if k%2 == 1 {
				w = 1 << p.bit
			}
			w |= 0x0100 // other bits set too: the gateway must pick the right one
			if err := u.SetRegisters(p.area, uint16(p.address), w); err != nil {
				t.Error(err)
			}
			continue
		}
		if err := u.SetValue(p.area, uint16(p.address), p.typ, p.order, p.scale, p.offset, vals[p.name]); err != nil {
			t.Errorf("set %s: %v", p.name, err)
		}
	}
}

// expected decodes the point from the words of the read that covered it,
// which started at register 0 of its area.
func expected(p e2ePoint, words []uint16) any {
	if p.bit >= 0 {
		return words[p.address]&(1<<p.bit) != 0
	}
	return decode(words[p.address:p.address+width(p.typ)], p.typ, p.order, p.scale, p.offset)
}

// TestModbusToInfluxExactValuesAcrossOutage polls 3 links × 10 devices × 8
// points every second for 60 s while InfluxDB is down for 30 s of it, and
// checks that every poll the simulator answered is in InfluxDB exactly once,
// with exactly the engineering values of the registers it served.
func TestModbusToInfluxExactValuesAcrossOutage(t *testing.T) {
	const links, devices = 3, 10
	const interval = time.Second
	runFor, outageAt, outageFor := 60*time.Second, 15*time.Second, 30*time.Second
	if testing.Short() {
		runFor, outageAt, outageFor = 12*time.Second, 3*time.Second, 5*time.Second
	}

	influx := newInflux(t, "hazard")
	dir := t.TempDir()
	var logs []*servedLog
	var sims []*modbussim.Server
	var addrs []string
	for range links {
		log := &servedLog{m: map[string][]served{}}
		logs = append(logs, log)
		s, addr := newModbusSim(t, func(sv modbussim.Served) {
			if sv.Area.IsRegister() {
				log.add(sv.Unit, sv.Area, sv.Time, sv.Words)
			}
		})
		for u := 1; u <= devices; u++ {
			setValues(t, s.Unit(uint8(u)), 0)
		}
		sims = append(sims, s)
		addrs = append(addrs, addr)
	}

	// Change every value every 100 ms, so each poll sees new values.
	ctx, stopValues := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for k := 1; ; k++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			for _, s := range sims {
				for u := 1; u <= devices; u++ {
					setValues(t, s.Unit(uint8(u)), k)
				}
			}
		}
	}()
	defer func() { stopValues(); wg.Wait() }()

	cfg := writeModbusConfig(t, dir, influx.URL(), addrs, devices, interval)
	gw := startGateway(t, cfg)
	start := time.Now()
	time.Sleep(outageAt) // the scenario's timeline, not synchronisation
	influx.Stop()
	time.Sleep(outageFor)
	influx.Start()
	time.Sleep(runFor - time.Since(start))
	gw.stop(60 * time.Second) // SIGTERM: sources stop, the spool drains, exit 0

	for l := range sims {
		for u := 1; u <= devices; u++ {
			checkDevice(t, influx, deviceID(l, u), uint8(u), logs[l], interval)
		}
	}
}

func checkDevice(t *testing.T, influx *testenv.Influx, id string, unit uint8, log *servedLog, interval time.Duration) {
	t.Helper()
	res, err := influx.Query("hazard", fmt.Sprintf(`SELECT * FROM e2e_dev WHERE device='%s' ORDER BY time`, id))
	if err != nil {
		t.Fatal(err)
	}
	rows := rowsOf(res)
	holding, input := log.get(unit, modbussim.Holding), log.get(unit, modbussim.Input)
	// SIGTERM can cut the last poll between its two reads: that poll is
	// incomplete and rightly stored nothing, so one read past the stored rows
	// in one area only is allowed. A poll that read both areas must be stored.
	if n := len(rows); len(holding) == n+1 && len(input) == n {
		holding = holding[:n]
	} else if len(input) == n+1 && len(holding) == n {
		input = input[:n]
	}
	if len(rows) == 0 || len(rows) != len(holding) || len(rows) != len(input) {
		t.Errorf("%s: %d rows in InfluxDB, simulator answered %d holding and %d input reads", id, len(rows), len(holding), len(input))
		return
	}
	if min := int(50 * time.Second / interval); !testing.Short() && len(rows) < min {
		t.Errorf("%s: only %d polls in 60 s at %v", id, len(rows), interval)
	}
	for i, row := range rows {
		at := row.Time()
		for _, sv := range []served{holding[i], input[i]} {
			// The poll's timestamp is taken when it starts, just before the read.
			if d := sv.at.Sub(at); d < -50*time.Millisecond || d > time.Second {
				t.Errorf("%s row %d at %v: read served at %v", id, i, at, sv.at)
				return
			}
		}
		for _, p := range eightPoints {
			words := holding[i].words
			if p.area == modbussim.Input {
				words = input[i].words
			}
			want := expected(p, words)
			got := row.Value(p.name)
			if !equalValue(got, want) {
				t.Errorf("%s row %d (%v) %s = %v (%T), want %v", id, i, at, p.name, got, got, want)
				return
			}
		}
		if v, _ := row.Value("link").(string); v == "" || row.Value("site") != "e2e-site" {
			t.Errorf("%s row %d: tags link=%v site=%v", id, i, row.Value("link"), row.Value("site"))
			return
		}
	}
	st, err := influx.Query("hazard", fmt.Sprintf(`SELECT count(online) FROM device_status WHERE device='%s' AND online=true`, id))
	if err != nil {
		t.Fatal(err)
	}
	if n := rowsOf(st); len(n) != 1 || toInt(n[0].Value("count")) != len(rows) {
		t.Errorf("%s: device_status online rows %v, want %d", id, n, len(rows))
	}
}

func equalValue(got, want any) bool {
	switch w := want.(type) {
	case bool:
		g, ok := got.(bool)
		return ok && g == w
	case float64:
		g, ok := got.(float64)
		return ok && (g == w || math.IsNaN(g) && math.IsNaN(w))
	}
	return false
}

func toInt(v any) int {
	switch x := v.(type) {
	case float64:
		return int(x)
	case int64:
		return int(x)
	case int:
		return x
	}
	return -1
}

var _ = sort.Ints
