package mqtt

// Integration tests: a real Mosquitto, a real InfluxDB 1.8 (internal/testenv;
// a missing one fails the test) and the real pipeline — spool, group commit,
// forwarder, InfluxDB writer — with mqttsim publishing at QoS 1.

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hazardgw/hazardgw/adapters/influx"
	"github.com/hazardgw/hazardgw/gateway"
	"github.com/hazardgw/hazardgw/gateway/spool"
	"github.com/hazardgw/hazardgw/internal/testenv"
	"github.com/hazardgw/hazardgw/simulators/mqttsim"
)

const testDB = "hazard"

// stack is the gateway's data path around one Source.
type stack struct {
	src  *Source
	pipe *gateway.Pipeline
	fwd  *gateway.Forwarder
	reg  *prometheus.Registry
	logs *testenv.Buffer
	stop func()
}

func startStack(t *testing.T, cfg Config, influxURL string) *stack {
	t.Helper()
	sp, err := spool.Open(filepath.Join(t.TempDir(), "spool.db"), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sink, err := influx.New(influx.Config{URL: influxURL, Bucket: testDB + "/autogen"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := &stack{reg: prometheus.NewRegistry(), logs: &testenv.Buffer{}}
	logger := slog.New(slog.NewTextHandler(st.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st.pipe = gateway.NewPipeline(sp, gateway.PipelineOptions{}, nil)
	st.fwd = gateway.NewForwarder(sp, sink, st.pipe.Notify(), gateway.ForwarderOptions{FlushInterval: 100 * time.Millisecond}, nil)
	st.src, err = New(cfg, "qz", logger, st.reg)
	if err != nil {
		t.Fatal(err)
	}
	pctx, stopPipe := context.WithCancel(context.Background())
	fctx, stopFwd := context.WithCancel(context.Background())
	sctx, stopSrc := context.WithCancel(context.Background())
	var pwg, fwg, swg sync.WaitGroup
	pwg.Go(func() { st.pipe.Run(pctx) })
	fwg.Go(func() { st.fwd.Run(fctx) })
	swg.Go(func() {
		if err := st.src.Run(sctx, st.pipe); err != nil {
			t.Errorf("source: %v", err)
		}
	})
	var once sync.Once
	st.stop = func() {
		once.Do(func() {
			stopSrc()
			swg.Wait()
			stopPipe()
			pwg.Wait()
			stopFwd()
			fwg.Wait()
			sink.Close()
			sp.Close()
		})
	}
	t.Cleanup(func() {
		st.stop()
		if t.Failed() {
			t.Logf("gateway log (tail):\n%s", tailLines(st.logs.String(), 40))
		}
	})
	testenv.Eventually(t, 30*time.Second, st.src.Connected, "source connected to %s", cfg.URL)
	return st
}

func tailLines(s string, n int) string {
	l := strings.Split(s, "\n")
	return strings.Join(l[max(0, len(l)-n):], "\n")
}

func brokerConfig(url string) Config {
	cfg := testConfig()
	cfg.URL = url
	cfg.ClientID = "hazardgw-it"
	return cfg
}

// stream is the test's camera events and passages. Camera events each have
// their own series+millisecond; passages come two per second per
// checkpoint and direction, stamped to the second as checkpoints write
// them, so that InfluxDB keeps every one only because the gateway spreads
// them inside their second (eventTime).
type stream struct {
	base               time.Time
	cameras, passages  int
	nCameras, nCheckpt int
	noTS               bool // camera events without ts (stored at arrival)
}

func newStream(cameras, passages int) stream {
	return stream{base: time.Now().Add(-time.Hour).Truncate(time.Second), cameras: cameras, passages: passages, nCameras: 10, nCheckpt: 5}
}

var eventTypes = []string{mqttsim.Smoke, mqttsim.Fire, mqttsim.Hotspot}

func (s stream) camera(i int) mqttsim.CameraEvent {
	cam := mqttsim.CameraID(i%s.nCameras + 1)
	ev := mqttsim.CameraEvent{
		EventID: mqttsim.EventID(cam, i/s.nCameras+1), CameraID: cam, TS: s.base.Add(time.Duration(i) * time.Millisecond),
		Type: eventTypes[i%3], Confidence: float64(i%101) / 100,
		BearingDeg: mqttsim.Ptr(float64(i%3600) / 10), DistanceM: mqttsim.Ptr(float64(i % 5000)),
	}
	if i%2 == 0 {
		ev.TemperatureC = mqttsim.Ptr(float64(i%600) + 0.5)
	}
	if i%5 == 0 {
		ev.ImageURL = fmt.Sprintf("http://10.0.0.7/snap/%06d.jpg", i)
	}
	if s.noTS {
		ev.TS = time.Time{}
	}
	return ev
}

func (s stream) passage(j int) mqttsim.Passage {
	kk := mqttsim.CheckpointID(j%s.nCheckpt + 1)
	p := mqttsim.Passage{
		EventID: mqttsim.EventID(kk, j/s.nCheckpt+1), CheckpointID: kk, TS: s.base.Add(time.Duration(j/20) * time.Second),
		Direction: []string{mqttsim.In, mqttsim.Out}[j%2], People: mqttsim.Ptr(j % 7), Vehicles: mqttsim.Ptr(j % 3),
		VoicePlayed: mqttsim.Ptr(j%2 == 0),
	}
	if j%4 == 0 {
		p.Plate = mqttsim.Plate(rand.New(rand.NewPCG(uint64(j), 1)))
	}
	return p
}

// publish sends the whole stream with two publishers in parallel and waits
// for every PUBACK.
func (s stream) publish(ctx context.Context, url string) error {
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for k, n := range []int{s.cameras, s.passages} {
		wg.Go(func() {
			pub, err := mqttsim.NewPublisher(ctx, mqttsim.PublisherOptions{URL: url, Site: "qz", ClientID: fmt.Sprintf("it-pub-%d", k), Window: 512})
			if err != nil {
				errs <- err
				return
			}
			defer pub.Close(time.Minute)
			for i := range n {
				if k == 0 {
					err = pub.PublishCamera(ctx, s.camera(i))
				} else {
					err = pub.PublishPassage(ctx, s.passage(i))
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

// verify checks InfluxDB holds exactly the stream: counts per measurement
// and series, and every field, tag and timestamp of one camera and one
// checkpoint.
func (s stream) verify(t *testing.T, db *testenv.Influx) {
	t.Helper()
	testenv.Eventually(t, 3*time.Minute, func() bool {
		return db.Count(testDB, measurementFire, "") >= s.cameras && db.Count(testDB, measurementPassage, "") >= s.passages
	}, "%d camera events and %d passages in InfluxDB", s.cameras, s.passages)
	if n := db.Count(testDB, measurementFire, ""); n != s.cameras {
		t.Errorf("fire_detection has %d points, want exactly %d", n, s.cameras)
	}
	if n := db.Count(testDB, measurementPassage, ""); n != s.passages {
		t.Errorf("checkpoint_passage has %d points, want exactly %d", n, s.passages)
	}
	if n := db.Count(testDB, "device_status", `"online" = true`); n < s.nCameras+s.nCheckpt {
		t.Errorf("device_status online points: %d, want at least one per device (%d)", n, s.nCameras+s.nCheckpt)
	}

	res, err := db.Query(testDB, `SELECT * FROM fire_detection WHERE camera = 'CAM-03'`)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]mqttsim.CameraEvent{}
	for i := 2; i < s.cameras; i += s.nCameras {
		ev := s.camera(i)
		want[ev.EventID] = ev
	}
	rows := rowsOf(res)
	if len(rows) != len(want) {
		t.Errorf("CAM-03: %d rows, want %d", len(rows), len(want))
	}
	for _, r := range rows {
		ev, ok := want[r.str("event_id")]
		if !ok {
			t.Fatalf("unexpected row %v", r)
		}
		img := ""
		if ev.ImageURL != "" {
			img = ev.ImageURL
		}
		temp := any(nil)
		if ev.TemperatureC != nil {
			temp = *ev.TemperatureC
		}
		if !r.time().Truncate(time.Millisecond).Equal(ev.TS) || r["camera"] != "CAM-03" || r["site"] != "qz" || r["type"] != ev.Type ||
			r["confidence"] != ev.Confidence || r["bearing_deg"] != *ev.BearingDeg || r["distance_m"] != *ev.DistanceM ||
			r["temperature_c"] != temp || r.str("image_url") != img {
			t.Fatalf("row %v\nwant %+v", r, ev)
		}
		delete(want, ev.EventID)
	}

	res, err = db.Query(testDB, `SELECT * FROM checkpoint_passage WHERE checkpoint = 'KK-02'`)
	if err != nil {
		t.Fatal(err)
	}
	rows = rowsOf(res)
	if len(rows) != s.passages/s.nCheckpt {
		t.Errorf("KK-02: %d rows, want %d", len(rows), s.passages/s.nCheckpt)
	}
	// Several passages share a second and a direction: match rows by
	// their stated second and all their values.
	passageKey := func(sec time.Time, dir string, people, vehicles float64, plate any, voice any) string {
		return fmt.Sprint(sec.Unix(), dir, people, vehicles, plate, voice)
	}
	wantKK := map[string]int{}
	for j := 1; j < s.passages; j += s.nCheckpt {
		p := s.passage(j)
		plate := any(nil)
		if p.Plate != "" {
			plate = p.Plate
		}
		wantKK[passageKey(p.TS, p.Direction, float64(*p.People), float64(*p.Vehicles), plate, *p.VoicePlayed)]++
	}
	for _, r := range rows {
		k := passageKey(r.time().Truncate(time.Second), r.str("direction"), r["people"].(float64), r["vehicles"].(float64), r["plate"], r["voice_played"])
		if wantKK[k] == 0 || r["site"] != "qz" {
			t.Fatalf("unexpected row %v", r)
		}
		wantKK[k]--
	}
}

type row map[string]any

func (r row) str(k string) string { s, _ := r[k].(string); return s }
func (r row) time() time.Time {
	t, _ := time.Parse(time.RFC3339Nano, r.str("time"))
	return t
}

func rowsOf(res *testenv.Result) []row {
	var out []row
	for _, s := range res.Series {
		for _, v := range s.Values {
			r := row{}
			for i, c := range s.Columns {
				r[c] = v[i]
			}
			for k, v := range s.Tags {
				r[k] = v
			}
			out = append(out, r)
		}
	}
	return out
}

// TestStreamExactlyOnceInInflux: 50,000 camera events and 10,000 passages
// at QoS 1 end up in InfluxDB exactly, with their tags, fields and payload
// timestamps; it logs the end-to-end rate.
func TestStreamExactlyOnceInInflux(t *testing.T) {
	broker := testenv.Mosquitto(t)
	db := testenv.InfluxDB(t)
	db.CreateDB(testDB)
	st := startStack(t, brokerConfig(broker.URL()), db.URL())
	s := newStream(50_000, 10_000)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	if err := s.publish(ctx, broker.URL()); err != nil {
		t.Fatal(err)
	}
	published := time.Since(start)
	s.verify(t, db)
	total := s.cameras + s.passages
	t.Logf("%d messages: published in %v; broker → spool → InfluxDB, all queried, after %v: %.0f msg/s end to end (race detector: %v)",
		total, published.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), float64(total)/time.Since(start).Seconds(), raceEnabled)
	if got := testutil.ToFloat64(st.src.met.messages); got < float64(total) {
		t.Errorf("messages_total %v < %d", got, total)
	}
	if n := sumRejected(st.src); n != 0 {
		t.Errorf("%v messages rejected", n)
	}
}

// TestBrokerRestartMidStream restarts Mosquitto (persistence on) while the
// stream is being published and consumed: nothing lost, nothing doubled.
func TestBrokerRestartMidStream(t *testing.T) {
	broker := testenv.Mosquitto(t)
	db := testenv.InfluxDB(t)
	db.CreateDB(testDB)
	st := startStack(t, brokerConfig(broker.URL()), db.URL())
	s := newStream(50_000, 10_000)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.publish(ctx, broker.URL()) }()
	testenv.Eventually(t, 2*time.Minute, func() bool { return st.pipe.Stats().Accepted >= 15_000 }, "15,000 points accepted before the restart")
	broker.Restart()
	t.Logf("broker restarted after %d points were accepted", st.pipe.Stats().Accepted)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	s.verify(t, db)
	if got := testutil.ToFloat64(st.src.met.connects); got < 2 {
		t.Errorf("connects_total = %v: the source did not reconnect", got)
	}
	if !strings.Contains(st.logs.String(), "reconnected to MQTT broker") {
		t.Error("no reconnection logged")
	}
}

func sumRejected(s *Source) float64 {
	var n float64
	for _, c := range s.met.rejected {
		n += testutil.ToFloat64(c)
	}
	return n
}

// TestMalformedPayloads mixes 1,000 bad payloads of 14 kinds into good
// ones: each is rejected and counted by reason, acknowledged (a reconnection
// redelivers none of them), every good one is stored, and the source keeps
// running.
func TestMalformedPayloads(t *testing.T) {
	// The broker must pass the 1 MiB payload on, so that the gateway is the
	// one that rejects it.
	broker := testenv.Mosquitto(t, testenv.WithMosquittoConfig("message_size_limit 4194304"))
	db := testenv.InfluxDB(t)
	db.CreateDB(testDB)
	st := startStack(t, brokerConfig(broker.URL()), db.URL())

	cam := mqttsim.CameraTopic("qz", "CAM-09")
	kk := mqttsim.CheckpointTopic("qz", "KK-09")
	future := time.Now().Add(3 * time.Hour).UTC().Format(time.RFC3339)
	kinds := []struct {
		reason  reason
		topic   string
		payload []byte
	}{
		{reasonInvalidJSON, cam, []byte(`{"camera_id":"CAM-09","type":"smoke","confid`)},            // truncated
		{reasonWrongType, cam, []byte(`{"camera_id":"CAM-09","type":"smoke","confidence":"high"}`)}, // wrong type
		{reasonOutOfRange, cam, []byte(`{"camera_id":"CAM-09","type":"smoke","confidence":NaN}`)},   // NaN
		{reasonOutOfRange, cam, []byte(`{"camera_id":"CAM-09","type":"smoke","confidence":7}`)},     // confidence 7
		{reasonUnknownType, cam, []byte(`{"camera_id":"CAM-09","type":"ufo","confidence":0.5}`)},    // unknown type
		{reasonInvalidUTF8, cam, []byte("{\"camera_id\":\"CAM-\xc3\x28\",\"type\":\"smoke\",\"confidence\":0.5}")},
		{reasonTooLarge, cam, bytes.Repeat([]byte("x"), 1<<20)}, // 1 MiB
		{reasonBadTimestamp, cam, []byte(`{"camera_id":"CAM-09","type":"smoke","confidence":0.5,"ts":"22/11/2026 09:00"}`)},
		{reasonWrongType, cam, []byte(`{"camera_id":{"id":[{"x":[[[]]]}]},"type":"smoke","confidence":0.5}`)}, // nested garbage
		{reasonEmpty, cam, nil},
		{reasonOutOfRange, kk, []byte(`{"direction":"in","people":-3}`)},
		{reasonUnknownDir, kk, []byte(`{"direction":"sideways","people":1}`)},
		{reasonMissingField, kk, []byte(`{"people":1}`)},
	}
	want := map[reason]float64{}
	pub, err := mqttsim.NewPublisher(context.Background(), mqttsim.PublisherOptions{URL: broker.URL(), Site: "qz", ClientID: "it-bad"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	good := 0
	for i := range 1000 {
		k := kinds[i%len(kinds)]
		if err := pub.PublishRaw(ctx, k.topic, k.payload); err != nil {
			t.Fatal(err)
		}
		want[k.reason]++
		for range 2 {
			ev := mqttsim.CameraEvent{CameraID: "CAM-09", TS: base.Add(time.Duration(good) * time.Millisecond), Type: mqttsim.Fire, Confidence: 0.9}
			if err := pub.PublishCamera(ctx, ev); err != nil {
				t.Fatal(err)
			}
			good++
		}
	}
	// A camera whose clock is hours ahead still reports fire: stored at
	// arrival time, counted, not rejected.
	for i := range 3 {
		p := fmt.Sprintf(`{"event_id":"CAM-11-%d","camera_id":"CAM-11","type":"fire","confidence":0.9,"ts":"%s"}`, i, future)
		if err := pub.PublishRaw(ctx, cam, []byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Close(time.Minute); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 2*time.Minute, func() bool { return db.Count(testDB, measurementFire, "") >= good+3 },
		"%d good events in InfluxDB", good)
	testenv.Eventually(t, time.Minute, func() bool { return sumRejected(st.src) >= 1000 }, "1,000 rejections counted")

	// Rejected messages were acknowledged: after a reconnection the broker
	// redelivers none of them. A sentinel published after the restart
	// arrives after anything redelivered, so once it is stored the counts
	// are final.
	broker.Restart()
	testenv.Eventually(t, time.Minute, st.src.Connected, "reconnected")
	pub2, err := mqttsim.NewPublisher(ctx, mqttsim.PublisherOptions{URL: broker.URL(), Site: "qz", ClientID: "it-bad"})
	if err != nil {
		t.Fatal(err)
	}
	if err := pub2.PublishCamera(ctx, mqttsim.CameraEvent{CameraID: "CAM-10", TS: base, Type: mqttsim.Smoke, Confidence: 0.1}); err != nil {
		t.Fatal(err)
	}
	if err := pub2.Close(time.Minute); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, time.Minute, func() bool { return db.Count(testDB, measurementFire, `"camera" = 'CAM-10'`) == 1 }, "sentinel stored")

	for _, r := range allReasons {
		if got := testutil.ToFloat64(st.src.met.rejected[r]); got != want[r] {
			t.Errorf("rejected{reason=%q} = %v, want %v", r, got, want[r])
		}
	}
	if n := db.Count(testDB, measurementFire, `"camera" = 'CAM-09'`); n != good {
		t.Errorf("%d good events stored, want %d", n, good)
	}
	res, err := db.Query(testDB, `SELECT confidence FROM fire_detection WHERE camera = 'CAM-11'`)
	if err != nil {
		t.Fatal(err)
	}
	rows := rowsOf(res)
	if len(rows) != 3 {
		t.Errorf("%d events of the camera with a wrong clock stored, want 3", len(rows))
	}
	for _, r := range rows {
		if d := time.Since(r.time()); d < 0 || d > 10*time.Minute {
			t.Errorf("event with a future ts stored at %v, not at its arrival", r.time())
		}
	}
	if got := testutil.ToFloat64(st.src.met.badClock); got != 3 {
		t.Errorf("arrival_time_total{cause=implausible_timestamp} = %v, want 3", got)
	}
	if !strings.Contains(st.logs.String(), "implausible timestamp") {
		t.Error("no log line for the implausible timestamps")
	}
	if !st.src.Connected() {
		t.Error("source not connected at the end")
	}
	if n := strings.Count(st.logs.String(), "rejected MQTT message"); n > 2*len(kinds) {
		t.Errorf("%d rejection log lines for 1,000 rejections: not rate-limited", n)
	}
}

// TestUnacknowledgedOnAcceptFailure: while Accept fails, messages are not
// acknowledged; stopped then, the broker delivers them again to the next
// session.
func TestUnacknowledgedOnAcceptFailure(t *testing.T) {
	broker := testenv.Mosquitto(t)
	cfg := brokerConfig(broker.URL())
	run := func(acc gateway.Acceptor) (*Source, func()) { return runConnected(t, cfg, acc) }
	src, stop := run(gateway.AcceptFunc(func(context.Context, []gateway.Point) error { return fmt.Errorf("spool broken") }))
	pub, err := mqttsim.NewPublisher(context.Background(), mqttsim.PublisherOptions{URL: broker.URL(), Site: "qz", ClientID: "it-unacked"})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(-time.Minute).Truncate(time.Second)
	for i := range 10 {
		if err := pub.PublishCamera(context.Background(), mqttsim.CameraEvent{CameraID: "CAM-01", TS: base.Add(time.Duration(i) * time.Millisecond), Type: mqttsim.Smoke, Confidence: 0.5}); err != nil {
			t.Fatal(err)
		}
	}
	pub.Close(time.Minute)
	// The commit fails over and over: the worker retries its batch, the
	// messages stay unacknowledged.
	testenv.Eventually(t, 30*time.Second, func() bool { return testutil.ToFloat64(src.met.acceptRetries) >= 2 }, "commits retried")
	stop()

	rec := &recorder{}
	var mu sync.Mutex
	events := 0
	_, stop2 := run(gateway.AcceptFunc(func(ctx context.Context, p []gateway.Point) error {
		mu.Lock()
		for _, pt := range p {
			if pt.Measurement == measurementFire {
				events++
			}
		}
		mu.Unlock()
		return rec.Accept(ctx, p)
	}))
	defer stop2()
	testenv.Eventually(t, 30*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return events >= 10 }, "10 redelivered events")
}

// TestPasswordNeverLogged connects with a wrong password: the failure is
// logged, the password is not.
func TestPasswordNeverLogged(t *testing.T) {
	broker := testenv.Mosquitto(t, testenv.WithUser("gw", "right-password"))
	cfg := brokerConfig(strings.Replace(broker.URL(), "tcp://", "tcp://gw:url-s3cret@", 1))
	cfg.Username, cfg.Password = "gw", "wrong-s3cret"
	logs := &testenv.Buffer{}
	src, err := New(cfg, "qz", slog.New(slog.NewTextHandler(logs, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { src.Run(ctx, &recorder{}) })
	testenv.Eventually(t, 30*time.Second, func() bool { return strings.Contains(logs.String(), "cannot connect") }, "connection failure logged")
	cancel()
	wg.Wait()
	if out := logs.String(); strings.Contains(out, "s3cret") {
		t.Errorf("secret in the log:\n%s", out)
	}
}

// TestArrivalStampedEventsAllKept: events without a ts of one camera and
// type, arriving together (one worker batch), are each stored: their
// arrival times differ, so none overwrites another in InfluxDB.
func TestArrivalStampedEventsAllKept(t *testing.T) {
	broker := testenv.Mosquitto(t)
	db := testenv.InfluxDB(t)
	db.CreateDB(testDB)
	st := startStack(t, brokerConfig(broker.URL()), db.URL())
	ctx := context.Background()
	pub, err := mqttsim.NewPublisher(ctx, mqttsim.PublisherOptions{URL: broker.URL(), Site: "qz", ClientID: "it-arrival"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 500
	for i := range n {
		ev := mqttsim.CameraEvent{EventID: fmt.Sprintf("CAM-12-%d", i), CameraID: "CAM-12", Type: mqttsim.Smoke, Confidence: 0.3}
		if err := pub.PublishCamera(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	// QoS 0 events (delivered at QoS 0) take the same path when the
	// workers keep up.
	const n0 = 100
	base := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	for i := range n0 {
		ev := mqttsim.CameraEvent{EventID: fmt.Sprintf("CAM-13-%d", i), CameraID: "CAM-13", Type: mqttsim.Fire, Confidence: 0.9,
			TS: base.Add(time.Duration(i) * time.Millisecond)}
		if err := pub.PublishQoS0(ctx, mqttsim.CameraTopic("qz", "CAM-13"), ev.JSON()); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Close(time.Minute); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, time.Minute, func() bool { return testutil.ToFloat64(st.src.met.arrival) >= n }, "%d messages decoded", n)
	testenv.Eventually(t, time.Minute, func() bool {
		return st.fwd.Stats().Written == st.pipe.Stats().Accepted
	}, "everything accepted written to InfluxDB")
	if got := db.Count(testDB, measurementFire, `"camera" = 'CAM-12'`); got != n {
		t.Errorf("%d events stored, want %d", got, n)
	}
	testenv.Eventually(t, time.Minute, func() bool { return db.Count(testDB, measurementFire, `"camera" = 'CAM-13'`) >= n0 },
		"%d QoS 0 events stored", n0)
	if got := testutil.ToFloat64(st.src.met.rejected[reasonOverload]); got != 0 {
		t.Errorf("%v QoS 0 messages dropped as overload", got)
	}
}

// TestIngestResumesAfterAcceptFailures: the spool refuses commits for a
// while (a full disk); ingest resumes by itself in the same session once
// it accepts again, with every message stored: the failed batch is retried,
// not left unacknowledged on a live connection (which would fill the
// broker's in-flight window and stop delivery for good).
func TestIngestResumesAfterAcceptFailures(t *testing.T) {
	broker := testenv.Mosquitto(t)
	cfg := brokerConfig(broker.URL())
	src, err := New(cfg, "qz", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var broken atomic.Bool
	broken.Store(true)
	var mu sync.Mutex
	ids := map[string]bool{}
	acc := gateway.AcceptFunc(func(ctx context.Context, p []gateway.Point) error {
		if broken.Load() {
			return fmt.Errorf("spool: write segment: no space left on device")
		}
		mu.Lock()
		for _, pt := range p {
			if f, ok := pt.Field("event_id"); ok && pt.Measurement == measurementFire {
				ids[f.S] = true
			}
		}
		mu.Unlock()
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { src.Run(ctx, acc) })
	defer func() { cancel(); wg.Wait() }()
	testenv.Eventually(t, 30*time.Second, src.Connected, "connected")
	pub, err := mqttsim.NewPublisher(context.Background(), mqttsim.PublisherOptions{URL: broker.URL(), Site: "qz", ClientID: "it-resume"})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(-time.Minute).Truncate(time.Second)
	const n = 300 // well beyond the broker's in-flight window
	for i := range n {
		ev := mqttsim.CameraEvent{EventID: fmt.Sprintf("E%04d", i), CameraID: "CAM-01", TS: base.Add(time.Duration(i) * time.Millisecond), Type: mqttsim.Smoke, Confidence: 0.5}
		if err := pub.PublishCamera(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	defer pub.Close(time.Minute)
	testenv.Eventually(t, 30*time.Second, func() bool { return testutil.ToFloat64(src.met.acceptRetries) >= 3 }, "commits retried")
	broken.Store(false)
	testenv.Eventually(t, 60*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(ids) == n }, "every message stored in the same session")
}

// TestRedeliveryWithoutTSStoredOnce, on Mosquitto: events without a ts are
// committed, then the gateway goes away before acknowledging them (as a
// kill -9 between the spool commit and the PUBACK). The next session gets
// them again from the broker (DUP set) and stores each at the time its
// first copy got: one time per event, so InfluxDB keeps one point each.
// Two identical payloads (a heartbeat-like event without id) published
// apart stay two points.
func TestRedeliveryWithoutTSStoredOnce(t *testing.T) {
	broker := testenv.Mosquitto(t)
	cfg := brokerConfig(broker.URL())
	cfg.DataDir = t.TempDir()
	// Every batch of the first session is held until the end: enough
	// workers that every message gets to one.
	cfg.Workers = 64
	var mu sync.Mutex
	times := map[string]map[int64]bool{} // payload identity → times stored
	stored := func(p []gateway.Point) {
		mu.Lock()
		defer mu.Unlock()
		for _, pt := range p {
			if pt.Measurement != measurementFire {
				continue
			}
			id := "(none)"
			if f, ok := pt.Field("event_id"); ok {
				id = f.S
			}
			if times[id] == nil {
				times[id] = map[int64]bool{}
			}
			times[id][pt.Time.UnixNano()] = true
		}
	}
	run := func(acc gateway.Acceptor) (*Source, func()) { return runConnected(t, cfg, acc) }
	// First session: every batch is committed, and then the
	// acknowledgement never comes: Accept waits for the end.
	var committed atomic.Int64
	_, stop := run(gateway.AcceptFunc(func(ctx context.Context, p []gateway.Point) error {
		stored(p)
		for _, pt := range p {
			if pt.Measurement == measurementFire {
				committed.Add(1)
			}
		}
		<-ctx.Done()
		return ctx.Err()
	}))
	pub, err := mqttsim.NewPublisher(context.Background(), mqttsim.PublisherOptions{URL: broker.URL(), Site: "qz", ClientID: "it-redeliver"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 40 // within the broker's in-flight window (100): all delivered
	for i := range n {
		ev := mqttsim.CameraEvent{EventID: fmt.Sprintf("N%03d", i), CameraID: "CAM-01", Type: mqttsim.Smoke, Confidence: 0.5}
		if err := pub.PublishCamera(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	same := mqttsim.CameraEvent{CameraID: "CAM-01", Type: mqttsim.Hotspot, Confidence: 0.2} // no id, no ts
	if err := pub.PublishCamera(context.Background(), same); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, func() bool { return committed.Load() == n+1 }, "%d events committed", n+1)
	stop()

	src, stop2 := run(gateway.AcceptFunc(func(ctx context.Context, p []gateway.Point) error { stored(p); return nil }))
	defer stop2()
	testenv.Eventually(t, 30*time.Second, func() bool { return testutil.ToFloat64(src.met.restamped) >= n+1 }, "%d redeliveries restamped", n+1)
	// The identical payload again, as a new message: a second point.
	if err := pub.PublishCamera(context.Background(), same); err != nil {
		t.Fatal(err)
	}
	pub.Close(time.Minute)
	testenv.Eventually(t, 30*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(times["(none)"]) == 2 }, "the repeated payload stored as a second point")
	mu.Lock()
	defer mu.Unlock()
	for i := range n {
		id := fmt.Sprintf("N%03d", i)
		if len(times[id]) != 1 {
			t.Errorf("%s stored at %d different times", id, len(times[id]))
		}
	}
	if got := testutil.ToFloat64(src.met.restamped); got != n+1 {
		t.Errorf("restamped %v, want %d", got, n+1)
	}
}

// runConnected runs a Source for cfg into acc until the returned stop is
// called, once it is connected.
func runConnected(t *testing.T, cfg Config, acc gateway.Acceptor) (*Source, func()) {
	t.Helper()
	src, err := New(cfg, "qz", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { src.Run(ctx, acc) })
	testenv.Eventually(t, 30*time.Second, src.Connected, "connected")
	return src, func() { cancel(); wg.Wait() }
}
