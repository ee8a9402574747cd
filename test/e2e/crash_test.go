package e2e

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/gateway/spool"
	"github.com/hazardgw/hazardgw/internal/testenv"
)

// TestKill9LosesNothingAndDuplicatesNothing kills the gateway with SIGKILL
// while points wait in its spool (InfluxDB is down), then restarts it with
// InfluxDB up: every point that was in the spool at the kill — i.e. every
// accepted point — arrives, exactly once.
func TestKill9LosesNothingAndDuplicatesNothing(t *testing.T) {
	const devices = 3
	influx := newInflux(t, "hazard")
	influx.Stop() // points can only pile up in the spool

	sim, addr := newModbusSim(t, nil)
	for u := 1; u <= devices; u++ {
		setValues(t, sim.Unit(uint8(u)), u)
	}
	dir := t.TempDir()
	cfg := writeModbusConfig(t, dir, influx.URL(), []string{addr}, devices, 200*time.Millisecond)

	gw := startGateway(t, cfg)
	spoolPath := filepath.Join(dir, "data", "spool.db")
	// Let a few dozen polls accumulate; the count is checked below, not the time.
	time.Sleep(4 * time.Second)
	gw.kill9()
	killedAt := time.Now()

	accepted := readSpool(t, spoolPath)
	if len(accepted["e2e_dev"]) < devices*5 {
		t.Fatalf("only %d device points in the spool after 4 s at 200 ms", len(accepted["e2e_dev"]))
	}

	influx.Start()
	sim.Close() // no new device values after restart: only device_status offline points
	gw2 := startGateway(t, cfg)
	want := len(accepted["e2e_dev"])
	testenv.Eventually(t, 60*time.Second, func() bool {
		res, err := influx.Query("hazard", `SELECT count(ch4) FROM e2e_dev`)
		return err == nil && len(rowsOf(res)) == 1 && toInt(rowsOf(res)[0].Value("count")) >= want
	}, "%d spooled points to reach InfluxDB", want)
	gw2.stop(30 * time.Second)

	// Exactly the accepted points, each once, at its original timestamp.
	res, err := influx.Query("hazard", fmt.Sprintf(`SELECT ch4, device FROM e2e_dev WHERE time <= %d`, killedAt.UnixNano()))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, r := range rowsOf(res) {
		got[fmt.Sprintf("%v@%d", r.Value("device"), r.Time().UnixNano())]++
	}
	if len(rowsOf(res)) != want {
		t.Errorf("InfluxDB has %d device rows before the kill, spool had %d", len(rowsOf(res)), want)
	}
	for _, key := range accepted["e2e_dev"] {
		if got[key] != 1 {
			t.Errorf("spooled point %s is in InfluxDB %d times", key, got[key])
		}
	}
}

// readSpool opens a spool file left by a killed gateway and returns, per
// measurement, "device@unixnano" of every point waiting in it.
func readSpool(t *testing.T, path string) map[string][]string {
	t.Helper()
	sp, err := spool.Open(path, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	entries, err := sp.Read(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, e := range entries {
		line := string(e.Line)
		meas, rest, _ := strings.Cut(line, ",")
		dev := ""
		for _, kv := range strings.Split(strings.Fields(rest)[0], ",") {
			if v, ok := strings.CutPrefix(kv, "device="); ok {
				dev = v
			}
		}
		ts := line[strings.LastIndexByte(line, ' ')+1:]
		if _, err := strconv.ParseInt(ts, 10, 64); err != nil {
			t.Fatalf("spool line without timestamp: %q", line)
		}
		out[meas] = append(out[meas], dev+"@"+ts)
	}
	return out
}
