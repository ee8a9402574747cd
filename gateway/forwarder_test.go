package gateway

import (
	"context"
	"fmt"
	"strings"
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
	stored   []string
	requests int
}

func (s *limitSink) Write(_ context.Context, lines [][]byte) error {
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
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sp := openSpool(t)
			for i := range c.lines {
				// Fill with zero bytes replaced by 'x' so the huge line is valid text.
				for j, b := range c.lines[i] {
					if b == 0 {
						c.lines[i][j] = 'x'
					}
				}
			}
			if _, err := sp.Append(c.lines, time.Now()); err != nil {
				t.Fatal(err)
			}
			sink := &limitSink{maxBytes: c.maxBytes}
			f := NewForwarder(sp, sink, nil, ForwarderOptions{BatchSize: 5000}, nil)
			if err := f.Drain(context.Background()); err != nil {
				t.Fatal(err)
			}
			st := f.Stats()
			if len(sink.stored) != c.stored || st.Written != int64(c.stored) || st.DeadLettered != int64(c.dead) {
				t.Fatalf("stored %d, written %d, dead-lettered %d; want %d stored, %d dead", len(sink.stored), st.Written, st.DeadLettered, c.stored, c.dead)
			}
			ss := sp.Stats()
			if ss.Count != 0 || ss.DeadCount != int64(c.inDead) {
				t.Fatalf("spool left %d queued, %d dead; want 0, %d", ss.Count, ss.DeadCount, c.inDead)
			}
			seen := map[string]bool{}
			for _, l := range sink.stored {
				if seen[l] {
					t.Fatalf("%q stored twice", l)
				}
				seen[l] = true
			}
		})
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
		draining   bool
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
		{name: "backlog tail, commits going on", points: 5, draining: true, sinceCmt: 5 * time.Millisecond, wantDue: false, wantAtMost: 15 * time.Millisecond},
		{name: "backlog tail, commits paused", points: 5, draining: true, sinceCmt: drainQuiet, wantDue: true},
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
			f.draining, f.lastCommit = tc.draining, now.Add(-tc.sinceCmt)
			wait, due := f.due()
			if due != tc.wantDue || (!due && wait > tc.wantAtMost) {
				t.Errorf("due %v, wait %v; want due %v, wait at most %v", due, wait, tc.wantDue, tc.wantAtMost)
			}
		})
	}
}
