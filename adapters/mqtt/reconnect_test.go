package mqtt

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hazardgw/hazardgw/gateway"
	"github.com/hazardgw/hazardgw/internal/testenv"
	"github.com/hazardgw/hazardgw/simulators/mqttsim"
)

// TestCommitAcrossReconnect, on Mosquitto: batches wait for their spool
// commit while the connection they came on goes away (the broker restarts,
// or the TCP connection drops with the broker still up). The commits then
// finish while the gateway is disconnected, so their acknowledgements have
// no connection to go on: paho drops them, and must not send them on the
// next connection, where the broker may have given those packet ids to
// other messages. The broker, which never got them, sends every message
// again on the resumed session; each is stored again at the same time (its
// ts, or for events without one the time its first copy got), so InfluxDB
// keeps one point per event. A second wave published after the
// reconnection is stored in full: no stale acknowledgement took one of its
// messages.
func TestCommitAcrossReconnect(t *testing.T) {
	for _, tc := range []struct {
		name string
		// down breaks the connection and keeps the gateway from
		// reconnecting; up lets it reconnect.
		setup func(t *testing.T, b *testenv.Broker) (url string, down, up func())
	}{
		{"broker restart", func(t *testing.T, b *testenv.Broker) (string, func(), func()) {
			return b.URL(), b.Stop, b.Start
		}},
		{"dropped connection", func(t *testing.T, b *testenv.Broker) (string, func(), func()) {
			p := newCutProxy(t, b.Addr())
			return p.url(), func() { p.setDown(true) }, func() { p.setDown(false) }
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			broker := testenv.Mosquitto(t)
			url, down, up := tc.setup(t, broker)
			cfg := brokerConfig(url)
			cfg.DataDir = t.TempDir()
			cfg.MaxBackoff = 200 * time.Millisecond
			// Every batch of the first connection is held: enough workers
			// that every message gets to one.
			cfg.Workers = 64

			var mu sync.Mutex
			times := map[string]map[int64]bool{} // event id → times stored
			commits := map[string]int{}          // event id → commits holding it
			store := func(p []gateway.Point) {
				mu.Lock()
				defer mu.Unlock()
				for _, pt := range p {
					f, ok := pt.Field("event_id")
					if pt.Measurement != measurementFire || !ok {
						continue
					}
					if times[f.S] == nil {
						times[f.S] = map[int64]bool{}
					}
					times[f.S][pt.Time.UnixNano()] = true
					commits[f.S]++
				}
			}
			count := func(ids []string, atLeast int) bool {
				mu.Lock()
				defer mu.Unlock()
				for _, id := range ids {
					if commits[id] < atLeast {
						return false
					}
				}
				return true
			}
			var holding atomic.Bool
			holding.Store(true)
			release := make(chan struct{})
			var held atomic.Int64
			acc := gateway.AcceptFunc(func(ctx context.Context, p []gateway.Point) error {
				if holding.Load() {
					n := 0
					for _, pt := range p {
						if pt.Measurement == measurementFire {
							n++
						}
					}
					held.Add(int64(n))
					select {
					case <-release:
					case <-ctx.Done():
						return ctx.Err()
					}
				}
				store(p) // committed: only now may the source acknowledge
				return nil
			})
			src, stop := runConnected(t, cfg, acc)
			defer stop()

			base := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
			publish := func(prefix string, n int) []string {
				pub, err := mqttsim.NewPublisher(context.Background(), mqttsim.PublisherOptions{URL: broker.URL(), Site: "qz", ClientID: "it-across-" + prefix})
				if err != nil {
					t.Fatal(err)
				}
				defer pub.Close(time.Minute)
				var ids []string
				for i := range n {
					ev := mqttsim.CameraEvent{EventID: fmt.Sprintf("%s%03d", prefix, i), CameraID: "CAM-01", Type: mqttsim.Smoke, Confidence: 0.5}
					if i%2 == 0 { // half of them without ts: stamped at arrival
						ev.TS = base.Add(time.Duration(i) * time.Millisecond)
					}
					if err := pub.PublishCamera(context.Background(), ev); err != nil {
						t.Fatal(err)
					}
					ids = append(ids, ev.EventID)
				}
				return ids
			}
			const n = 40 // within the broker's in-flight window (100): all delivered at once
			first := publish("A", n)
			testenv.Eventually(t, 30*time.Second, func() bool { return held.Load() == n }, "%d events waiting for their commit", n)

			down()
			testenv.Eventually(t, 30*time.Second, func() bool { return !src.Connected() }, "disconnected")
			// The commits finish while there is no connection: the
			// acknowledgements are sent after it is gone.
			holding.Store(false)
			close(release)
			testenv.Eventually(t, 30*time.Second, func() bool { return count(first, 1) }, "the held batches committed")
			up()
			testenv.Eventually(t, 30*time.Second, func() bool { return testutil.ToFloat64(src.met.connects) >= 2 }, "reconnected")
			// Not one acknowledgement reached the broker: it sends every
			// message again.
			testenv.Eventually(t, 30*time.Second, func() bool { return count(first, 2) }, "every event redelivered and committed again")
			second := publish("B", 3*n)
			testenv.Eventually(t, 30*time.Second, func() bool { return count(second, 1) }, "the second wave stored")

			mu.Lock()
			defer mu.Unlock()
			for _, id := range append(first, second...) {
				if len(times[id]) != 1 {
					t.Errorf("%s stored at %d different times: a second point in InfluxDB", id, len(times[id]))
				}
			}
			if got := testutil.ToFloat64(src.met.restamped); got < n/2 {
				t.Errorf("restamped %v redeliveries, want at least %d", got, n/2)
			}
		})
	}
}

// cutProxy forwards TCP connections to a broker; setDown(true) cuts every
// open connection and refuses new ones until setDown(false).
type cutProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]bool
	wg     sync.WaitGroup
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	p.wg.Go(p.serve)
	t.Cleanup(func() {
		ln.Close()
		p.setDown(true)
		p.wg.Wait()
	})
	return p
}

func (p *cutProxy) url() string { return "tcp://" + p.ln.Addr().String() }

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			c.Close()
			continue
		}
		b, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c], p.conns[b] = true, true
		p.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			io.Copy(dst, src)
			dst.Close()
			src.Close()
		}
		p.wg.Go(func() { pipe(b, c) })
		p.wg.Go(func() { pipe(c, b) })
	}
}

func (p *cutProxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for c := range p.conns {
			c.Close()
		}
		clear(p.conns)
	}
}
