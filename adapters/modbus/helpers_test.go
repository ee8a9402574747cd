package modbus

import (
	"context"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/gateway"
	"github.com/hazardgw/hazardgw/internal/testenv"
	"github.com/hazardgw/hazardgw/simulators/modbussim"
)

// testLogger logs to the test output when -v is given, else discards.
func testLogger(t testing.TB) *slog.Logger {
	if !testing.Verbose() {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// collector is a fake Acceptor that keeps copies of every point.
type collector struct {
	mu    sync.Mutex
	calls int
	pts   []gateway.Point
	fail  error // returned by Accept when set
}

func (c *collector) Accept(_ context.Context, pts []gateway.Point) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if c.fail != nil {
		return c.fail
	}
	for _, p := range pts {
		p.Tags = append([]gateway.Tag(nil), p.Tags...)
		p.Fields = append([]gateway.Field(nil), p.Fields...)
		c.pts = append(c.pts, p)
	}
	return nil
}

// points returns the collected points of measurement m for device id.
func (c *collector) points(m, id string) []gateway.Point {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []gateway.Point
	for _, p := range c.pts {
		if dev, _ := p.Tag(gateway.TagDevice); p.Measurement == m && dev == id {
			out = append(out, p)
		}
	}
	return out
}

// status returns device id's device_status points.
func (c *collector) status(id string) []gateway.Point {
	return c.points(gateway.MeasurementDeviceStatus, id)
}

// online reports the online field of a device_status point.
func online(p gateway.Point) bool {
	f, _ := p.Field("online")
	return f.B
}

// statusesSince returns device id's statuses with time ≥ since.
func (c *collector) statusesSince(id string, since time.Time) []gateway.Point {
	var out []gateway.Point
	for _, p := range c.status(id) {
		if !p.Time.Before(since) {
			out = append(out, p)
		}
	}
	return out
}

// waitFor polls cond until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, d, cond, "%s", what)
}

// startSim starts a simulator on a free loopback port.
func startSim(t testing.TB) (*modbussim.Server, string) {
	t.Helper()
	s := modbussim.New(modbussim.Options{Logger: testLogger(t)})
	t.Cleanup(func() { s.Close() })
	addr, err := s.ListenTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return s, addr
}

// running is a Source under test, stopped at cleanup.
type running struct {
	src  *Source
	acc  *collector
	stop func()
	done chan error
}

func runSource(t testing.TB, cfg Config) *running {
	t.Helper()
	src, err := New(cfg, "test-site", testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{src: src, acc: &collector{}, done: make(chan error, 1)}
	go func() { r.done <- src.Run(ctx, r.acc) }()
	var once sync.Once
	r.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-r.done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("Run did not return 10 s after cancel")
			}
		})
	}
	t.Cleanup(r.stop)
	return r
}

func ptr[T any](v T) *T { return &v }

// checkNoLeak waits until the goroutine count is back to at most base+slack.
func checkNoLeak(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= base+2 {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines after Run returned, %d before:\n%s", n, base, buf)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mustLookPath fails (never skips) when a tool the tests need is missing.
func mustLookPath(t testing.TB, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s is required by this test (apt-get install %s): %v", path, path[strings.LastIndex(path, "/")+1:], err)
	}
}
