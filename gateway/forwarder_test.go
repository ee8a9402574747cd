package gateway

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/internal/testenv"
)

// limitSink behaves like InfluxDB with a body size limit and a schema: a
// batch longer than maxBytes is refused with ErrTooLarge, a batch holding a
// line with "bad" is refused as a whole, and a line with "partial" is
// dropped from an otherwise stored batch (a partial write).
type limitSink struct {
	maxBytes int
	mu       sync.Mutex // writes may be concurrent (InFlight > 1)
	stored   []string
	requests int
}

func (s *limitSink) Write(_ context.Context, lines [][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	n := 0
	for _, l := range lines {
		n += len(l) + 1
	}
	if n > s.maxBytes {
		return fmt.Errorf("status 413: %w", ErrTooLarge)
	}
	for _, l := range lines {
		if strings.Contains(string(l), "bad") {
			return fmt.Errorf("%w: status 400: field type conflict", ErrPermanent)
		}
	}
	pw := &PartialWriteError{Err: fmt.Errorf("%w: partial write", ErrPermanent)}
	for i, l := range lines {
		if strings.Contains(string(l), "partial") {
			pw.Rejected++
			if i%2 == 0 { // the sink identifies only some of them
				pw.Lines = append(pw.Lines, i)
			}
			continue
		}
		s.stored = append(s.stored, string(l))
	}
	if pw.Rejected > 0 {
		return pw
	}
	return nil
}

func TestForwarderSplitsAndDeadLettersPoints(t *testing.T) {
	line := func(dev string, i int) []byte { return fmt.Appendf(nil, "m,device=%s v=%d %d", dev, i, i) }
	cases := []struct {
		name                 string
		lines                [][]byte
		maxBytes             int
		stored, dead, inDead int
	}{
		{name: "fits", lines: nLines(line, "ok", 100), maxBytes: 1 << 20, stored: 100},
		// 866 points, about 25 bytes each, against a 2 kB limit.
		{name: "413 splits until it fits", lines: nLines(line, "ok", 866), maxBytes: 2000, stored: 866},
		{name: "one point too large alone", lines: append(nLines(line, "ok", 50),
			append([]byte("m,device=huge v=\""), append(make([]byte, 3000), "\" 1"...)...)), maxBytes: 2000, stored: 50, dead: 1, inDead: 1},
		{name: "whole-batch 400 isolates the bad point", lines: append(append(nLines(line, "ok", 40), line("bad", 1)), nLines(line, "ok2", 40)...),
			maxBytes: 1 << 20, stored: 80, dead: 1, inDead: 1},
		{name: "partial write counts only rejected", lines: append(append(nLines(line, "ok", 10), line("partial", 1), line("partial", 2)), nLines(line, "ok2", 10)...),
			maxBytes: 1 << 20, stored: 20, dead: 2, inDead: 1},
	}
	// One batch at a time as before, and several batches per round, some
	// of which the sink refuses.
	for _, o := range []ForwarderOptions{{BatchSize: 5000}, {BatchSize: 30, InFlight: 2}, {BatchSize: 100, InFlight: 2}, {BatchSize: 100, InFlight: 3}} {
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s/batch=%d,inflight=%d", c.name, o.BatchSize, o.InFlight), func(t *testing.T) {
				c.lines = cloneLines(c.lines)
				forwardAndCheck(t, c.lines, c.maxBytes, o, c.stored, c.dead, c.inDead)
			})
		}
	}
}

func cloneLines(in [][]byte) [][]byte {
	out := make([][]byte, len(in))
	for i, l := range in {
		out[i] = append([]byte(nil), l...)
	}
	return out
}

// forwardAndCheck drains lines through a limitSink of maxBytes and checks
// what was stored and dead-lettered, and that nothing was stored twice.
func forwardAndCheck(t *testing.T, lines [][]byte, maxBytes int, opts ForwarderOptions, stored, dead, inDead int) {
	t.Helper()
	sp := openSpool(t)
	for i := range lines {
		// Fill with zero bytes replaced by 'x' so the huge line is valid text.
		for j, b := range lines[i] {
			if b == 0 {
				lines[i][j] = 'x'
			}
		}
	}
	if _, err := sp.Append(lines, time.Now()); err != nil {
		t.Fatal(err)
	}
	sink := &limitSink{maxBytes: maxBytes}
	f := NewForwarder(sp, sink, nil, opts, nil)
	if err := f.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := f.Stats()
	if len(sink.stored) != stored || st.Written != int64(stored) || st.DeadLettered != int64(dead) {
		t.Fatalf("stored %d, written %d, dead-lettered %d; want %d stored, %d dead", len(sink.stored), st.Written, st.DeadLettered, stored, dead)
	}
	ss := sp.Stats()
	if ss.Count != 0 || ss.DeadCount != int64(inDead) {
		t.Fatalf("spool left %d queued, %d dead; want 0, %d", ss.Count, ss.DeadCount, inDead)
	}
	seen := map[string]bool{}
	for _, l := range sink.stored {
		if seen[l] {
			t.Fatalf("%q stored twice", l)
		}
		seen[l] = true
	}
}

