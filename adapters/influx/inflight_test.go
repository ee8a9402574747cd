package influx

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/hazardgw/hazardgw/gateway"
	"github.com/hazardgw/hazardgw/gateway/spool"
	"github.com/hazardgw/hazardgw/internal/testenv"
)

func TestLinesReader(t *testing.T) {
	for _, lines := range [][]string{
		{"a"},
		{"cam v=1 1", "cam v=2 2", "cam v=3 3"},
		{"", "x", ""},
		{string(bytes.Repeat([]byte("y"), 10_000)), "z"},
	} {
		raw := make([][]byte, len(lines))
		var want []byte
		for i, l := range lines {
			raw[i] = []byte(l)
			if i > 0 {
				want = append(want, '\n')
			}
			want = append(want, l...)
		}
		if err := iotest.TestReader(&linesReader{lines: raw}, want); err != nil {
			t.Errorf("%.40q: %v", lines, err)
		}
		// One byte at a time, too.
		got, err := io.ReadAll(iotest.OneByteReader(&linesReader{lines: raw}))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%.40q: read %.40q, %v", lines, got, err)
		}
	}
}

// gateSink holds the first write of the round's first batch until released,
// and reports when the first write of another batch has returned: so a test
// can let a later batch be stored while the earlier one is still in flight.
type gateSink struct {
	w         *Writer
	first     string        // the first line of the held batch
	hold      chan struct{} // closed to release it
	held      atomic.Bool
	laterOnce sync.Once
	later     chan error // the later batch's result
}

func (s *gateSink) Write(ctx context.Context, lines [][]byte) error {
	if string(lines[0]) == s.first && s.held.CompareAndSwap(false, true) {
		<-s.hold
	}
	err := s.w.Write(ctx, lines)
	if string(lines[0]) != s.first {
		s.laterOnce.Do(func() { s.later <- err })
	}
	return err
}

// TestWriterInFlightInfluxStopped: two batches in flight; the later one is
// stored, then InfluxDB stops and the earlier one fails. Nothing is
// acknowledged (a later success never acknowledges an earlier failure), and
// once InfluxDB is back — or after the gateway restarted — every point is
// stored exactly once and the spool is empty.
func TestWriterInFlightInfluxStopped(t *testing.T) {
	for _, restartGateway := range []bool{false, true} {
		t.Run(fmt.Sprintf("gateway_restart=%v", restartGateway), func(t *testing.T) {
			const n = 3000
			db := testenv.InfluxDB(t)
			db.CreateDB(testDB)
			path := filepath.Join(t.TempDir(), "spool.db")
			sp, err := spool.Open(path, spool.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { sp.Close() }()
			lines := points("cam", n)
			appendLines(t, sp, lines)
			w := newTestWriter(t, db)
			sink := &gateSink{w: w, first: lines[0], hold: make(chan struct{}), later: make(chan error, 1)}
			opts := gateway.ForwarderOptions{BatchSize: 1000, InFlight: 2, MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}
			f := gateway.NewForwarder(sp, sink, nil, opts, nil)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- f.Run(ctx) }()
			stopRun := func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("run: %v", err)
				}
			}
			defer func() {
				if ctx.Err() == nil {
					stopRun()
				}
			}()

			if err := <-sink.later; err != nil {
				t.Fatalf("the later batch: %v", err)
			}
			if got := db.Count(testDB, "cam", ""); got != 1000 {
				t.Fatalf("InfluxDB holds %d points while the first batch is held, want 1000", got)
			}
			db.Stop()
			close(sink.hold)
			testenv.Eventually(t, time.Minute, func() bool { return f.Stats().Retries >= 1 }, "the held batch failed")
			if st, ss := f.Stats(), sp.Stats(); ss.Count != n || st.Written != 0 {
				t.Fatalf("after the failed round: %d queued, %d written; want %d, 0 (nothing acknowledged)", ss.Count, st.Written, n)
			}
			if restartGateway {
				stopRun()
				if err := sp.Close(); err != nil {
					t.Fatal(err)
				}
				if sp, err = spool.Open(path, spool.Options{}); err != nil {
					t.Fatal(err)
				}
				if got := sp.Stats().Count; got != n {
					t.Fatalf("reopened spool holds %d points, want %d", got, n)
				}
				db.Start()
				f = gateway.NewForwarder(sp, w, nil, opts, nil)
				if err := f.Drain(context.Background()); err != nil {
					t.Fatal(err)
				}
			} else {
				db.Start()
				testenv.Eventually(t, time.Minute, func() bool { return sp.Stats().Count == 0 }, "the spool drained")
				stopRun()
			}
			st, ss := f.Stats(), sp.Stats()
			if st.Written != n || st.DeadLettered != 0 || ss.Count != 0 || ss.DeadCount != 0 {
				t.Fatalf("written %d, dead-lettered %d, spool %d queued / %d dead; want %d, 0, 0 / 0",
					st.Written, st.DeadLettered, ss.Count, ss.DeadCount, n)
			}
			if got := db.Count(testDB, "cam", ""); got != n {
				t.Fatalf("InfluxDB holds %d points, want %d", got, n)
			}
		})
	}
}
