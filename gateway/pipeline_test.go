package gateway

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/gateway/spool"
	"github.com/hazardgw/hazardgw/internal/testenv"
)

func openSpool(t testing.TB) *spool.Spool {
	t.Helper()
	sp, err := spool.Open(filepath.Join(t.TempDir(), "spool.db"), spool.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	return sp
}

func pt(device string, i int) Point {
	return Point{Measurement: "gas_detector", Tags: []Tag{{"device", device}},
		Fields: []Field{Float("ch4", float64(i))}, Time: time.Unix(1700000000, int64(i))}
}

type recorder struct {
	mu  sync.Mutex
	got []Point
}

func (r *recorder) Observe(ps []Point) {
	r.mu.Lock()
	r.got = append(r.got, ps...)
	r.mu.Unlock()
}

func TestPipelineCommitsConcurrentAccepts(t *testing.T) {
	sp := openSpool(t)
	rec := &recorder{}
	p := NewPipeline(sp, PipelineOptions{Queue: 8}, nil, rec)
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error)
	go func() { runDone <- p.Run(ctx) }()

	const workers, per = 20, 50
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				if err := p.Accept(context.Background(), []Point{pt(fmt.Sprint("D", w), i)}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if got := sp.Stats().Count; got != workers*per {
		t.Fatalf("spool holds %d, want %d", got, workers*per)
	}
	// Every Accept returned only after its point was on disk, and observers saw it.
	if len(rec.got) != workers*per {
		t.Fatalf("observer saw %d points", len(rec.got))
	}
	st := p.Stats()
	if st.Accepted != workers*per || st.Commits > workers*per {
		t.Fatalf("stats %+v", st)
	}
	cancel()
	if err := <-runDone; err != nil {
		t.Fatal(err)
	}
	if err := p.Accept(context.Background(), []Point{pt("x", 1)}); !errors.Is(err, ErrPipelineClosed) {
		t.Fatalf("Accept after stop = %v, want ErrPipelineClosed", err)
	}
}

func TestPipelineRejectsInvalidPointsButKeepsOthers(t *testing.T) {
	sp := openSpool(t)
	rec := &recorder{}
	p := NewPipeline(sp, PipelineOptions{}, nil, rec)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.Run(ctx)
	bad := Point{Measurement: "m", Fields: []Field{Float("f", 0)}} // no time
	if err := p.Accept(ctx, []Point{pt("a", 1), bad, pt("a", 2)}); err != nil {
		t.Fatal(err)
	}
	es, _ := sp.Read(10)
	if len(es) != 2 || p.Stats().Invalid != 1 {
		t.Fatalf("stored %d, invalid %d", len(es), p.Stats().Invalid)
	}
	if want := "gas_detector,device=a ch4=2 1700000000000000002"; string(es[1].Line) != want {
		t.Fatalf("line %q, want %q", es[1].Line, want)
	}
	if len(rec.got) != 2 || rec.got[0].Fields[0].F != 1 || rec.got[1].Fields[0].F != 2 {
		t.Fatalf("observer saw %+v, want the two valid points", rec.got)
	}
}

func TestAsyncAcceptCopiesAndCommitsOnStop(t *testing.T) {
	sp := openSpool(t)
	rec := &recorder{}
	p := NewPipeline(sp, PipelineOptions{Linger: 50 * time.Millisecond}, nil, rec)
	ctx, cancel := context.WithCancel(context.Background())
	acc := p.Async()
	buf := []Point{pt("a", 0)}
	// Queued before the committer runs, and it is stopped at once: what
	// is queued must be committed before Run returns, in one transaction.
	for i := range 20 {
		buf[0].Fields[0].F = float64(i) // the caller reuses its point at once
		buf[0].Time = time.Unix(1700000000, int64(i))
		if err := acc.Accept(ctx, buf); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if got := sp.Stats().Count; got != 20 {
		t.Fatalf("spool has %d, want 20", got)
	}
	if c := p.Stats().Commits; c != 1 {
		t.Errorf("%d commits for 20 queued async accepts, want 1", c)
	}
	for i, got := range rec.got {
		if got.Fields[0].F != float64(i) {
			t.Fatalf("observer point %d has value %v: it shares memory with the caller", i, got.Fields[0].F)
		}
	}
	if err := acc.Accept(context.Background(), buf); !errors.Is(err, ErrPipelineClosed) {
		t.Fatalf("async Accept after stop = %v", err)
	}
}

// Polls are committed as soon as they arrive: Linger holds back only
// batches with a caller waiting for its commit. With a minute's Linger,
// a lingering committer would never get there within the test's time.
func TestAsyncAcceptIsNotHeldForLinger(t *testing.T) {
	sp := openSpool(t)
	rec := &recorder{}
	p := NewPipeline(sp, PipelineOptions{Linger: time.Minute}, nil, rec)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runDone := make(chan struct{})
	go func() { p.Run(ctx); close(runDone) }()
	defer func() { cancel(); <-runDone }()
	for i := range 3 {
		if err := p.Async().Accept(ctx, []Point{pt("a", i)}); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 10*time.Second, func() bool { return sp.Stats().Count == int64(i+1) },
			"async point %d committed while nothing else is queued", i)
	}
	testenv.Eventually(t, 10*time.Second, func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return len(rec.got) == 3
	}, "observer saw the 3 points")
}

