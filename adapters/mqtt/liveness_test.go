package mqtt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hazardgw/hazardgw/gateway"
)

// Field sets of the device_status points, in line protocol.
const (
	fGood       = `online=true,quality="good",reason=""`
	fOffline    = `online=false,quality="bad",reason="offline"`
	fDownStale  = `online=false,quality="bad",reason="broker_down"`
	fBrokerDown = `quality="bad",reason="broker_down"`
	fFault      = `online=true,quality="bad",reason="fault"`
)

// st is the line of a device_status point of device id and kind at the
// clock's time.
func st(id, kind, fields string, c *fakeClock) string { return stAt(id, kind, fields, c.Now()) }

func stAt(id, kind, fields string, at time.Time) string {
	k := ""
	if kind != "" {
		k = ",kind=" + kind
	}
	return "device_status,device=" + id + k + ",site=qz,source=mqtt " + fields + " " + strconv.FormatInt(at.UnixNano(), 10)
}

func statusMsg(device, payload string) *fakeMsg {
	return &fakeMsg{qos: 1, topic: "site/qz/device/" + device + "/status", payload: []byte(payload)}
}

func kkMsg(kk string) *fakeMsg {
	return &fakeMsg{qos: 1, topic: "site/qz/checkpoint/" + kk + "/passage", payload: []byte(`{"direction":"in","people":1}`)}
}

// devConfig is testConfig with a device_status subscription and two
// declared devices: CAM-01 with its own stale, KK-03 with its
// subscriptions'.
func devConfig() Config {
	cfg := testConfig()
	cfg.Subscriptions = append(cfg.Subscriptions, Subscription{Topic: "site/{site}/device/{device}/status", Format: FormatDeviceStatus, Stale: 90 * time.Second})
	lat, lon, el := 25.07, 118.21, 820.0
	cfg.Devices = []Device{
		{ID: "CAM-01", Kind: "camera", Label: "东山瞭望塔1号摄像机", Stale: 10 * time.Minute, Location: &Location{Lat: &lat, Lon: &lon, ElevationM: &el}},
		{ID: "KK-03", Kind: "checkpoint", Label: "九仙山入口智能语音卡口"},
	}
	return cfg
}

func TestLiveness(t *testing.T) {
	s, clk := newTestSource(t, nil, nil)
	rec := &recorder{}
	ctx := context.Background()
	s.setConnected(true, nil)

	runBatch(s, rec, camMsg("CAM-01", "2026-11-22T09:00:00Z"), camMsg("CAM-01", "2026-11-22T09:00:00.5Z"), kkMsg("KK-01"))
	checkStatus(t, "first sight", rec.take(), []string{st("CAM-01", "fire_detection", fGood, clk), st("KK-01", "checkpoint_passage", fGood, clk)})

	runBatch(s, rec, camMsg("CAM-01", "2026-11-22T09:00:01Z"))
	checkStatus(t, "known device", rec.take(), nil)

	// CAM-01 is stale after 1m, KK-01 after the default 2m.
	clk.Add(61 * time.Second)
	s.sweep(ctx, rec)
	checkStatus(t, "after 61s", rec.take(), []string{st("CAM-01", "fire_detection", fOffline, clk)})
	s.sweep(ctx, rec)
	checkStatus(t, "second sweep", rec.take(), nil)

	// The broker goes: every device is bad/broker_down at once, without an
	// online field (a blip is no offline camera).
	clk.Add(20 * time.Second)
	s.setConnected(false, errors.New("broker gone"))
	s.sweep(ctx, rec)
	checkStatus(t, "disconnected", rec.take(), []string{st("KK-01", "checkpoint_passage", fBrokerDown, clk), st("CAM-01", "fire_detection", fBrokerDown, clk)})
	s.sweep(ctx, rec)
	checkStatus(t, "still disconnected", rec.take(), nil)

	// KK-01's stale timer keeps running through the outage: offline on
	// time, with the broker as the cause.
	clk.Add(39 * time.Second) // 120 s after its message
	s.sweep(ctx, rec)
	checkStatus(t, "120s, disconnected", rec.take(), nil)
	clk.Add(time.Second)
	s.sweep(ctx, rec)
	checkStatus(t, "121s, disconnected", rec.take(), []string{st("KK-01", "checkpoint_passage", fDownStale, clk)})

	// A reconnection restarts nothing and writes nothing.
	s.setConnected(true, nil)
	clk.Add(5 * time.Minute)
	s.sweep(ctx, rec)
	checkStatus(t, "reconnected", rec.take(), nil)

	// Back online and good with the next message.
	runBatch(s, rec, camMsg("CAM-01", "2026-11-22T09:14:00Z"))
	checkStatus(t, "back", rec.take(), []string{st("CAM-01", "fire_detection", fGood, clk)})

	// A failed offline commit leaves the device online, so the next sweep retries.
	clk.Add(2 * time.Minute)
	s.sweep(ctx, &recorder{fail: errors.New("disk full")})
	s.sweep(ctx, rec)
	checkStatus(t, "retry", rec.take(), []string{st("CAM-01", "fire_detection", fOffline, clk)})

	ds := s.Devices()
	// Sorted by kind: checkpoint_passage, then fire_detection.
	if len(ds) != 2 || ds[1].ID != "CAM-01" || ds[1].Online || ds[1].Values["confidence"].Value != 0.5 || ds[1].Values["type"].Value != "smoke" || ds[0].ID != "KK-01" {
		t.Errorf("devices: %+v", ds)
	}
	if ds[1].Quality != "bad" || ds[1].Reason != "offline" || ds[1].Values["confidence"].Quality != "bad" || ds[1].Values["confidence"].Reason != "offline" {
		t.Errorf("CAM-01 quality: %+v", ds[1])
	}
	if ds[0].Quality != "bad" || ds[0].Reason != "broker_down" {
		t.Errorf("KK-01 quality: %s/%s, want bad/broker_down until it speaks again", ds[0].Quality, ds[0].Reason)
	}
}

