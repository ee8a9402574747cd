package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/internal/testenv"
)

// TestAlarmOnFullDisk: data_dir is a 16 MiB tmpfs that another file fills
// to the last byte. /readyz says disk full and the gas readings are not
// stored — but a Modbus gas detector going over its red limit still
// reaches the duty desk, once: the readings are still evaluated, and the
// alert store commits the alarm in the disk space it keeps allocated for
// itself. Once the space is freed, the resolution follows, and the `alert`
// points that waited in the alert store reach InfluxDB.
func TestAlarmOnFullDisk(t *testing.T) {
	s := newAlertSite(t, siteOpts{devices: 1, interval: 200 * time.Millisecond})
	data := testenv.Tmpfs(t, filepath.Join(filepath.Dir(s.config), "data"), "16m")
	gw := s.start()
	testenv.Eventually(t, time.Minute, func() bool { return s.influx.Count("hazard", "gas_detector", "") >= 3 }, "readings stored")

	filler := filepath.Join(data, "app.log")
	testenv.FillDisk(t, filler, 0)
	if n := testenv.FreeBytes(t, data); n != 0 {
		t.Fatalf("after filling: %d bytes free", n)
	}
	ready := "http://" + listenAddr(t, s.config) + "/readyz"
	testenv.Eventually(t, time.Minute, func() bool {
		code, body := get(ready)
		return code == http.StatusServiceUnavailable && strings.Contains(body, "disk full")
	}, "/readyz 503 saying disk full")

	s.set(1, 62)
	s.waitDesk(time.Minute, "alert.firing while the disk is full", has("GD-101", "combustible-gas", "alert.firing"))
	if strings.Contains(gw.out.String(), "commit alert transitions") {
		t.Errorf("an alert store commit failed on the full disk:\n%s", gw.out.String())
	}
	if code, body := get(ready); code != http.StatusServiceUnavailable || !strings.Contains(body, "disk full") {
		t.Errorf("/readyz while the alarm went out: %d %s", code, body)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	s.set(1, 0)
	s.waitDesk(time.Minute, "alert.resolved after freeing space", has("GD-101", "combustible-gas", "alert.resolved"))
	testenv.Eventually(t, time.Minute, func() bool {
		return s.influx.Count("hazard", "alert", `"device"='GD-101' AND "rule"='combustible-gas'`) == 2
	}, "both alert points in InfluxDB")
	gw.stop(30 * time.Second)

	firing := 0
	for _, d := range s.desk.Deliveries() {
		if d.Alert.Device == "GD-101" && d.Type == "alert.firing" {
			firing++
		}
	}
	if firing != 1 {
		t.Errorf("%d alert.firing at the desk, want 1:\n%s", firing, strings.Join(s.received(), "\n"))
	}
	if got, want := s.history("GD-101", "combustible-gas", false), []string{"alert.firing high-high red", "alert.resolved high-high red"}; !slices.Equal(got, want) {
		t.Errorf("at the desk: %q, want %q", got, want)
	}
	if d := s.desk.Stats().Duplicates; d != 0 {
		t.Errorf("%d notifications sent twice", d)
	}
}