func TestPipelineAnswersInflightAcceptsOnStop(t *testing.T) {
	sp := openSpool(t)
	p := NewPipeline(sp, PipelineOptions{Queue: 1}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan struct{})
	go func() { p.Run(ctx); close(runDone) }()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 100 {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- p.Accept(context.Background(), []Point{pt("a", i)}) }()
	}
	cancel()
	wg.Wait() // must not hang: every Accept gets an answer
	<-runDone
	close(errs)
	ok := 0
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrPipelineClosed):
		default:
			t.Fatalf("unexpected error %v", err)
		}
	}
	if got := sp.Stats().Count; got != int64(ok) {
		t.Fatalf("spool has %d points, %d Accepts succeeded", got, ok)
	}
}

// fakeSink fails according to its script, then records what it stores.
type fakeSink struct {
	mu     sync.Mutex
	script []error // consumed one per Write; nil = success
	stored []string
	calls  int
}

func (s *fakeSink) Write(_ context.Context, lines [][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if len(s.script) > 0 {
		err := s.script[0]
		s.script = s.script[1:]
		if err != nil {
			return err
		}
	}
	for _, l := range lines {
		s.stored = append(s.stored, string(l))
	}
	return nil
}

func (s *fakeSink) snapshot() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.stored...)
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, cond, "%s", what)
}

func TestForwarderRetriesTransientAndDeadLettersPermanent(t *testing.T) {
	sp := openSpool(t)
	transient := errors.New("connection refused")
	sink := &fakeSink{script: []error{transient, transient, nil, fmt.Errorf("%w: field type conflict", ErrPermanent)}}
	p := NewPipeline(sp, PipelineOptions{}, nil)
	f := NewForwarder(sp, sink, p.Notify(), ForwarderOptions{BatchSize: 10, FlushInterval: time.Millisecond, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.Run(ctx)
	go f.Run(ctx)

	// Batch 1 (10 points): fails twice, then stored.
	var batch []Point
	for i := range 10 {
		batch = append(batch, pt("a", i))
	}
	if err := p.Accept(ctx, batch); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return len(sink.snapshot()) == 10 }, "first batch stored")
	// Batch 2: rejected for good → dead-lettered; batch 3 must not be blocked by it.
	p.Accept(ctx, []Point{pt("bad", 1)})
	waitFor(t, func() bool { return f.Stats().DeadLettered == 1 }, "dead letter")
	p.Accept(ctx, []Point{pt("c", 1)})
	waitFor(t, func() bool { return len(sink.snapshot()) == 11 }, "third batch stored")

	got := sink.snapshot()
	for i := range 10 {
		if !strings.Contains(got[i], fmt.Sprintf("ch4=%d ", i)) {
			t.Fatalf("stored[%d] = %q: out of order", i, got[i])
		}
	}
	if !strings.Contains(got[10], "device=c") {
		t.Fatalf("last stored %q", got[10])
	}
	st := f.Stats()
	if st.Retries != 2 || st.Written != 11 || st.DeadLettered != 1 {
		t.Fatalf("stats %+v", st)
	}
	waitFor(t, func() bool { return sp.Stats().Count == 0 }, "spool empty")
	if sp.Stats().DeadCount != 1 {
		t.Fatalf("dead count %d", sp.Stats().DeadCount)
	}
}

func TestForwarderDrain(t *testing.T) {
	sp := openSpool(t)
	var lines [][]byte
	for i := range 25 {
		p := pt("a", i)
		lines = append(lines, AppendLine(nil, &p))
	}
	sp.Append(lines, time.Now())
	sink := &fakeSink{}
	f := NewForwarder(sp, sink, nil, ForwarderOptions{BatchSize: 10}, nil)
	if err := f.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(sink.snapshot()) != 25 || sink.calls != 3 || sp.Stats().Count != 0 {
		t.Fatalf("stored %d in %d calls, left %d", len(sink.snapshot()), sink.calls, sp.Stats().Count)
	}
	// A failing sink stops Drain with the error and keeps the points.
	sp.Append(lines[:3], time.Now())
	sink.script = []error{errors.New("down")}
	if err := f.Drain(context.Background()); err == nil || sp.Stats().Count != 3 {
		t.Fatalf("drain err %v, left %d", err, sp.Stats().Count)
	}
}

func TestForwarderHonoursRetryAfter(t *testing.T) {
	sp := openSpool(t)
	p := pt("a", 1)
	sp.Append([][]byte{AppendLine(nil, &p)}, time.Now())
	sink := &fakeSink{script: []error{&RetryAfterError{Err: errors.New("429"), After: 300 * time.Millisecond}}}
	f := NewForwarder(sp, sink, nil, ForwarderOptions{FlushInterval: time.Millisecond, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	go f.Run(ctx)
	waitFor(t, func() bool { return len(sink.snapshot()) == 1 }, "stored after retry")
	// Without Retry-After the retry would come after ~1ms; a lower bound is
	// safe to assert on a noisy machine, an upper bound would not be.
	if el := time.Since(start); el < 300*time.Millisecond {
		t.Fatalf("retried after %v, before Retry-After", el)
	}
}

func TestBackoff(t *testing.T) {
	min, max := 500*time.Millisecond, 30*time.Second
	for _, tt := range []struct {
		attempt int
		jitter  float64
		want    time.Duration
	}{
		{1, 0, 500 * time.Millisecond},
		{2, 0, time.Second},
		{3, 0, 2 * time.Second},
		{7, 0, 30 * time.Second},
		{100, 0, 30 * time.Second},
		{1, 0.999999, 375*time.Millisecond + 1},
	} {
		got := Backoff(tt.attempt, min, max, tt.jitter)
		if got < tt.want-time.Microsecond || got > tt.want+time.Microsecond {
			t.Errorf("Backoff(%d, %v) = %v, want %v", tt.attempt, tt.jitter, got, tt.want)
		}
	}
}