// TestLivenessFailedBatchForgetsNewDevice: a device first seen in a batch
// whose commit is abandoned (the gateway is stopping; a failing spool is
// retried instead) is not tracked: its message is redelivered.
func TestLivenessFailedBatchForgetsNewDevice(t *testing.T) {
	s, clk := newTestSource(t, nil, nil)
	s.setConnected(true, nil)
	runBatch(s, &recorder{fail: gateway.ErrPipelineClosed}, camMsg("CAM-05", "2026-11-22T09:00:00Z"))
	if ds := s.Devices(); len(ds) != 0 {
		t.Fatalf("devices after a failed commit: %+v", ds)
	}
	clk.Add(time.Hour)
	rec := &recorder{}
	s.sweep(context.Background(), rec)
	checkStatus(t, "sweep", rec.take(), nil)
	if s.live.learnt != 0 {
		t.Errorf("learnt = %d, want 0", s.live.learnt)
	}
}

func TestDeclaredDevices(t *testing.T) {
	s, clk := newTestSourceCfg(t, devConfig(), nil, nil)
	s.setConnected(true, nil)
	rec := &recorder{}
	ctx := context.Background()

	decl := s.Declared()
	if len(decl) != 2 || decl[0].Kind != "fire_detection" || decl[0].Stale != 10*time.Minute || decl[0].Label != "东山瞭望塔1号摄像机" ||
		*decl[0].Location.Lat != 25.07 || decl[1].Kind != "checkpoint_passage" || decl[1].Stale != 2*time.Minute {
		// KK-03: the longest of its subscriptions', checkpoint (2m) and device_status (90s).
		t.Fatalf("declared: %+v", decl)
	}
	ds := s.Devices()
	if len(ds) != 2 || !ds[0].Declared || ds[0].ID != "KK-03" || ds[0].Label != "九仙山入口智能语音卡口" || ds[0].Online ||
		ds[0].Quality != "uncertain" || ds[0].Reason != "not_heard" || ds[1].Location == nil {
		t.Fatalf("devices before anything was heard: %+v", ds)
	}

	// Neither speaks: KK-03 is offline 2m after start, CAM-01 10m after.
	clk.Add(2 * time.Minute)
	s.sweep(ctx, rec)
	checkStatus(t, "2m", rec.take(), nil)
	clk.Add(time.Second)
	s.sweep(ctx, rec)
	checkStatus(t, "2m1s", rec.take(), []string{st("KK-03", "checkpoint_passage", fOffline, clk)})
	clk.Add(8 * time.Minute)
	s.sweep(ctx, rec)
	checkStatus(t, "10m1s", rec.take(), []string{st("CAM-01", "fire_detection", fOffline, clk)})
	s.sweep(ctx, rec)
	checkStatus(t, "again", rec.take(), nil)

	// CAM-01's events keep its declared kind on its status points.
	runBatch(s, rec, camMsg("CAM-01", "2026-11-22T09:10:00Z"))
	checkStatus(t, "CAM-01 speaks", rec.take(), []string{st("CAM-01", "fire_detection", fGood, clk)})
	// A declared stale is not changed by a subscription's (1m).
	clk.Add(9 * time.Minute)
	s.sweep(ctx, rec)
	checkStatus(t, "9m later", rec.take(), nil)
}

