package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/alerting"
	"github.com/hazardgw/hazardgw/gateway"
	"github.com/hazardgw/hazardgw/internal/testenv"
	"github.com/hazardgw/hazardgw/simulators/modbussim"
	"github.com/hazardgw/hazardgw/simulators/mqttsim"
)

// TestDiskFullThenFreed runs the gateway on a small tmpfs as data_dir and
// fills it while camera events keep coming (half of them without ts): the
// gateway stops storing with a clear error, /readyz answers 503 saying disk
// full, gateway:spool-full fires, and nothing is acknowledged that is not
// stored. Once space is freed, /readyz is 200 again and ingest resumes in
// the same process: every event published is in InfluxDB exactly once.
//
// Filled all but 4 MiB (less than the 8 MiB the spool keeps free) or to
// the last byte (by something else), the alarm reaches the duty desk while
// the disk is full: the alert store commits it in the space it keeps
// allocated for itself.
func TestDiskFullThenFreed(t *testing.T) {
	for _, c := range []struct {
		name  string
		leave int64
	}{{"below the reserve", 4 << 20}, {"every byte", 0}} {
		t.Run(c.name, func(t *testing.T) { diskFullThenFreed(t, c.leave) })
	}
}

func diskFullThenFreed(t *testing.T, leave int64) {
	f := newForestSite(t, 1000)
	data := testenv.Tmpfs(t, filepath.Join(filepath.Dir(f.config), "data"), "16m")

	gw := startGateway(t, f.config, "DUTY_DESK_SECRET="+deskSecret)
	testenv.Eventually(t, 60*time.Second, func() bool { return strings.Contains(gw.out.String(), "connected to MQTT broker") }, "connected to the broker")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	pub, err := mqttsim.NewPublisher(ctx, mqttsim.PublisherOptions{URL: f.broker.URL(), Site: "forest-01", ClientID: "e2e-diskfull"})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close(time.Minute)
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	publish := func(prefix string, n int) {
		for i := range n {
			ev := mqttsim.CameraEvent{EventID: fmt.Sprintf("%s-%04d", prefix, i), CameraID: mqttsim.CameraID(i%5 + 2),
				Type: mqttsim.Hotspot, Confidence: 0.3}
			if i%2 == 1 {
				ev.TS = base.Add(time.Duration(len(prefix)*100_000+i) * time.Millisecond)
			}
			if err := pub.PublishCamera(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		if err := pub.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	const before, during = 300, 600
	publish("A", before)
	testenv.Eventually(t, time.Minute, func() bool { return f.influx.Count("hazard", "fire_detection", "") == before }, "%d events stored", before)

	filler := filepath.Join(data, "filler")
	testenv.FillDisk(t, filler, leave)
	publish("BB", during)
	ready := readyzURL(t, f.config)
	testenv.Eventually(t, time.Minute, func() bool {
		code, body := get(ready)
		return code == http.StatusServiceUnavailable && strings.Contains(body, "disk full")
	}, "/readyz 503 saying disk full")
	testenv.Eventually(t, time.Minute, func() bool {
		out := gw.out.String()
		return strings.Contains(out, "cannot commit MQTT messages to the spool") && strings.Contains(out, "no space left on device")
	}, "the log says why nothing is stored")
	// The first health report that cannot be stored raises the alarm, and
	// the alert store commits it in its reserve and sends it.
	f.wait(time.Minute, "gateway:spool-full at the desk while the disk is full", has(gateway.GatewayDevice, alerting.SpoolFullRule, "alert.firing"))
	if strings.Contains(gw.out.String(), "commit alert transitions") {
		t.Errorf("an alert store commit failed on the full disk")
	}
	stored := f.influx.Count("hazard", "fire_detection", "")
	t.Logf("while full: %d of %d events stored, /readyz %s", stored, before+during, func() string { _, b := get(ready); return strings.TrimSpace(b) }())

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, time.Minute, func() bool { code, _ := get(ready); return code == http.StatusOK }, "/readyz 200 after freeing space")
	testenv.Eventually(t, 2*time.Minute, func() bool { return f.influx.Count("hazard", "fire_detection", "") >= before+during },
		"%d events stored after freeing space, without a restart", before+during)
	f.wait(time.Minute, "gateway:spool-full at the desk", has(gateway.GatewayDevice, alerting.SpoolFullRule, "alert.firing"))
	select {
	case <-gw.exited:
		t.Fatalf("the gateway exited: %v", gw.err)
	default:
	}
	gw.stop(30 * time.Second)

	if n := f.influx.Count("hazard", "fire_detection", ""); n != before+during {
		t.Errorf("fire_detection: %d rows, want exactly %d", n, before+during)
	}
	res, err := f.influx.Query("hazard", `SELECT count(distinct(event_id)) FROM fire_detection`)
	if err != nil {
		t.Fatal(err)
	}
	if rows := rowsOf(res); len(rows) != 1 || toInt(rows[0].Value("count")) != before+during {
		t.Errorf("distinct event ids: %+v, want %d", res.Series, before+during)
	}
	// A failing commit is not logged once per commit.
	out := gw.out.String()
	if n := strings.Count(out, "commit to spool failed"); n > 20 {
		t.Errorf("%d 'commit to spool failed' lines", n)
	}
	if n := strings.Count(out, "cannot commit MQTT messages"); n > 5 {
		t.Errorf("%d 'cannot commit MQTT messages' lines", n)
	}
}

// readyzURL is the gateway's /readyz for the config's listen address.
func readyzURL(t *testing.T, config string) string {
	t.Helper()
	return "http://" + listenAddr(t, config) + "/readyz"
}

func get(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestModbusDiskFullLostPointsCounted: Modbus polls on a full disk are lost
// — there is no one to redeliver them — and every point is counted: a poll
// is two points (its device_status and the reading), and afterwards the
// rows in InfluxDB plus hazardgw_points_lost_total/2 equal the polls the
// simulator answered; the health series' spool_lost says so too. Polling goes on throughout and storing resumes once space is freed.
func TestModbusDiskFullLostPointsCounted(t *testing.T) {
	const devices = 2
	influx := testenv.InfluxDB(t)
	influx.CreateDB("hazard")
	var polls atomic.Int64
	sim, addr := newModbusSim(t, func(sv modbussim.Served) {
		if sv.Area == modbussim.Holding {
			polls.Add(1)
		}
	})
	for u := 1; u <= devices; u++ {
		setValues(t, sim.Unit(uint8(u)), u)
	}
	dir := t.TempDir()
	cfg := writeModbusConfig(t, dir, influx.URL(), []string{addr}, devices, 100*time.Millisecond)
	data := testenv.Tmpfs(t, filepath.Join(dir, "data"), "16m")

	gw := startGateway(t, cfg)
	metrics := "http://" + listenAddr(t, cfg) + "/metrics"
	testenv.Eventually(t, time.Minute, func() bool { return influx.Count("hazard", "e2e_dev", "") >= 10 }, "polls stored")
	filler := filepath.Join(data, "filler")
	testenv.FillDisk(t, filler, 0)
	testenv.Eventually(t, time.Minute, func() bool { return scrapeCounter(t, metrics, "hazardgw_points_lost_total") >= 30 }, "polls lost on the full disk")
	if code, body := get(readyzURL(t, cfg)); code != http.StatusServiceUnavailable || !strings.Contains(body, "disk full") {
		t.Errorf("/readyz on a full disk: %d %s", code, body)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, time.Minute, func() bool { code, _ := get(readyzURL(t, cfg)); return code == http.StatusOK }, "/readyz 200 after freeing space")
	lost := scrapeCounter(t, metrics, "hazardgw_points_lost_total")
	rows := influx.Count("hazard", "e2e_dev", "")
	testenv.Eventually(t, time.Minute, func() bool { return influx.Count("hazard", "e2e_dev", "") >= rows+10 }, "polls stored again")
	if again := scrapeCounter(t, metrics, "hazardgw_points_lost_total"); again != lost {
		t.Errorf("points lost after space was freed: %v → %v", lost, again)
	}
	// The health reports since the disk filled come in the next stored one.
	sumLost := func() int {
		res, err := influx.Query("hazard", `SELECT sum(spool_lost) FROM hazardgw`)
		if r := rowsOf(res); err == nil && len(r) == 1 {
			return toInt(r[0].Value("sum"))
		}
		return 0
	}
	testenv.Eventually(t, time.Minute, func() bool { return sumLost() >= int(lost) }, "spool_lost in the health series adds up to %v", lost)
	gw.stop(30 * time.Second)

	stored := influx.Count("hazard", "e2e_dev", "")
	served := int(polls.Load())
	// A poll cut by the shutdown between its two reads is not stored: at
	// most one per device.
	if int(lost)%2 != 0 {
		t.Errorf("%v points lost: not whole polls", lost)
	}
	if gap := served - (stored + int(lost)/2); gap < 0 || gap > devices {
		t.Errorf("%d polls answered, %d stored + %v points (%v polls) counted lost: %d unaccounted", served, stored, lost, lost/2, gap)
	}
	t.Logf("%d polls answered, %d stored, %v polls lost and counted; spool_lost sums to %d (with the unstored health reports)", served, stored, lost/2, sumLost())
}
