package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/internal/testenv"
	"github.com/hazardgw/hazardgw/simulators/dutydesk"
	"github.com/hazardgw/hazardgw/simulators/modbussim"
	"github.com/hazardgw/hazardgw/simulators/mqttsim"
)

// TestReloadOnSIGHUP: while camera events flow over MQTT and a gas alarm's
// notification waits for a desk that is down, SIGHUP applies a file that
// adds GD-103 and removes GD-102; then an invalid file changes nothing.
// Every event is stored once, the notification arrives once, GD-103 is
// polled and GD-102 no longer is, and the gateway runs throughout.
func TestReloadOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	influx := newInflux(t, "hazard")
	broker := testenv.Mosquitto(t)
	sim, addr := newModbusSim(t, nil)
	for u := uint8(1); u <= 3; u++ {
		if err := sim.Unit(u).SetValue(modbussim.Holding, 0, "float32", "ABCD", 1, 0, 2); err != nil {
			t.Fatal(err)
		}
	}
	desk := newDesk(t)
	port := testenv.FreePort(t)
	config := func(units ...int) string {
		var b strings.Builder
		fmt.Fprintf(&b, `site: {id: forest-01, name: 测试站}
gateway:
  http: {listen: "127.0.0.1:%d", token: test-token}
  data_dir: %s
  shutdown_timeout: 10s
influxdb: {url: %s, bucket: hazard/autogen, flush_interval: 200ms}
mqtt:
  url: %s
  client_id: hazardgw-e2e-reload
  subscriptions:
    - {topic: "site/{site}/camera/{camera}/event", format: camera_event, qos: 1}
modbus:
  links:
    - name: panel
      url: tcp://%s
      timeout: 300ms
      devices:
`, port, filepath.Join(dir, "data"), influx.URL(), broker.URL(), addr)
		for _, u := range units {
			fmt.Fprintf(&b, `        - {id: GD-10%d, unit_id: %d, kind: gas_detector, interval: 200ms, points: [{name: ch4, area: holding, address: 0, type: float32, unit: "%%LEL"}]}
`, u, u)
		}
		fmt.Fprintf(&b, `alerting:
  rules:
    - name: combustible-gas
      match: {kind: gas_detector, point: ch4}
      thresholds: [{level: high-high, above: 50, severity: red}]
  notify:
    - {name: duty-desk, url: %q, secret: "${DUTY_DESK_SECRET}", timeout: 2s}
`, desk.URL())
		return b.String()
	}
	path := filepath.Join(dir, "hazardgw.yaml")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(config(1, 2))
	g := startGateway(t, path, "DUTY_DESK_SECRET="+deskSecret)
	waitLog := func(s string, n int) {
		t.Helper()
		testenv.Eventually(t, 60*time.Second, func() bool { return strings.Count(g.out.String(), s) >= n }, "log %q ×%d", s, n)
	}

	// The desk goes down; a gas alarm's notification waits in the outbox.
	// It comes back by itself after the reload (below).
	if err := desk.RefuseFor(8 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := sim.Unit(1).SetValue(modbussim.Holding, 0, "float32", "ABCD", 1, 0, 60); err != nil {
		t.Fatal(err)
	}
	waitLog("alert firing", 1)

	// Camera events flow while the configuration is reloaded.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pub := newPublisher(t, ctx, broker, "forest-01", "e2e-reload-cams")
	const events = 400
	published := make(chan error, 1)
	base := time.Now().Add(-time.Minute).Truncate(time.Second)
	go func() {
		for i := range events {
			ev := mqttsim.CameraEvent{EventID: fmt.Sprintf("R%04d", i), CameraID: "CAM-01", TS: base.Add(time.Duration(i) * time.Millisecond),
				Type: mqttsim.Smoke, Confidence: 0.1}
			if err := pub.PublishCamera(ctx, ev); err != nil {
				published <- err
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		published <- pub.Flush(ctx)
	}()
	time.Sleep(500 * time.Millisecond)
	write(config(1, 3))
	g.sighup()
	waitLog("restarting on the reloaded configuration", 1)
	reloadedAt := time.Now()
	if err := <-published; err != nil {
		t.Fatal(err)
	}

	// An invalid file: logged, nothing changes, the gateway keeps running.
	write(strings.Replace(config(1, 3), "kind: gas_detector", "kind: Gas-Detector", 1))
	g.sighup()
	waitLog("configuration not reloaded; the running one stays", 1)
	select {
	case <-g.exited:
		t.Fatal("the gateway exited after an invalid file")
	default:
	}

	// The desk is back: the pending notification arrives, once.
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Minute)
	defer cancel2()
	if err := desk.Wait(ctx2, func(ds []dutydesk.Delivery) bool { return len(ds) >= 1 }); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	firing := 0
	for _, d := range desk.Deliveries() {
		if d.Alert.Device == "GD-101" && d.Type == "alert.firing" {
			firing++
		}
	}
	if firing != 1 {
		t.Errorf("%d alert.firing for GD-101, want 1", firing)
	}

	// Every camera event stored exactly once.
	testenv.Eventually(t, 60*time.Second, func() bool {
		res, err := influx.Query("hazard", `SELECT count(confidence) FROM fire_detection`)
		return err == nil && len(res.Series) > 0 && res.Series[0].Values[0][1].(float64) >= events
	}, "%d camera events in InfluxDB", events)
	res, err := influx.Query("hazard", `SELECT count(confidence) FROM fire_detection`)
	if err != nil {
		t.Fatal(err)
	}
	if n := res.Series[0].Values[0][1].(float64); n != events {
		t.Errorf("%v camera rows, want %d (none lost, none twice)", n, events)
	}
	// GD-103 is polled after the reload; GD-102 no longer is.
	testenv.Eventually(t, 30*time.Second, func() bool {
		res, err := influx.Query("hazard", `SELECT count(ch4) FROM gas_detector WHERE device='GD-103'`)
		return err == nil && len(res.Series) > 0
	}, "GD-103 readings")
	later := reloadedAt.Add(2 * time.Second).UnixNano()
	res, err = influx.Query("hazard", fmt.Sprintf(`SELECT count(ch4) FROM gas_detector WHERE device='GD-102' AND time > %d`, later))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Series) > 0 {
		t.Errorf("GD-102 still polled after it was removed: %+v", res.Series)
	}
}