// After a 413 the forwarder keeps the size that fitted instead of sending
// every following batch too large first.
func TestForwarderRemembersSizeAfter413(t *testing.T) {
	sp := openSpool(t)
	line := func(dev string, i int) []byte { return fmt.Appendf(nil, "m,device=%s v=%d %d", dev, i, i) }
	sink := &limitSink{maxBytes: 2000}
	f := NewForwarder(sp, sink, nil, ForwarderOptions{BatchSize: 1000}, nil)
	for round := range 5 {
		if _, err := sp.Append(nLines(line, fmt.Sprint("r", round), 1000), time.Now()); err != nil {
			t.Fatal(err)
		}
		if err := f.Drain(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if len(sink.stored) != 5000 || f.Stats().DeadLettered != 0 {
		t.Fatalf("stored %d, dead %d", len(sink.stored), f.Stats().DeadLettered)
	}
	// Halving from 1000 per round would cost over 100 requests per round.
	if sink.requests > 5*100 {
		t.Fatalf("%d requests for 5000 points", sink.requests)
	}
}

func nLines(line func(string, int) []byte, dev string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = line(dev, i)
	}
	return out
}

// TestForwarderBoundsBatchBytes: a batch holds at most BatchBytes of lines
// (and at least one line, however long), from buffers reused batch after
// batch; every line arrives once, in order.
func TestForwarderBoundsBatchBytes(t *testing.T) {
	sp := openSpool(t)
	line := func(dev string, i int) []byte {
		if i == 7 { // longer than a whole batch: written alone
			return fmt.Appendf(nil, "m,device=%s v=%d,pad=\"%s\" %d", dev, i, strings.Repeat("x", 600), i)
		}
		return fmt.Appendf(nil, "m,device=%s v=%d %d", dev, i, i)
	}
	in := nLines(line, "d", 40)
	if _, err := sp.Append(in, time.Now()); err != nil {
		t.Fatal(err)
	}
	sink := &sizeSink{}
	f := NewForwarder(sp, sink, nil, ForwarderOptions{BatchSize: 1000, BatchBytes: 100}, nil)
	if err := f.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(sink.stored) != len(in) {
		t.Fatalf("stored %d lines, want %d", len(sink.stored), len(in))
	}
	for i, l := range in {
		if sink.stored[i] != string(l) {
			t.Fatalf("line %d = %q, want %q", i, sink.stored[i], l)
		}
	}
	for i, n := range sink.bytes {
		if n > 100 && sink.lines[i] > 1 {
			t.Errorf("write %d: %d lines of %d bytes, over BatchBytes", i, sink.lines[i], n)
		}
	}
	if len(sink.bytes) < 10 {
		t.Errorf("%d writes for %d lines of ~20 bytes in batches of 100 bytes", len(sink.bytes), len(in))
	}
}

type sizeSink struct {
	stored       []string
	bytes, lines []int
}

func (s *sizeSink) Write(_ context.Context, lines [][]byte) error {
	n := 0
	for _, l := range lines {
		n += len(l)
		s.stored = append(s.stored, string(l))
	}
	s.bytes, s.lines = append(s.bytes, n), append(s.lines, len(lines))
	return nil
}

// TestForwarderDue: a full batch (in points or bytes) is due at once; a
// partial one after FlushInterval — or, after a full batch was written (a
// backlog), once commits have paused for drainQuiet.
func TestForwarderDue(t *testing.T) {
	clock := testenv.NewClock(time.Unix(1_700_000_000, 0))
	for _, tc := range []struct {
		name       string
		points     int
		opts       ForwarderOptions
		sinceFull  time.Duration // since the last full batch was written; 0: never
		sinceCmt   time.Duration // since the last commit woke Run
		age        time.Duration // of the oldest point
		wantDue    bool
		wantAtMost time.Duration
	}{
		{name: "empty", points: 0, wantDue: false, wantAtMost: time.Hour},
		{name: "full in points", points: 10, opts: ForwarderOptions{BatchSize: 10}, wantDue: true},
		{name: "full in bytes", points: 5, opts: ForwarderOptions{BatchSize: 100, BatchBytes: 50}, wantDue: true},
		{name: "partial, young", points: 5, age: 100 * time.Millisecond, wantDue: false, wantAtMost: 900 * time.Millisecond},
		{name: "partial, old", points: 5, age: time.Second, wantDue: true},
		{name: "backlog tail, commits going on", points: 5, sinceFull: time.Millisecond, sinceCmt: 5 * time.Millisecond, wantDue: false, wantAtMost: 15 * time.Millisecond},
		{name: "backlog tail, commits paused", points: 5, sinceFull: time.Millisecond, sinceCmt: drainQuiet, wantDue: true},
		{name: "backlog tail after a pause, commits paused", points: 5, sinceFull: 500 * time.Millisecond, sinceCmt: drainQuiet, age: 50 * time.Millisecond, wantDue: true},
		{name: "backlog long over, commits paused", points: 5, sinceFull: 2 * time.Second, sinceCmt: drainQuiet, age: 100 * time.Millisecond, wantDue: false, wantAtMost: 900 * time.Millisecond},
		{name: "trickle, commits paused", points: 5, sinceCmt: time.Minute, age: 100 * time.Millisecond, wantDue: false, wantAtMost: 900 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp := openSpool(t)
			now := clock.Now()
			if tc.points > 0 {
				lines := make([][]byte, tc.points)
				for i := range lines {
					lines[i] = fmt.Appendf(nil, "m,device=d%d v=%d %d", i, i, i) // 20 bytes or so
				}
				if _, err := sp.Append(lines, now.Add(-tc.age)); err != nil {
					t.Fatal(err)
				}
			}
			opts := tc.opts
			opts.Now = clock.Now
			f := NewForwarder(sp, &sizeSink{}, nil, opts, nil)
			f.lastCommit = now.Add(-tc.sinceCmt)
			if tc.sinceFull > 0 {
				f.lastFull = now.Add(-tc.sinceFull)
			}
			wait, due := f.due()
			if due != tc.wantDue || (!due && wait > tc.wantAtMost) {
				t.Errorf("due %v, wait %v; want due %v, wait at most %v", due, wait, tc.wantDue, tc.wantAtMost)
			}
		})
	}
}

