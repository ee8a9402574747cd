package mqtt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hazardgw/hazardgw/gateway"
	"github.com/hazardgw/hazardgw/internal/testenv"
)

// fakeMsg is a paho.Message that records its acknowledgement.
type fakeMsg struct {
	topic   string
	payload []byte
	qos     byte
	dup     bool
	acked   atomic.Int32
	onAck   func()
}

func (m *fakeMsg) Duplicate() bool   { return m.dup }
func (m *fakeMsg) Qos() byte         { return m.qos }
func (m *fakeMsg) Retained() bool    { return false }
func (m *fakeMsg) Topic() string     { return m.topic }
func (m *fakeMsg) MessageID() uint16 { return 1 }
func (m *fakeMsg) Payload() []byte   { return m.payload }
func (m *fakeMsg) Ack() {
	m.acked.Add(1)
	if m.onAck != nil {
		m.onAck()
	}
}

func testConfig() Config {
	return Config{
		URL:      "tcp://127.0.0.1:1",
		ClientID: "hazardgw-test",
		Subscriptions: []Subscription{
			{Topic: "site/{site}/camera/{camera}/event", Format: FormatCameraEvent, Stale: time.Minute},
			{Topic: "site/{site}/checkpoint/{checkpoint}/passage", Format: FormatCheckpointPassage},
		},
	}
}

type fakeClock = testenv.Clock

func newTestSource(t *testing.T, reg prometheus.Registerer, logw *bytes.Buffer) (*Source, *fakeClock) {
	t.Helper()
	if logw == nil {
		return newTestSourceCfg(t, testConfig(), reg, nil)
	}
	return newTestSourceCfg(t, testConfig(), reg, logw)
}

// newTestSourceCfg returns a source for cfg on a fake clock at testNow,
// begun (declared devices' clocks started, devices file loaded).
func newTestSourceCfg(t *testing.T, cfg Config, reg prometheus.Registerer, logw io.Writer) (*Source, *fakeClock) {
	t.Helper()
	var h slog.Handler = slog.DiscardHandler
	if logw != nil {
		h = slog.NewTextHandler(logw, nil)
	}
	s, err := New(cfg, "qz", slog.New(h), reg)
	if err != nil {
		t.Fatal(err)
	}
	clk := testenv.NewClock(testNow)
	s.now = clk.Now
	s.begin()
	return s, clk
}

func camMsg(camera, ts string) *fakeMsg {
	return &fakeMsg{qos: 1, topic: "site/qz/camera/" + camera + "/event",
		payload: []byte(`{"type":"smoke","confidence":0.5,"ts":"` + ts + `"}`)}
}

func runBatch(s *Source, acc gateway.Acceptor, msgs ...*fakeMsg) {
	w := &worker{s: s, env: env{site: s.site, ids: &interner{}}}
	for _, m := range msgs {
		w.msgs = append(w.msgs, m)
	}
	w.process(context.Background(), acc)
}

// recorder is an Acceptor that keeps the line protocol of what it accepted
// and checks that nothing was acknowledged before Accept returned.
type recorder struct {
	mu    sync.Mutex
	lines []string
	fail  error
	check func()
}

