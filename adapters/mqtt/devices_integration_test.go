package mqtt

// Integration tests of device liveness against a real Mosquitto
// (internal/testenv): declared devices, heartbeats, broker loss, learnt
// devices across a restart and the max_devices bound. Points are recorded
// as line protocol (no InfluxDB needed).

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hazardgw/hazardgw/internal/testenv"
	"github.com/hazardgw/hazardgw/simulators/mqttsim"
)

// lines returns what r accepted so far, without taking it.
func (r *recorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...)
}

// find returns the first recorded line with every one of parts.
func (r *recorder) find(parts ...string) (string, bool) {
next:
	for _, l := range r.all() {
		for _, p := range parts {
			if !strings.Contains(l, p) {
				continue next
			}
		}
		return l, true
	}
	return "", false
}

// lineTime is the timestamp of a line of line protocol.
func lineTime(t *testing.T, l string) time.Time {
	t.Helper()
	ns, err := strconv.ParseInt(l[strings.LastIndexByte(l, ' ')+1:], 10, 64)
	if err != nil {
		t.Fatalf("line %q: %v", l, err)
	}
	return time.Unix(0, ns)
}

// runSource runs a Source for cfg into rec until the test ends or stop is
// called, and waits until it is connected.
func runSource(t *testing.T, cfg Config, rec *recorder) (src *Source, logs *testenv.Buffer, stop func()) {
	t.Helper()
	logs = &testenv.Buffer{}
	src, err := New(cfg, "qz", slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := src.Run(ctx, rec); err != nil {
			t.Errorf("run: %v", err)
		}
	})
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("source log (tail):\n%s", tailLines(logs.String(), 40))
		}
	})
	testenv.Eventually(t, 30*time.Second, src.Connected, "source connected")
	return src, logs, stop
}

func publisher(t *testing.T, url, id string) *mqttsim.Publisher {
	t.Helper()
	pub, err := mqttsim.NewPublisher(context.Background(), mqttsim.PublisherOptions{URL: url, Site: "qz", ClientID: id})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Close(10 * time.Second) })
	return pub
}

func statusSub() Subscription {
	return Subscription{Topic: "site/{site}/device/{device}/status", Format: FormatDeviceStatus}
}

// TestDeclaredDevicesIT: a declared camera that never speaks is reported
// offline once its stale has passed since start; a declared checkpoint's
// heartbeats are stored with its declared kind.
func TestDeclaredDevicesIT(t *testing.T) {
	broker := testenv.Mosquitto(t)
	cfg := brokerConfig(broker.URL())
	cfg.Subscriptions = append(cfg.Subscriptions, statusSub())
	cfg.Devices = []Device{
		{ID: "CAM-01", Kind: "camera", Label: "东山瞭望塔1号摄像机", Stale: time.Second},
		{ID: "KK-03", Kind: "checkpoint", Stale: time.Hour},
	}
	rec := &recorder{}
	start := time.Now()
	src, _, _ := runSource(t, cfg, rec)

	pub := publisher(t, broker.URL(), "it-hb")
	if err := pub.PublishRaw(context.Background(), "site/qz/device/KK-03/status", []byte(`{"online":true,"fault":false}`)); err != nil {
		t.Fatal(err)
	}
	var off string
	testenv.Eventually(t, 30*time.Second, func() (ok bool) {
		off, ok = rec.find("device=CAM-01,", `online=false,quality="bad",reason="offline"`)
		return ok
	}, "CAM-01 reported offline")
	if !strings.Contains(off, "kind=fire_detection,") {
		t.Errorf("offline point without the declared kind: %s", off)
	}
	if d := lineTime(t, off).Sub(start); d < time.Second {
		t.Errorf("CAM-01 reported offline %v after start, before its stale (1s)", d)
	}
	testenv.Eventually(t, 30*time.Second, func() bool {
		_, ok := rec.find("device_status,device=KK-03,kind=checkpoint_passage,site=qz,source=mqtt online=true,quality=\"good\",reason=\"\" ")
		return ok
	}, "KK-03's heartbeat stored with its kind")
	if ds := src.Devices(); len(ds) != 2 || ds[0].ID != "KK-03" || !ds[0].Online || ds[1].ID != "CAM-01" || ds[1].Online || ds[1].Reason != "offline" {
		t.Errorf("devices: %+v", ds)
	}
}

