package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/internal/testenv"
	"github.com/hazardgw/hazardgw/simulators/mqttsim"
)

// TestMQTTKill9TwelveTimesExactlyOnce is the data path's crash acceptance:
// 30,000 camera events are published at about 1,500/s at QoS 1 to a real
// Mosquitto while the gateway (a persistent session) is killed with SIGKILL
// twelve times and started again. A third of the events carry no ts, so
// they are stored at their arrival time: a redelivery of one that was
// committed but not acknowledged must land on the time its first copy got.
// In the end InfluxDB holds exactly 30,000 rows, one per event_id.
func TestMQTTKill9TwelveTimesExactlyOnce(t *testing.T) {
	const events, rate, kills = 30_000, 1500, 12
	broker := testenv.Mosquitto(t)
	influx := newInflux(t, "hazard")
	cfg := writeMQTTConfig(t, t.TempDir(), influx.URL(), broker.URL())

	gw := startGateway(t, cfg)
	testenv.Eventually(t, 60*time.Second, func() bool { return strings.Contains(gw.out.String(), "connected to MQTT broker") }, "gateway connected to the broker")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var published atomic.Int64
	done := make(chan error, 1)
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	go func() { done <- publishPaced(ctx, broker.URL(), base, events, rate, &published) }()

	rng := rand.New(rand.NewPCG(12, 9))
	metrics := "http://" + listenAddr(t, cfg) + "/metrics"
	restamped := 0.0 // redeliveries stored at their first copy's time, over all the processes
	for k := 1; k <= kills; k++ {
		// Spread the kills over the stream, each at a random moment of
		// the gateway's life (after it is ready: it is then consuming).
		at := int64(k * events / (kills + 1))
		testenv.Eventually(t, 2*time.Minute, func() bool { return published.Load() >= at }, "%d events published", at)
		time.Sleep(time.Duration(rng.IntN(400)) * time.Millisecond)
		restamped += scrapeCounter(t, metrics, "hazardgw_mqtt_redelivered_restamped_total")
		gw.kill9()
		t.Logf("kill %d: %d published, %d stored", k, published.Load(), influx.Count("hazard", "fire_detection", ""))
		gw = startGateway(t, cfg)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 3*time.Minute, func() bool { return influx.Count("hazard", "fire_detection", "") >= events },
		"%d camera events in InfluxDB", events)
	restamped += scrapeCounter(t, metrics, "hazardgw_mqtt_redelivered_restamped_total")
	gw.stop(30 * time.Second) // drains: a late duplicate would be written now
	t.Logf("%v redeliveries without ts stored at their first copy's time", restamped)

	if n := influx.Count("hazard", "fire_detection", ""); n != events {
		t.Errorf("fire_detection: %d rows, want exactly %d", n, events)
	}
	res, err := influx.Query("hazard", `SELECT count(distinct(event_id)) FROM fire_detection`)
	if err != nil {
		t.Fatal(err)
	}
	if rows := rowsOf(res); len(rows) != 1 || toInt(rows[0].Value("count")) != events {
		t.Errorf("distinct event ids: %+v, want %d", res.Series, events)
	}
	// The ones without ts, on their own: every one once.
	res, err = influx.Query("hazard", fmt.Sprintf(`SELECT count(confidence) FROM fire_detection WHERE time > %d`, time.Now().Add(-30*time.Minute).UnixNano()))
	if err != nil {
		t.Fatal(err)
	}
	if rows := rowsOf(res); len(rows) != 1 || toInt(rows[0].Value("count")) != events/3 {
		t.Errorf("events stored at arrival time: %+v, want %d", res.Series, events/3)
	}
}

// publishPaced publishes n camera events at about rate per second, QoS 1,
// every third without ts, each with its own event_id, counting them in
// published, and waits for every PUBACK.
func publishPaced(ctx context.Context, url string, base time.Time, n, rate int, published *atomic.Int64) error {
	pub, err := mqttsim.NewPublisher(ctx, mqttsim.PublisherOptions{URL: url, Site: "e2e-site", ClientID: "e2e-paced", Window: 512})
	if err != nil {
		return err
	}
	defer pub.Close(time.Minute)
	const tick = 20 * time.Millisecond
	per := rate * int(tick) / int(time.Second)
	tk := time.NewTicker(tick)
	defer tk.Stop()
	for i := 0; i < n; {
		for end := min(n, i+per); i < end; i++ {
			cam := mqttsim.CameraID(i%10 + 1)
			ev := mqttsim.CameraEvent{
				EventID: fmt.Sprintf("K9-%05d", i), CameraID: cam,
				Type: []string{mqttsim.Smoke, mqttsim.Fire, mqttsim.Hotspot}[i%3], Confidence: float64(i%101) / 100,
			}
			if i%3 != 0 {
				ev.TS = base.Add(time.Duration(i) * time.Millisecond)
			}
			if err := pub.PublishCamera(ctx, ev); err != nil {
				return err
			}
			published.Add(1)
		}
		select {
		case <-tk.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return pub.Flush(ctx)
}