func (r *recorder) Accept(_ context.Context, points []gateway.Point) error {
	if r.check != nil {
		r.check()
	}
	if r.fail != nil {
		return r.fail
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range points {
		if !points[i].Valid() {
			return errors.New("invalid point")
		}
		r.lines = append(r.lines, string(gateway.AppendLine(nil, &points[i])))
	}
	return nil
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.lines
	r.lines = nil
	return out
}

func TestAckOnlyAfterAccept(t *testing.T) {
	s, _ := newTestSource(t, nil, nil)
	good := camMsg("CAM-01", "2026-11-22T09:00:00Z")
	bad := &fakeMsg{qos: 1, topic: "site/qz/camera/CAM-01/event", payload: []byte(`{"type":"smoke","confidence":7}`)}
	rec := &recorder{check: func() {
		if good.acked.Load() != 0 {
			t.Error("good message acknowledged before Accept returned")
		}
	}}
	runBatch(s, rec, good, bad)
	if good.acked.Load() != 1 || bad.acked.Load() != 1 {
		t.Errorf("acks good=%d bad=%d, want 1 and 1", good.acked.Load(), bad.acked.Load())
	}
	if n := len(rec.take()); n != 2 { // the event and CAM-01's online point
		t.Errorf("%d points, want 2", n)
	}

	// Accept fails (the pipeline is shutting down): the good message stays
	// unacknowledged for redelivery, the bad one is acknowledged all the same.
	good2 := camMsg("CAM-01", "2026-11-22T09:00:01Z")
	bad2 := &fakeMsg{qos: 1, topic: "site/qz/camera/CAM-01/event", payload: []byte(`{`)}
	runBatch(s, &recorder{fail: gateway.ErrPipelineClosed}, good2, bad2)
	if good2.acked.Load() != 0 || bad2.acked.Load() != 1 {
		t.Errorf("after failed Accept: acks good=%d bad=%d, want 0 and 1", good2.acked.Load(), bad2.acked.Load())
	}
}

func TestRejectsAreCountedAndLogsRateLimited(t *testing.T) {
	reg := prometheus.NewRegistry()
	var logs bytes.Buffer
	s, clk := newTestSource(t, reg, &logs)
	var msgs []*fakeMsg
	for range 50 {
		msgs = append(msgs, &fakeMsg{qos: 1, topic: "site/qz/camera/C/event", payload: []byte(`{"type":"smoke","confidence":NaN}`)})
	}
	msgs = append(msgs, &fakeMsg{qos: 1, topic: "other/topic", payload: []byte(`{}`)})
	runBatch(s, &recorder{}, msgs...)
	if got := testutil.ToFloat64(s.met.rejected[reasonOutOfRange]); got != 50 {
		t.Errorf("out_of_range = %v, want 50", got)
	}
	if got := testutil.ToFloat64(s.met.rejected[reasonUnknownTopic]); got != 1 {
		t.Errorf("unknown_topic = %v, want 1", got)
	}
	if got := testutil.ToFloat64(s.met.messages); got != 51 {
		t.Errorf("messages = %v, want 51", got)
	}
	if n := strings.Count(logs.String(), "reason=out_of_range"); n != 1 {
		t.Errorf("%d log lines for 50 rejects within 10 s, want 1:\n%s", n, logs.String())
	}
	clk.Add(11 * time.Second)
	runBatch(s, &recorder{}, msgs[0])
	if !strings.Contains(logs.String(), "suppressed_since_last=49") {
		t.Errorf("no count of suppressed lines:\n%s", logs.String())
	}
	if n, err := testutil.GatherAndCount(reg, "hazardgw_mqtt_rejected_total"); err != nil || n != len(allReasons) {
		t.Errorf("rejected series: %d, %v; want one per reason (%d)", n, err, len(allReasons))
	}
}

func ns(c *fakeClock) string { return strconv.FormatInt(c.Now().UnixNano(), 10) }

func checkStatus(t *testing.T, step string, lines, want []string) {
	t.Helper()
	var got []string
	for _, l := range lines {
		if strings.HasPrefix(l, "device_status,") {
			got = append(got, l)
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s: status points\n got %q\nwant %q", step, got, want)
	}
}

func TestNewErrors(t *testing.T) {
	cfg := testConfig()
	cfg.Password = "s3cret-pw"
	cfg.URL = "tcp://user:s3cret-pw@host:1883/%zz"
	if _, err := New(cfg, "qz", nil, nil); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("bad url: %v", err)
	}
	cfg = testConfig()
	cfg.Subscriptions[0].Topic = "a/#/b"
	if _, err := New(cfg, "qz", nil, nil); err == nil {
		t.Error("bad template accepted")
	}
	reg := prometheus.NewRegistry()
	if _, err := New(testConfig(), "qz", nil, reg); err != nil {
		t.Fatal(err)
	}
	if _, err := New(testConfig(), "qz", nil, reg); err == nil {
		t.Error("second source on one registry: no error")
	}
	if redact("tcp://u:pw@h:1/x") != "tcp://h:1/x" {
		t.Error(redact("tcp://u:pw@h:1/x"))
	}
}

var _ paho.Message = (*fakeMsg)(nil)

// TestQoS0OverloadDropsAreCounted: QoS 0 messages have no in-flight window
// to bound the handler goroutines waiting on a full queue, so beyond the
// queue they are dropped, counted as overload and logged; up to it they
// are queued. QoS 1 messages never are dropped (they wait).
func TestQoS0OverloadDropsAreCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	var logs bytes.Buffer
	s, _ := newTestSource(t, reg, &logs)
	qos0 := func(i int) *fakeMsg {
		return &fakeMsg{qos: 0, topic: "site/qz/camera/CAM-01/event",
			payload: []byte(fmt.Sprintf(`{"event_id":"E%d","type":"smoke","confidence":0.5}`, i))}
	}
	for i := range queueLen {
		s.onMessage(nil, qos0(i))
	}
	if len(s.in) != queueLen {
		t.Fatalf("%d queued, want %d", len(s.in), queueLen)
	}
	if got := testutil.ToFloat64(s.met.rejected[reasonOverload]); got != 0 {
		t.Fatalf("overload = %v before the queue was full", got)
	}
	for i := range 5 {
		s.onMessage(nil, qos0(queueLen+i))
	}
	if got := testutil.ToFloat64(s.met.rejected[reasonOverload]); got != 5 {
		t.Errorf("overload = %v, want 5", got)
	}
	if got := testutil.ToFloat64(s.met.messages); got != 5 {
		t.Errorf("messages_total = %v, want the 5 dropped (queued ones count when decoded)", got)
	}
	if !strings.Contains(logs.String(), "reason=overload") {
		t.Errorf("no overload log line:\n%s", logs.String())
	}
	// A QoS 1 message waits for room instead (paho reads nothing more
	// meanwhile) and is queued once the workers make some.
	s.open = func(paho.Client) bool { return true }
	handed := make(chan struct{})
	go func() { s.onMessage(nil, camMsg("CAM-02", "2026-11-22T09:00:00Z")); close(handed) }()
	var last paho.Message
	for range queueLen + 1 {
		last = <-s.in
	}
	<-handed
	if !strings.Contains(last.Topic(), "CAM-02") {
		t.Errorf("last message taken %q, want the waiting CAM-02 one", last.Topic())
	}
	if got := testutil.ToFloat64(s.met.rejected[reasonOverload]); got != 5 {
		t.Errorf("overload = %v after a QoS 1 message, want 5", got)
	}
}

