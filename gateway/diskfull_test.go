package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/gateway/spool"
	"github.com/hazardgw/hazardgw/internal/testenv"
)

// fullDisk mounts a 2 MiB tmpfs and returns it with a function that fills
// it up (a file taking every free byte) and one that frees the space.
func fullDisk(t *testing.T) (dir string, fill, free func()) {
	t.Helper()
	dir = testenv.Tmpfs(t, "", "2m")
	filler := filepath.Join(dir, "filler")
	fill = func() { testenv.FillDisk(t, filler, 0) }
	free = func() {
		if err := os.Remove(filler); err != nil {
			t.Fatal(err)
		}
	}
	return dir, fill, free
}

// spoolIn opens a spool of 64 KiB segments in dir that keeps minFree
// bytes free; it is closed when the test ends.
func spoolIn(t *testing.T, dir string, minFree int64) *spool.Spool {
	t.Helper()
	sp, err := spool.Open(filepath.Join(dir, "spool.db"), spool.Options{SegmentBytes: 64 << 10, MinFree: minFree})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	return sp
}

// TestPipelineDiskFull: on a full disk the polled (async) points are lost
// and counted, a synchronous Accept fails and counts nothing lost (its
// caller keeps the points), the lost polls are still observed (so that
// they still raise alarms), the failure is logged once rather than per
// commit, Unstored still reaches the observers, and once space is back
// commits succeed and the recovery is logged with the number of failures
// not logged.
func TestPipelineDiskFull(t *testing.T) {
	dir, fill, free := fullDisk(t)
	sp := spoolIn(t, dir, 0)
	logs := &testenv.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	clk := testenv.NewClock(time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC))
	rec := &recorder{}
	p := NewPipeline(sp, PipelineOptions{Now: clk.Now, Linger: -1}, logger, rec)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()

	fill() // before the first write: not a byte of a page left for the segment
	async := p.Async()
	const polls, per = 200, 10
	for i := range polls {
		batch := make([]Point, per)
		for j := range batch {
			batch[j] = pt("D1", i*per+j)
		}
		if err := async.Accept(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	err := p.Accept(ctx, []Point{pt("D2", 1)})
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Accept on a full disk: %v, want ENOSPC", err)
	}
	st := p.Stats()
	if st.Lost != polls*per || st.Accepted != 0 || st.CommitErr == 0 {
		t.Fatalf("stats on a full disk %+v, want %d lost", st, polls*per)
	}
	if n := strings.Count(logs.String(), "commit to spool failed"); n != 1 {
		t.Errorf("%d log lines for %d failed commits, want 1:\n%s", n, st.CommitErr, logs.String())
	}
	if err := sp.Writable(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Writable on a full disk: %v", err)
	}
	// A health report that could not be stored still reaches the observers.
	report := Point{Measurement: MeasurementGateway, Tags: []Tag{{TagDevice, GatewayDevice}}, Fields: []Field{Float(FieldSpoolDropped, 7)}, Time: clk.Now()}
	if err := p.Unstored(ctx, []Point{report}); err != nil {
		t.Fatal(err)
	}
	if err := p.Accept(ctx, []Point{pt("D2", 2)}); err == nil { // in order after Unstored
		t.Fatal("Accept succeeded on a full disk")
	}
	// The lost polls still reach the observers (alerting), in order, and
	// the synchronous Accepts' points do not: their callers offer them again.
	rec.mu.Lock()
	seen := slices.Clone(rec.got)
	rec.mu.Unlock()
	if len(seen) != polls*per+1 || seen[len(seen)-1].Measurement != MeasurementGateway {
		t.Fatalf("observers saw %d points, the last %+v; want the %d lost polled points and the unstored report", len(seen), seen[len(seen)-1], polls*per)
	}
	for i, p := range seen[:polls*per] {
		if p.Tags[0].Value != "D1" || p.Fields[0].F != float64(i) {
			t.Fatalf("observed point %d: %+v, want D1 %d", i, p, i)
		}
	}

	free()
	if err := p.Accept(ctx, []Point{pt("D2", 3)}); err != nil {
		t.Fatalf("Accept after freeing space: %v", err)
	}
	if err := sp.Writable(); err != nil {
		t.Errorf("Writable after freeing space: %v", err)
	}
	if got := sp.Stats().Count; got != 1 {
		t.Errorf("spool holds %d points, want 1", got)
	}
	if !strings.Contains(logs.String(), "spool commits again") {
		t.Errorf("no recovery line:\n%s", logs.String())
	}
	if n := strings.Count(logs.String(), "\n"); n != 2 {
		t.Errorf("%d log lines, want 2 (the failure, the recovery):\n%s", n, logs.String())
	}
}

// TestSelfMonitorCountsUnstoredReports: a report the spool cannot take is
// counted as lost in spool_dropped (with the polled points lost) and shown
// to the observers through Unstored.
func TestSelfMonitorCountsUnstoredReports(t *testing.T) {
	dir, fill, free := fullDisk(t)
	sp := spoolIn(t, dir, 0)
	rec := &recorder{}
	p := NewPipeline(sp, PipelineOptions{Linger: -1}, nil, rec)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { done <- p.Run(ctx) }()
	fill()
	if err := p.Async().Accept(ctx, []Point{pt("D1", 1), pt("D1", 2), pt("D1", 3)}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return p.Stats().Lost == 3 }, "3 polled points lost")
	mon := &SelfMonitor{Site: "s", Interval: 10 * time.Millisecond, Spool: sp, Lost: func() int64 { return p.Stats().Lost }}
	monCtx, stopMon := context.WithCancel(ctx)
	go func() { done <- mon.Run(monCtx, p) }()
	dropped := func() []float64 {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		var out []float64
		for _, pt := range rec.got {
			if f, ok := pt.Field(FieldSpoolDropped); ok && pt.Measurement == MeasurementGateway {
				out = append(out, f.F)
			}
		}
		return out
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return len(dropped()) >= 2 }, "two unstored reports observed")
	stopMon()
	<-done
	d := dropped()
	// The lost points were lost before the monitor started: its first
	// report counts itself, the second both unstored reports.
	if d[0] != 1 || d[1] != 2 {
		t.Errorf("spool_dropped of the unstored reports %v, want 1 then 2", d)
	}
	free()
	cancel()
	<-done
	if sp.Stats().Count != 0 {
		t.Errorf("an unstored report was stored")
	}
}

// TestPipelineBelowReserveLogsOnce: below the spool's MinFree reserve
// every refusal says how many bytes are free, a number that changes as
// other files grow; the failure is still logged once, not per commit.
func TestPipelineBelowReserveLogsOnce(t *testing.T) {
	dir, _, _ := fullDisk(t) // a 2 MiB tmpfs, not filled
	sp := spoolIn(t, dir, 4<<20)
	logs := &testenv.Buffer{}
	clk := testenv.NewClock(time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC))
	p := NewPipeline(sp, PipelineOptions{Now: clk.Now, Linger: -1}, slog.New(slog.NewTextHandler(logs, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()
	var texts []string
	for i := range 20 {
		err := p.Accept(ctx, []Point{pt("D1", i)})
		if !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("Accept below the reserve: %v", err)
		}
		texts = append(texts, err.Error())
		// Another file takes a page: the number of free bytes changes.
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprint("other-", i)), make([]byte, 4096), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if texts[0] == texts[len(texts)-1] {
		t.Fatalf("the refusals all read %q; the test wants them to differ", texts[0])
	}
	if n := strings.Count(logs.String(), "commit to spool failed"); n != 1 {
		t.Errorf("%d log lines for 20 refused commits, want 1:\n%s", n, logs.String())
	}
}
