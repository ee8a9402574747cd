package mqtt

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/hazardgw/hazardgw/adapters/influx"
	"github.com/hazardgw/hazardgw/gateway"
	"github.com/hazardgw/hazardgw/gateway/spool"
	"github.com/hazardgw/hazardgw/internal/testenv"
)

// BenchmarkDrain is PERFORMANCE.md's MQTT workload: b.N camera events
// queued at Mosquitto for a persistent session, then drained, side by side,
// by a bare paho subscriber that only acknowledges (the ceiling) and by the
// Source with the real pipeline (every message fsync'd into the spool before
// its PUBACK) and the forwarder writing to InfluxDB. It reports messages per
// second, CPU per message (user+system of this process, which holds neither
// broker nor database) and peak RSS. Run it with a fixed count:
//
//	go test -run '^$' -bench Drain -benchtime 200000x ./adapters/mqtt/
//
// DRAIN_NO_TS=1 queues events without ts: each worker batch then also
// writes and fdatasyncs its arrival stamps (see stamps) before its commit.
func BenchmarkDrain(b *testing.B) {
	inflight := 100
	if v, err := strconv.Atoi(os.Getenv("DRAIN_INFLIGHT")); err == nil {
		inflight = v
	}
	for _, mode := range []string{"bare-paho", "source"} {
		b.Run(fmt.Sprintf("%s/inflight=%d", mode, inflight), func(b *testing.B) {
			broker := testenv.Mosquitto(b, testenv.WithMaxInflightMessages(inflight))
			var db *testenv.Influx
			if mode == "source" {
				db = testenv.InfluxDB(b)
				db.CreateDB(testDB)
			}
			clientID := "drain-" + mode
			// Create the persistent session, then queue b.N messages for it.
			c := paho.NewClient(paho.NewClientOptions().AddBroker(broker.URL()).SetClientID(clientID).SetCleanSession(false))
			if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				b.Fatal(tok.Error())
			}
			if tok := c.Subscribe("site/+/camera/+/event", 1, nil); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				b.Fatal(tok.Error())
			}
			c.Disconnect(100)
			s := newStream(b.N, 0)
			s.noTS = os.Getenv("DRAIN_NO_TS") != ""
			if err := s.publish(context.Background(), broker.URL()); err != nil {
				b.Fatal(err)
			}

			debug.FreeOSMemory() // the publishers' garbage is not the drain's
			resetPeakRSS()
			stopSampling := sampleAnon()
			defer stopSampling()
			before := cpuTime()
			b.ResetTimer()
			start := time.Now()
			var elapsed time.Duration
			var cpu time.Duration
			switch mode {
			case "bare-paho":
				drainBare(b, broker.URL(), clientID, b.N)
				elapsed, cpu = time.Since(start), cpuTime()-before
			default:
				var e2e time.Duration
				elapsed, cpu, e2e = drainSource(b, broker.URL(), clientID, db.URL(), b.N, before)
				if e2e > 0 {
					b.ReportMetric(float64(b.N)/e2e.Seconds(), "into-influx-msg/s")
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msg/s")
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/msg")
			b.ReportMetric(float64(peakRSS())/(1<<20), "peak-RSS-MiB")
			b.ReportMetric(float64(rssAnon.Load())/(1<<20), "peak-anon-MiB")
		})
	}
}

func drainBare(b *testing.B, url, clientID string, n int) {
	var got atomic.Int64
	done := make(chan struct{})
	o := paho.NewClientOptions().AddBroker(url).SetClientID(clientID).SetCleanSession(false).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			if got.Add(1) == int64(n) {
				close(done)
			}
		})
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatal(tok.Error())
	}
	<-done
	c.Disconnect(250)
}

// drainSource measures until every message is in the spool (and so
// acknowledged), then also how long until all were in InfluxDB (0 if that
// took more than a minute longer).
func drainSource(b *testing.B, url, clientID, influxURL string, n int, cpu0 time.Duration) (elapsed, cpu, e2e time.Duration) {
	sp, err := spool.Open(filepath.Join(b.TempDir(), "spool.db"), spool.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer sp.Close()
	sink, err := influx.New(influx.Config{URL: influxURL, Bucket: testDB + "/autogen"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer sink.Close()
	pipe := gateway.NewPipeline(sp, gateway.PipelineOptions{}, nil)
	fwd := gateway.NewForwarder(sp, sink, pipe.Notify(), gateway.ForwarderOptions{}, nil)
	cfg := testConfig()
	cfg.URL, cfg.ClientID = url, clientID
	cfg.DataDir = b.TempDir() // as in the gateway: stamps and devices files
	src, err := New(cfg, "qz", nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { pipe.Run(ctx) })
	noFwd := os.Getenv("DRAIN_NO_FWD") != "" // isolates the source's share: no forwarder, no InfluxDB writes
	if !noFwd {
		wg.Go(func() { fwd.Run(ctx) })
	}
	sctx, stopSrc := context.WithCancel(ctx)
	var swg sync.WaitGroup
	swg.Go(func() { src.Run(sctx, pipe) })
	// Every message is acknowledged once its point is committed; the device
	// status points (one per camera) come on top.
	start := time.Now()
	for pipe.Stats().Accepted < int64(n) {
		time.Sleep(time.Millisecond)
	}
	elapsed, cpu = time.Since(start), cpuTime()-cpu0
	b.StopTimer()
	stopSrc()
	swg.Wait()
	for deadline := time.Now().Add(time.Minute); !noFwd && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if fwd.Stats().Written >= int64(n) {
			e2e = time.Since(start)
			break
		}
	}
	cancel()
	wg.Wait()
	return elapsed, cpu, e2e
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// resetPeakRSS resets the kernel's high-water mark of this process's RSS.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSS returns VmHWM in bytes.
func peakRSS() int64 { return statusKB("VmHWM:") << 10 }

// rssAnon is the peak anonymous RSS (the heap and stacks, without the
// spool's memory-mapped file) seen by sampleAnon.
var rssAnon atomic.Int64

func sampleAnon() (stop func()) {
	rssAnon.Store(0)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			if v := statusKB("RssAnon:") << 10; v > rssAnon.Load() {
				rssAnon.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

func statusKB(field string) int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb
		}
	}
	return 0
}