func TestHeartbeats(t *testing.T) {
	s, clk := newTestSourceCfg(t, devConfig(), nil, nil)
	s.setConnected(true, nil)
	rec := &recorder{}
	ctx := context.Background()

	// A heartbeat is itself the status point, with the declared kind; no
	// second point is made for it.
	runBatch(s, rec, statusMsg("CAM-01", `{"online":true,"fault":false}`))
	checkStatus(t, "heartbeat", rec.take(), []string{st("CAM-01", "fire_detection", fGood, clk)})

	// It is a sign of life: 9 minutes later, another keeps CAM-01 online.
	clk.Add(9 * time.Minute)
	runBatch(s, rec, statusMsg("CAM-01", `{}`))
	checkStatus(t, "second heartbeat", rec.take(), []string{st("CAM-01", "fire_detection", fGood, clk)})
	clk.Add(9 * time.Minute)
	s.sweep(ctx, rec)
	checkStatus(t, "18m", rec.take(), []string{st("KK-03", "checkpoint_passage", fOffline, clk)})

	// fault: true makes it bad/fault; its events do not clear the fault;
	// a heartbeat without fault does.
	runBatch(s, rec, statusMsg("CAM-01", `{"fault":true}`), camMsg("CAM-01", "2026-11-22T09:18:00Z"))
	checkStatus(t, "fault", rec.take(), []string{st("CAM-01", "fire_detection", fFault, clk)})
	if d := s.Devices()[1]; d.ID != "CAM-01" || d.Quality != "bad" || d.Reason != "fault" || !d.Online {
		t.Errorf("CAM-01 in fault: %+v", d)
	}
	// (Arrival times never repeat: later batches at a frozen clock would
	// get later nanoseconds. The clock moves on a little between them.)
	clk.Add(time.Millisecond)
	runBatch(s, rec, camMsg("CAM-01", "2026-11-22T09:18:01Z"), statusMsg("CAM-01", `{"fault":false}`), camMsg("CAM-01", "2026-11-22T09:18:02Z"))
	// (The heartbeat is the batch's second message: stamped at arrival + 1 ns.)
	checkStatus(t, "fault cleared", rec.take(), []string{stAt("CAM-01", "fire_detection", fGood, clk.Now().Add(1))})

	// online: false (a last will, an NVR reporting its camera) is stored
	// and makes the device offline; it is no sign of life. The next event
	// brings it back.
	clk.Add(time.Millisecond)
	runBatch(s, rec, statusMsg("CAM-01", `{"online":false}`))
	checkStatus(t, "says offline", rec.take(), []string{st("CAM-01", "fire_detection", fOffline, clk)})
	runBatch(s, rec, camMsg("CAM-01", "2026-11-22T09:18:03Z"))
	checkStatus(t, "event after offline", rec.take(), []string{st("CAM-01", "fire_detection", fGood, clk)})

	// An undeclared device heard only through heartbeats has no kind yet;
	// its first event gives it one.
	clk.Add(time.Millisecond)
	runBatch(s, rec, statusMsg("HB-9", `{"device_id":"HB-9"}`))
	checkStatus(t, "undeclared heartbeat", rec.take(), []string{st("HB-9", "", fGood, clk)})
	runBatch(s, rec, camMsg("HB-9", "2026-11-22T09:18:04Z"))
	checkStatus(t, "undeclared event", rec.take(), nil)
	clk.Add(time.Millisecond)
	runBatch(s, rec, statusMsg("HB-9", `{}`))
	checkStatus(t, "heartbeat after the event", rec.take(), []string{st("HB-9", "fire_detection", fGood, clk)})
	// Its stale is the longest of the subscriptions it was heard on:
	// device_status's 90s, not the camera subscription's 1m.
	clk.Add(80 * time.Second)
	s.sweep(ctx, rec)
	checkStatus(t, "80s", rec.take(), nil)
	clk.Add(11 * time.Second)
	s.sweep(ctx, rec)
	checkStatus(t, "91s", rec.take(), []string{st("HB-9", "fire_detection", fOffline, clk)})
}