// TestWaitingMessageLeftWhenConnectionLost: a QoS 1 message waiting for
// room in a full queue is given up, unacknowledged, once its connection is
// gone (the broker sends it again on the next one), so that paho can start
// that connection; nothing is dropped while the connection is up.
func TestWaitingMessageLeftWhenConnectionLost(t *testing.T) {
	s, _ := newTestSource(t, nil, nil)
	for i := range queueLen {
		s.onMessage(nil, camMsg(fmt.Sprintf("CAM-%02d", i%50), "2026-11-22T09:00:00Z"))
	}
	var up atomic.Bool
	up.Store(true)
	var looks atomic.Int64
	s.open = func(paho.Client) bool { looks.Add(1); return up.Load() }
	m := &fakeMsg{qos: 1, topic: "site/qz/camera/CAM-99/event", payload: []byte(`{"type":"smoke","confidence":0.5}`)}
	returned := make(chan struct{})
	go func() { s.onMessage(nil, m); close(returned) }()
	testenv.Eventually(t, 10*time.Second, func() bool { return looks.Load() >= 2 }, "the waiting handler looked at its connection")
	select {
	case <-returned:
		t.Fatal("handler returned while the connection was up and the queue full")
	default:
	}
	up.Store(false)
	<-returned
	if len(s.in) != queueLen || m.acked.Load() != 0 {
		t.Errorf("queued %d (want %d), acked %v: the message must stay with the broker", len(s.in), queueLen, m.acked.Load() != 0)
	}
}
