package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/internal/testenv"
	"github.com/hazardgw/hazardgw/simulators/mqttsim"
)

func writeMQTTConfig(t testing.TB, dir, influxURL, brokerURL string) string {
	t.Helper()
	cfg := fmt.Sprintf(`site: {id: e2e-site, name: 测试林区}
gateway:
  data_dir: %s
  http: {listen: "127.0.0.1:%d", token: test-token}
  shutdown_timeout: 20s
influxdb:
  url: %s
  bucket: hazard/autogen
  batch_size: 5000
  flush_interval: 200ms
mqtt:
  url: %s
  client_id: hazardgw-e2e
  subscriptions:
    - {topic: "site/{site}/camera/{camera}/event", format: camera_event, qos: 1}
    - {topic: "site/{site}/checkpoint/{checkpoint}/passage", format: checkpoint_passage, qos: 1}
`, filepath.Join(dir, "data"), testenv.FreePort(t), influxURL, brokerURL)
	path := filepath.Join(dir, "hazardgw.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// publishStream publishes cameras camera events and passages passages at
// QoS 1, each with its own series and timestamp, and waits for every PUBACK.
func publishStream(ctx context.Context, url string, base time.Time, cameras, passages int) error {
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for k, n := range []int{cameras, passages} {
		wg.Go(func() {
			pub, err := mqttsim.NewPublisher(ctx, mqttsim.PublisherOptions{URL: url, Site: "e2e-site", ClientID: fmt.Sprintf("e2e-pub-%d", k), Window: 512})
			if err != nil {
				errs <- err
				return
			}
			defer pub.Close(time.Minute)
			for i := range n {
				ts := base.Add(time.Duration(i) * time.Millisecond)
				if k == 0 {
					cam := mqttsim.CameraID(i%10 + 1)
					err = pub.PublishCamera(ctx, mqttsim.CameraEvent{
						EventID: mqttsim.EventID(cam, i/10+1), CameraID: cam, TS: ts,
						Type: []string{mqttsim.Smoke, mqttsim.Fire, mqttsim.Hotspot}[i%3], Confidence: float64(i%101) / 100,
						BearingDeg: mqttsim.Ptr(float64(i%3600) / 10), DistanceM: mqttsim.Ptr(float64(i % 5000)),
					})
				} else {
					kk := mqttsim.CheckpointID(i%5 + 1)
					err = pub.PublishPassage(ctx, mqttsim.Passage{
						EventID: mqttsim.EventID(kk, i/5+1), CheckpointID: kk, TS: ts,
						Direction: []string{mqttsim.In, mqttsim.Out}[i%2], People: mqttsim.Ptr(i % 7), Vehicles: mqttsim.Ptr(i % 3),
					})
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- pub.Flush(ctx)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// TestMQTTKill9MidStream kills the gateway with SIGKILL while it consumes a
// QoS 1 stream and starts it again: the broker redelivers what was not
// acknowledged (acknowledged means in the spool), the spool replays what was
// not yet in InfluxDB, and InfluxDB ends up with every event exactly once.
func TestMQTTKill9MidStream(t *testing.T) {
	const cameras, passages = 50_000, 10_000
	broker := testenv.Mosquitto(t)
	influx := newInflux(t, "hazard")
	cfg := writeMQTTConfig(t, t.TempDir(), influx.URL(), broker.URL())

	gw := startGateway(t, cfg)
	testenv.Eventually(t, 60*time.Second, func() bool { return strings.Contains(gw.out.String(), "connected to MQTT broker") },
		"gateway connected to the broker")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	done := make(chan error, 1)
	go func() { done <- publishStream(ctx, broker.URL(), base, cameras, passages) }()

	testenv.Eventually(t, 5*time.Minute, func() bool { return influx.Count("hazard", "fire_detection", "") >= 10_000 },
		"10,000 camera events stored before the kill")
	gw.kill9()
	t.Logf("killed with %d camera events in InfluxDB", influx.Count("hazard", "fire_detection", ""))

	gw2 := startGateway(t, cfg)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Minute, func() bool {
		return influx.Count("hazard", "fire_detection", "") >= cameras && influx.Count("hazard", "checkpoint_passage", "") >= passages
	}, "%d camera events and %d passages in InfluxDB", cameras, passages)
	gw2.stop(30 * time.Second)

	if n := influx.Count("hazard", "fire_detection", ""); n != cameras {
		t.Errorf("fire_detection: %d points, want exactly %d", n, cameras)
	}
	if n := influx.Count("hazard", "checkpoint_passage", ""); n != passages {
		t.Errorf("checkpoint_passage: %d points, want exactly %d", n, passages)
	}
	for c := 1; c <= 10; c++ {
		where := fmt.Sprintf(`"camera" = '%s' AND "site" = 'e2e-site'`, mqttsim.CameraID(c))
		if n := influx.Count("hazard", "fire_detection", where); n != cameras/10 {
			t.Errorf("%s: %d events, want %d", mqttsim.CameraID(c), n, cameras/10)
		}
	}
	// Spot-check one event's fields and payload timestamp.
	res, err := influx.Query("hazard", `SELECT confidence, bearing_deg, event_id, "type" FROM fire_detection WHERE event_id = 'CAM-04-000124'`)
	if err != nil {
		t.Fatal(err)
	}
	i := 123*10 + 3 // the event_id's index in the stream
	if len(res.Series) != 1 || len(res.Series[0].Values) != 1 {
		t.Fatalf("CAM-04-000124: %+v", res.Series)
	}
	row := res.Series[0].Values[0]
	// The stored time is the payload's millisecond ts plus an offset below
	// one millisecond (events of one series in one ms stay distinct).
	wantTS := base.Add(time.Duration(i) * time.Millisecond).UTC()
	gotTS, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(row[0]))
	if !gotTS.Truncate(time.Millisecond).Equal(wantTS) || row[1] != float64(i%101)/100 || row[2] != float64(i%3600)/10 || row[4] != "smoke" {
		t.Errorf("CAM-04-000124: %v, want time %s confidence %v bearing %v type smoke", row, wantTS, float64(i%101)/100, float64(i%3600)/10)
	}
}