func TestMaxDevices(t *testing.T) {
	cfg := devConfig()
	cfg.MaxDevices = 3
	reg := prometheus.NewRegistry()
	var logs bytes.Buffer
	s, clk := newTestSourceCfg(t, cfg, reg, &logs)
	s.setConnected(true, nil)
	rec := &recorder{}
	ctx := context.Background()

	var msgs []*fakeMsg
	for i := 1; i <= 8; i++ {
		msgs = append(msgs, camMsg(fmt.Sprintf("CAM-%02d", 10+i), "2026-11-22T09:00:00Z"))
	}
	msgs = append(msgs, camMsg("CAM-01", "2026-11-22T09:00:00Z")) // declared: not counted against the limit
	runBatch(s, rec, msgs...)
	lines := rec.take()
	events, status := 0, 0
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "fire_detection,"):
			events++
		case strings.HasPrefix(l, "device_status,"):
			status++
		}
	}
	if events != 9 || status != 4 {
		t.Errorf("%d events and %d status points, want all 9 events and 4 status points (3 learnt, 1 declared):\n%s", events, status, strings.Join(lines, "\n"))
	}
	// Further messages from refused ids (and new ones) are still stored.
	runBatch(s, rec, camMsg("CAM-18", "2026-11-22T09:00:01Z"), camMsg("CAM-19", "2026-11-22T09:00:01Z"))
	if n := len(rec.take()); n != 2 {
		t.Errorf("%d points for 2 events of untracked devices, want 2", n)
	}
	if got := testutil.ToFloat64(s.met.untracked); got != 6 {
		t.Errorf("untracked_devices_total = %v, want 6", got)
	}
	if n := strings.Count(logs.String(), "device limit reached"); n != 1 || !strings.Contains(logs.String(), "max_devices=3 first_untracked=CAM-14") {
		t.Errorf("%d limit log lines, want 1 naming the limit and CAM-14:\n%s", n, logs.String())
	}
	ds := s.Devices()
	if len(ds) != 5 { // 2 declared + 3 learnt
		t.Errorf("%d devices tracked, want 5: %+v", len(ds), ds)
	}

	// The count is reported once as the gateway's own field, then only
	// when it changes.
	s.sweep(ctx, rec)
	if got := rec.take(); len(got) != 1 || got[0] != "hazardgw,device=gateway,site=qz mqtt_untracked_devices=6i "+ns(clk) {
		t.Errorf("sweep: %q", got)
	}
	s.sweep(ctx, rec)
	if got := rec.take(); len(got) != 0 {
		t.Errorf("second sweep: %q", got)
	}
	runBatch(s, rec, camMsg("CAM-20", "2026-11-22T09:00:02Z"))
	rec.take()
	s.sweep(ctx, rec)
	if got := rec.take(); len(got) != 1 || !strings.Contains(got[0], "mqtt_untracked_devices=7i") {
		t.Errorf("after a new refused id: %q", got)
	}
	// Untracked devices never get offline points.
	clk.Add(time.Hour)
	s.sweep(ctx, rec)
	for _, l := range rec.take() {
		for i := 14; i <= 20; i++ {
			if strings.Contains(l, fmt.Sprintf("device=CAM-%02d,", i)) {
				t.Errorf("status point for an untracked device: %s", l)
			}
		}
	}
}

func TestDevicesFile(t *testing.T) {
	dir := t.TempDir()
	cfg := devConfig()
	cfg.DataDir = dir
	s, clk := newTestSourceCfg(t, cfg, nil, nil)
	s.setConnected(true, nil)
	rec := &recorder{}
	runBatch(s, rec, camMsg("CAM-07", "2026-11-22T09:00:00Z"), kkMsg("KK-08"), camMsg("CAM-01", "2026-11-22T09:00:00Z"))
	s.saveDevices(false)
	saved, err := readDevices(filepath.Join(dir, DevicesFile))
	if err != nil || len(saved) != 2 || saved[0].ID != "CAM-07" || saved[0].Kind != "fire_detection" || saved[1].ID != "KK-08" || !saved[0].LastSeen.Equal(testNow) {
		t.Fatalf("saved %+v, %v; want the two learnt devices (not the declared one)", saved, err)
	}
	// Rate-limited: a new device within saveEvery waits for the next save.
	runBatch(s, rec, camMsg("CAM-09", "2026-11-22T09:00:01Z"))
	s.saveDevices(false)
	if saved, _ := readDevices(filepath.Join(dir, DevicesFile)); len(saved) != 2 {
		t.Errorf("saved again within %v: %+v", saveEvery, saved)
	}
	clk.Add(saveEvery)
	s.saveDevices(false)
	if saved, _ := readDevices(filepath.Join(dir, DevicesFile)); len(saved) != 3 {
		t.Errorf("not saved after %v: %+v", saveEvery, saved)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*.tmp-*")); len(m) != 0 {
		t.Errorf("temporary files left: %v", m)
	}

	// A restart with the same data dir knows them from start; silent, they
	// are reported offline once their stale has passed since start: the
	// longest of the subscriptions of their kind and device_status (90s).
	rec.take()
	s2, clk2 := newTestSourceCfg(t, cfg, nil, nil)
	s2.setConnected(true, nil)
	if ds := s2.Devices(); len(ds) != 5 || ds[3].ID != "CAM-07" || !ds[3].LastSeen.Equal(testNow) || ds[3].Declared {
		t.Fatalf("devices after restart: %+v", ds)
	}
	clk2.Add(90 * time.Second)
	s2.sweep(context.Background(), rec)
	checkStatus(t, "restarted 90s", rec.take(), nil)
	clk2.Add(time.Second)
	s2.sweep(context.Background(), rec)
	checkStatus(t, "restarted 91s", rec.take(), []string{st("CAM-07", "fire_detection", fOffline, clk2), st("CAM-09", "fire_detection", fOffline, clk2)})
	clk2.Add(30 * time.Second)
	s2.sweep(context.Background(), rec)
	checkStatus(t, "restarted 2m1s", rec.take(), []string{st("KK-03", "checkpoint_passage", fOffline, clk2), st("KK-08", "checkpoint_passage", fOffline, clk2)})
}