// TestBrokerDownIT: when Mosquitto stops, every device is marked
// bad/broker_down at once (without an online field), and a device silent
// past its stale is reported offline on time while the broker is still
// down, with the broker as the cause. After the broker is back, the next
// message makes the device online and good again.
func TestBrokerDownIT(t *testing.T) {
	broker := testenv.Mosquitto(t)
	cfg := brokerConfig(broker.URL())
	cfg.Subscriptions[0].Stale = 3 * time.Second
	cfg.Devices = []Device{{ID: "KK-03", Kind: "checkpoint", Stale: time.Hour}}
	rec := &recorder{}
	src, logs, _ := runSource(t, cfg, rec)

	pub := publisher(t, broker.URL(), "it-down")
	ctx := context.Background()
	if err := pub.PublishCamera(ctx, mqttsim.CameraEvent{CameraID: "CAM-05", Type: mqttsim.Smoke, Confidence: 0.2}); err != nil {
		t.Fatal(err)
	}
	var on string
	testenv.Eventually(t, 30*time.Second, func() (ok bool) {
		on, ok = rec.find("device=CAM-05,", `online=true,quality="good"`)
		return ok
	}, "CAM-05 online")
	pub.Close(10 * time.Second)

	broker.Stop()
	testenv.Eventually(t, 30*time.Second, func() bool { return !src.Connected() }, "source sees the broker gone")
	for _, id := range []string{"CAM-05", "KK-03"} {
		testenv.Eventually(t, 30*time.Second, func() bool {
			_, ok := rec.find("device_status,device="+id+",", ` quality="bad",reason="broker_down" `)
			return ok
		}, "%s marked broker_down", id)
	}
	var off string
	testenv.Eventually(t, 30*time.Second, func() (ok bool) {
		off, ok = rec.find("device=CAM-05,", `online=false,quality="bad",reason="broker_down"`)
		return ok
	}, "CAM-05 offline while the broker is down")
	if src.Connected() {
		t.Fatal("connected again: the broker was never started")
	}
	if d := lineTime(t, off).Sub(lineTime(t, on)); d < 3*time.Second {
		t.Errorf("offline %v after its last message, before its stale (3s)", d)
	}
	if l, ok := rec.find("device=KK-03,", "online="); ok {
		t.Errorf("KK-03 (stale 1h) got an online field: %s", l)
	}
	if !strings.Contains(logs.String(), "no broker connection") {
		t.Error("broker_down not logged")
	}

	broker.Start()
	testenv.Eventually(t, time.Minute, src.Connected, "reconnected")
	n := len(rec.all())
	pub2 := publisher(t, broker.URL(), "it-down-2")
	if err := pub2.PublishCamera(ctx, mqttsim.CameraEvent{CameraID: "CAM-05", Type: mqttsim.Smoke, Confidence: 0.3}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, func() bool {
		for _, l := range rec.all()[n:] {
			if strings.Contains(l, "device=CAM-05,") && strings.Contains(l, `online=true,quality="good",reason=""`) {
				return true
			}
		}
		return false
	}, "CAM-05 online and good after the broker is back")
}