// orderSink fails chosen writes: transiently once for a batch starting at
// a line in transientOnce, permanently for any batch holding a line in bad.
// The first round's writes wait for each other, so a forwarder that did not
// write them concurrently would fail the test.
type orderSink struct {
	transientOnce map[string]bool
	bad           map[string]bool
	concurrent    int // writes the first round must hold at once

	mu      sync.Mutex
	entered int
	both    chan struct{}
	stored  []string
}

func (s *orderSink) Write(_ context.Context, lines [][]byte) error {
	s.mu.Lock()
	s.entered++
	if s.entered == s.concurrent {
		close(s.both)
	}
	first := s.entered <= s.concurrent
	s.mu.Unlock()
	if first {
		select {
		case <-s.both:
		case <-time.After(time.Minute): // a deadlock guard, not a timing assertion
			return fmt.Errorf("%w: the first round's writes did not overlap", ErrPermanent)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.transientOnce[string(lines[0])] {
		delete(s.transientOnce, string(lines[0]))
		return fmt.Errorf("connection refused")
	}
	for _, l := range lines {
		if s.bad[string(l)] {
			return fmt.Errorf("%w: status 400: bad point", ErrPermanent)
		}
	}
	for _, l := range lines {
		s.stored = append(s.stored, string(l))
	}
	return nil
}

// TestForwarderInFlightSettlesInOrder: two batches written at once are
// settled in spool order: a stored batch after one that failed transiently
// is not acknowledged (it is written again), nor is a later batch
// dead-lettered before the earlier one is settled; in the end every point
// is stored or dead-lettered, none lost.
func TestForwarderInFlightSettlesInOrder(t *testing.T) {
	line := func(i int) string { return fmt.Sprintf("m,device=d v=%d %d", i, i) }
	set := func(is ...int) map[string]bool {
		m := map[string]bool{}
		for _, i := range is {
			m[line(i)] = true
		}
		return m
	}
	for _, c := range []struct {
		name           string
		transientOnce  map[string]bool
		bad            map[string]bool
		queued         int64 // after the first round
		written, dead  int64 // after the first round
		finalDead      int64
		storedTwiceMax int // points written again after a failed round
	}{
		{name: "all stored", queued: 50, written: 50},
		{name: "first fails, second stored", transientOnce: set(0), queued: 100, storedTwiceMax: 25},
		{name: "first stored, second fails", transientOnce: set(25), queued: 75, written: 25},
		{name: "both fail", transientOnce: set(0, 25), queued: 100},
		{name: "bad point in first, second stored", bad: set(3), queued: 50, written: 49, dead: 1, finalDead: 1},
		{name: "first fails, bad point in second waits", transientOnce: set(0), bad: set(30), queued: 100, finalDead: 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			sp := openSpool(t)
			var in [][]byte
			for i := range 100 {
				in = append(in, []byte(line(i)))
			}
			if _, err := sp.Append(in, time.Now()); err != nil {
				t.Fatal(err)
			}
			sink := &orderSink{transientOnce: c.transientOnce, bad: c.bad, concurrent: 2, both: make(chan struct{})}
			f := NewForwarder(sp, sink, nil, ForwarderOptions{BatchSize: 25, InFlight: 2}, nil)
			n, err := f.writeBatch(context.Background())
			if n != 50 {
				t.Fatalf("first round read %d points, want 50", n)
			}
			if (err != nil) != (c.transientOnce != nil) {
				t.Fatalf("first round: err %v", err)
			}
			st, ss := f.Stats(), sp.Stats()
			if ss.Count != c.queued || st.Written != c.written || st.DeadLettered != c.dead || ss.DeadCount != c.dead {
				t.Fatalf("after the first round: %d queued, %d written, %d dead (%d in the spool); want %d, %d, %d",
					ss.Count, st.Written, st.DeadLettered, ss.DeadCount, c.queued, c.written, c.dead)
			}
			if err := f.Drain(context.Background()); err != nil {
				t.Fatal(err)
			}
			st, ss = f.Stats(), sp.Stats()
			if ss.Count != 0 || st.Written != 100-c.finalDead || st.DeadLettered != c.finalDead || ss.DeadCount != c.finalDead {
				t.Fatalf("after draining: %d queued, %d written, %d dead (%d in the spool); want 0, %d, %d",
					ss.Count, st.Written, st.DeadLettered, ss.DeadCount, 100-c.finalDead, c.finalDead)
			}
			seen := map[string]int{}
			for _, l := range sink.stored {
				seen[l]++
			}
			twice := 0
			for i := range 100 {
				switch n := seen[line(i)]; {
				case c.bad[line(i)] && n != 0:
					t.Errorf("bad point %d stored", i)
				case !c.bad[line(i)] && n == 0:
					t.Errorf("point %d lost", i)
				case n > 1:
					twice++
				}
			}
			if twice > c.storedTwiceMax {
				t.Errorf("%d points stored twice, want at most %d", twice, c.storedTwiceMax)
			}
		})
	}
}

// TestForwarderBacklogTailInPieces: the tail of a backlog that arrives in
// pieces (ingest pausing near the end) is written once commits pause, not
// after FlushInterval, even after a partial batch of the tail was written.
func TestForwarderBacklogTailInPieces(t *testing.T) {
	clock := testenv.NewClock(time.Unix(1_700_000_000, 0))
	sp := openSpool(t)
	f := NewForwarder(sp, &sizeSink{}, nil, ForwarderOptions{BatchSize: 10, Now: clock.Now}, nil)
	line := func(dev string, i int) []byte { return fmt.Appendf(nil, "m,device=%s v=%d %d", dev, i, i) }
	for i, n := range []int{10, 3, 2} { // a full batch, then two pieces of the tail
		if _, err := sp.Append(nLines(line, fmt.Sprint("p", i), n), clock.Now()); err != nil {
			t.Fatal(err)
		}
		f.lastCommit = clock.Now()
		clock.Add(drainQuiet)
		if wait, due := f.due(); !due {
			t.Fatalf("piece %d (%d points): not due, wait %v", i, n, wait)
		}
		if got, err := f.writeBatch(context.Background()); err != nil || got != n {
			t.Fatalf("piece %d: wrote %d, %v; want %d", i, got, err, n)
		}
		clock.Add(100 * time.Millisecond)
	}
}