func TestDevicesFileDamaged(t *testing.T) {
	for name, content := range map[string]string{
		"not json":      `{"version":1,"devices":[{"id":"CAM-01"`,
		"wrong version": `{"version":7,"devices":[]}`,
		"bad id":        "{\"version\":1,\"devices\":[{\"id\":\"CAM\\n01\"}]}",
		"duplicate":     `{"version":1,"devices":[{"id":"A"},{"id":"A"}]}`,
		"unknown field": `{"version":1,"devices":[],"extra":1}`,
		"empty":         ``,
		"binary":        "\x00\x01\x02",
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, DevicesFile)
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := testConfig()
			cfg.DataDir = dir
			var logs bytes.Buffer
			s, _ := newTestSourceCfg(t, cfg, nil, &logs)
			if ds := s.Devices(); len(ds) != 0 {
				t.Errorf("devices from a damaged file: %+v", ds)
			}
			aside := fmt.Sprintf("%s.damaged-%d", path, testNow.Unix())
			if b, err := os.ReadFile(aside); err != nil || string(b) != content {
				t.Errorf("moved aside: %q, %v", b, err)
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Errorf("damaged file still in place: %v", err)
			}
			if d := s.Damaged(); len(d) != 1 || !strings.Contains(d[0], "moved aside") || !strings.Contains(logs.String(), "level=WARN") {
				t.Errorf("damage not reported: %q\n%s", d, logs.String())
			}
			// The source works on and writes a good file.
			s.setConnected(true, nil)
			runBatch(s, &recorder{}, camMsg("CAM-02", "2026-11-22T09:00:00Z"))
			s.saveDevices(true)
			if saved, err := readDevices(path); err != nil || len(saved) != 1 {
				t.Errorf("after damage: %+v, %v", saved, err)
			}
		})
	}
}

// TestInvalidTopicLevel: a {name} level that cannot be a tag value is
// rejected, counted and acknowledged.
func TestInvalidTopicLevel(t *testing.T) {
	s, _ := newTestSource(t, nil, nil)
	rec := &recorder{}
	bad := []*fakeMsg{
		{qos: 1, topic: "site/qz/camera/CAM\n01/event", payload: []byte(`{"camera_id":"CAM-01","type":"smoke","confidence":0.5}`)},
		{qos: 1, topic: "site/qz/camera/" + strings.Repeat("x", 300) + "/event", payload: []byte(`{"camera_id":"CAM-01","type":"smoke","confidence":0.5}`)},
		{qos: 1, topic: "site/qz/camera/\xff/event", payload: []byte(`{"camera_id":"CAM-01","type":"smoke","confidence":0.5}`)},
	}
	runBatch(s, rec, bad...)
	if got := testutil.ToFloat64(s.met.rejected[reasonInvalidTopic]); got != 3 {
		t.Errorf("invalid_topic = %v, want 3", got)
	}
	for _, m := range bad {
		if m.acked.Load() != 1 {
			t.Errorf("%q not acknowledged", m.topic)
		}
	}
	if got := rec.take(); len(got) != 0 {
		t.Errorf("stored: %q", got)
	}
}