// TestLearntDeviceRememberedIT: a camera learnt from traffic is saved in
// the data dir; a new Source on the same dir knows it from start and,
// as it stays silent, reports it offline.
func TestLearntDeviceRememberedIT(t *testing.T) {
	broker := testenv.Mosquitto(t)
	cfg := brokerConfig(broker.URL())
	cfg.DataDir = t.TempDir()
	cfg.Subscriptions[0].Stale = time.Second
	rec := &recorder{}
	_, _, stop := runSource(t, cfg, rec)
	pub := publisher(t, broker.URL(), "it-learn")
	if err := pub.PublishCamera(context.Background(), mqttsim.CameraEvent{CameraID: "CAM-07", Type: mqttsim.Fire, Confidence: 0.9}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, func() bool { _, ok := rec.find("device=CAM-07,", "online=true"); return ok }, "CAM-07 learnt")
	stop()
	b, err := os.ReadFile(filepath.Join(cfg.DataDir, DevicesFile))
	if err != nil || !strings.Contains(string(b), `"CAM-07"`) {
		t.Fatalf("devices file: %s, %v", b, err)
	}

	rec2 := &recorder{}
	start := time.Now()
	src2, _, _ := runSource(t, cfg, rec2)
	if ds := src2.Devices(); len(ds) != 1 || ds[0].ID != "CAM-07" || ds[0].Kind != "fire_detection" || ds[0].LastSeen.IsZero() {
		t.Errorf("devices after restart: %+v", ds)
	}
	var off string
	testenv.Eventually(t, 30*time.Second, func() (ok bool) {
		off, ok = rec2.find("device_status,device=CAM-07,kind=fire_detection,", `online=false,quality="bad",reason="offline"`)
		return ok
	}, "remembered CAM-07 reported offline")
	if d := lineTime(t, off).Sub(start); d < time.Second {
		t.Errorf("offline %v after start, before its stale", d)
	}
}

// TestMaxDevicesIT: with max_devices 3, events from 8 cameras are all
// stored; 3 are tracked, 5 are not, which is counted, logged once and
// reported as the gateway's mqtt_untracked_devices.
func TestMaxDevicesIT(t *testing.T) {
	const max, extra = 3, 5
	broker := testenv.Mosquitto(t)
	cfg := brokerConfig(broker.URL())
	cfg.MaxDevices = max
	cfg.DataDir = t.TempDir()
	cfg.Subscriptions[0].Stale = 2 * time.Second // sweeps every 500ms
	rec := &recorder{}
	src, logs, stop := runSource(t, cfg, rec)
	pub := publisher(t, broker.URL(), "it-max")
	for i := range max + extra {
		ev := mqttsim.CameraEvent{EventID: fmt.Sprintf("E-%d", i), CameraID: mqttsim.CameraID(21 + i), Type: mqttsim.Smoke, Confidence: 0.5}
		if err := pub.PublishCamera(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Eventually(t, 30*time.Second, func() bool {
		n := 0
		for _, l := range rec.all() {
			if strings.HasPrefix(l, "fire_detection,") {
				n++
			}
		}
		return n == max+extra
	}, "all %d events stored", max+extra)
	testenv.Eventually(t, 30*time.Second, func() bool {
		_, ok := rec.find("hazardgw,device=gateway,site=qz mqtt_untracked_devices=5i ")
		return ok
	}, "untracked count reported")
	if ds := src.Devices(); len(ds) != max {
		t.Errorf("%d devices tracked, want %d", len(ds), max)
	}
	status := 0
	for _, l := range rec.all() {
		if strings.HasPrefix(l, "device_status,") && strings.Contains(l, "online=true") {
			status++
		}
	}
	if status != max {
		t.Errorf("%d online points, want %d (tracked devices only)", status, max)
	}
	for i := range max + extra {
		id := mqttsim.CameraID(21 + i)
		_, tracked := rec.find("device_status,device=" + id + ",")
		if tracked != slices.ContainsFunc(src.Devices(), func(d DeviceState) bool { return d.ID == id }) {
			t.Errorf("%s: status points %v, but tracked is the opposite", id, tracked)
		}
	}
	if got := testutil.ToFloat64(src.met.untracked); got != extra {
		t.Errorf("untracked_devices_total = %v, want %d", got, extra)
	}
	if n := strings.Count(logs.String(), "device limit reached"); n != 1 || !strings.Contains(logs.String(), "max_devices=3") {
		t.Errorf("%d limit log lines, want 1", n)
	}
	stop()
	saved, err := readDevices(filepath.Join(cfg.DataDir, DevicesFile))
	if err != nil || len(saved) != max {
		t.Errorf("saved %+v, %v; want the %d tracked devices", saved, err, max)
	}
}
