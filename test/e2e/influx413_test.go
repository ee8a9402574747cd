package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/internal/testenv"
)

// TestInflux413NothingDeadLettered: InfluxDB accepts write bodies of at
// most 8 KiB (413 beyond). A backlog of 2,000 camera events piled up while
// it was down reaches it through the binary in batches halved until they
// fit: every event is stored once and nothing is dead-lettered. (The whole
// backlog, about 400 kB, waits when InfluxDB comes back, and the first batch
// read holds all of it: that one is refused with 413 for sure.)
func TestInflux413NothingDeadLettered(t *testing.T) {
	const events = 2000
	broker := testenv.Mosquitto(t)
	influx := newInflux(t, "hazard", testenv.WithMaxBodySize(8<<10))
	cfg := writeMQTTConfig(t, t.TempDir(), influx.URL(), broker.URL()) // batch_size 5000
	influx.Stop()
	gw := startGateway(t, cfg)
	metrics := "http://" + listenAddr(t, cfg) + "/metrics"
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := publishStream(ctx, broker.URL(), time.Now().Add(-time.Hour).Truncate(time.Second), events, 0); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, time.Minute, func() bool { return scrapeCounter(t, metrics, "hazardgw_points_accepted_total") >= events }, "the backlog in the spool")
	influx.Start()
	testenv.Eventually(t, 2*time.Minute, func() bool { return influx.Count("hazard", "fire_detection", "") >= events }, "%d events in InfluxDB", events)
	if n := scrapeCounter(t, metrics, "hazardgw_points_dead_lettered_total"); n != 0 {
		t.Errorf("%v points dead-lettered, want 0", n)
	}
	gw.stop(30 * time.Second)
	if n := influx.Count("hazard", "fire_detection", ""); n != events {
		t.Errorf("fire_detection: %d rows, want exactly %d", n, events)
	}
}
