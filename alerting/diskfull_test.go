package alerting

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hazardgw/hazardgw/gateway"
	"github.com/hazardgw/hazardgw/gateway/spool"
	"github.com/hazardgw/hazardgw/internal/testenv"
)

// fillToLastByte fills dir's file system with a file (returned) until it
// refuses even one more byte, as a runaway log file would.
func fillToLastByte(t *testing.T, dir string) string {
	t.Helper()
	filler := filepath.Join(dir, "app.log")
	testenv.FillDisk(t, filler, 0)
	if n := testenv.FreeBytes(t, dir); n != 0 {
		t.Fatalf("%d bytes still free after filling", n)
	}
	return filler
}

// diskSite is an engine wired to a real pipeline and spool in one data
// directory, like the gateway's.
type diskSite struct {
	e            *Engine
	pipe         *gateway.Pipeline
	sp           *spool.Spool
	stopE, stopP context.CancelFunc
	edone, pdone chan error
}

func startDiskSite(t *testing.T, dir string, n Notifier, reserve int64) *diskSite {
	t.Helper()
	sp, err := spool.Open(filepath.Join(dir, "spool.db"), spool.Options{MaxBytes: 1 << 30, SegmentBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	// A value swinging over the red limit and back is notified every time.
	e, err := New(Config{Rules: quietRules, Notify: []NotifyConfig{{Name: "desk"}}, Chatter: Chatter{Count: 100000}}, Options{
		Site: "s", Path: filepath.Join(dir, "alerts.db"), Devices: testDevices, Notifiers: map[string]Notifier{"desk": n}, StoreReserve: reserve,
		RetryDelay: 10 * time.Millisecond, Tick: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Open(); err != nil {
		t.Fatal(err)
	}
	s := &diskSite{e: e, sp: sp, edone: make(chan error, 1), pdone: make(chan error, 1)}
	s.pipe = gateway.NewPipeline(sp, gateway.PipelineOptions{}, nil, e)
	var ectx, pctx context.Context
	ectx, s.stopE = context.WithCancel(context.Background())
	pctx, s.stopP = context.WithCancel(context.Background())
	go func() { s.edone <- e.Run(ectx, s.pipe) }()
	go func() { s.pdone <- s.pipe.Run(pctx) }()
	return s
}

// stop stops the pipeline, then the engine, as the gateway does.
func (s *diskSite) stop(t *testing.T) {
	t.Helper()
	s.stopP()
	<-s.pdone
	s.stopE()
	if err := <-s.edone; err != nil {
		t.Error(err)
	}
	if err := s.sp.Close(); err != nil {
		t.Log(err) // its cursor on the full disk
	}
}

// TestStoreReserveOnFullDisk: with data_dir filled to the last byte by
// another file, a gas reading over the red limit is committed (from the
// alert store's reserve) and delivered exactly once, and so are a hundred
// more transitions, while the `alert` points the spool cannot take wait in
// the alert store without holding anything up. After the space is freed
// and the gateway restarted, nothing is sent again, the alert carries on
// where it was, and the waiting points reach the spool.
func TestStoreReserveOnFullDisk(t *testing.T) {
	dir := testenv.Tmpfs(t, "", "16m")
	rec := &recorder{}
	s := startDiskSite(t, dir, rec, 0)
	s.e.Observe([]gateway.Point{gasPt("GD-101", 10)})
	waitFor(t, 10*time.Second, func() bool { return s.e.Stats().Samples == 1 }, "a normal reading evaluated")

	filler := fillToLastByte(t, dir)
	s.e.mu.Lock()
	held := s.e.st.reserveLeft()
	s.e.mu.Unlock()
	if held < DefaultStoreReserve {
		t.Fatalf("%d bytes reserved when the disk filled, want at least %d", held, DefaultStoreReserve)
	}
	if err := s.pipe.Accept(context.Background(), []gateway.Point{gasPt("GD-102", 1)}); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("the spool on the full disk: %v, want ENOSPC", err)
	}
	s.e.Observe([]gateway.Point{gasPt("GD-101", 60)})
	waitFor(t, 10*time.Second, func() bool { return len(rec.types()) == 1 }, "the red alarm at the desk")
	eq(t, "on the full disk", rec.types(), []string{TypeFiring})

	// How far the reserve carries: a value swinging over the red limit and
	// back, each swing two transitions (resolved, firing again).
	const swings = 50
	for i := range swings {
		s.e.Observe([]gateway.Point{gasPt("GD-101", 0)})
		v := 60.0
		if i == swings-1 {
			v = 55 // the last one stays red
		}
		s.e.Observe([]gateway.Point{gasPt("GD-101", v)})
	}
	defer func() {
		if t.Failed() {
			t.Logf("at the desk: %d; stats %+v", len(rec.types()), s.e.Stats())
		}
	}()
	// (the 51 alarms in a row also raise gateway:alarm-flood: counted apart)
	waitFor(t, 30*time.Second, func() bool { return rec.count("combustible-gas") == 1+2*swings }, "every transition at the desk")
	st := s.e.Stats()
	if st.CommitErrors != 0 {
		t.Errorf("%d alert store commits failed on the full disk", st.CommitErrors)
	}
	rec.mu.Lock()
	for id, n := range rec.seen {
		if n != 1 {
			t.Errorf("%s sent %d times", id, n)
		}
	}
	rec.mu.Unlock()
	s.e.mu.Lock()
	left := s.e.st.reserveLeft()
	_, _, waiting, err := s.e.st.depth()
	s.e.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if waiting != int(st.Transitions) {
		t.Errorf("%d alert points wait in the alert store, want one per transition: %d", waiting, st.Transitions)
	}
	before, err := s.e.Alerts(true)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d transitions committed on a full disk; %d bytes of reserve left (%d kept)", 1+2*swings, left, DefaultStoreReserve)
	s.stop(t)

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	rec2 := &recorder{}
	s2 := startDiskSite(t, dir, rec2, 0)
	defer s2.stop(t)
	after, err := s2.e.Alerts(true)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatalf("%d alerts after restart, %d before", len(after), len(before))
	}
	firing := 0
	for i := range after {
		a, b := after[i], before[i]
		if a.ID != b.ID || a.State != b.State || a.Status != b.Status || a.Value != b.Value || a.Severity != b.Severity {
			t.Errorf("after restart %+v\nbefore %+v", a, b)
		}
		if a.Rule == "combustible-gas" && a.Status == StatusFiring {
			firing++
			if a.Value != 55 || a.Severity != SeverityRed {
				t.Errorf("the firing alert after restart: %+v, want red at 55", a)
			}
		}
	}
	if firing != 1 {
		t.Errorf("%d gas alerts firing after restart, want 1", firing)
	}
	s2.e.Observe([]gateway.Point{gasPt("GD-101", 56)}) // still active: nothing to send
	s2.e.Observe([]gateway.Point{gasPt("GD-101", 0)})
	waitFor(t, 10*time.Second, func() bool { return rec2.count("combustible-gas") == 1 }, "the resolution at the desk")
	eq(t, "after restart", rec2.types(), []string{TypeResolved})
	rec.mu.Lock()
	for _, m := range rec2.got {
		if rec.seen[m.ID] > 0 {
			t.Errorf("%s sent again after restart", m.ID)
		}
	}
	rec.mu.Unlock()
	waitFor(t, 10*time.Second, func() bool {
		s2.e.mu.Lock()
		defer s2.e.mu.Unlock()
		_, _, n, err := s2.e.st.depth()
		return err == nil && n == 0
	}, "the alert points that waited handed to the pipeline")
	if got := s2.pipe.Stats().Accepted; got < int64(waiting)+1 {
		t.Errorf("the pipeline accepted %d points after restart, want the %d alert points that waited and the resolution's", got, waiting+1)
	}
}

// TestRedAlarmSentUncommitted: when the alert store refuses the commit (no
// reserve here, the disk full to the last byte), a red alarm goes to the
// desk anyway, straight from memory, while its record waits; the commit
// succeeds once space is back and leaves the alarm out of the outbox, so
// the desk has it once, and after a restart the alert carries on.
func TestRedAlarmSentUncommitted(t *testing.T) {
	dir := testenv.Tmpfs(t, "", "16m")
	rec := &recorder{}
	s := startDiskSite(t, dir, rec, -1)
	s.e.Observe([]gateway.Point{gasPt("GD-101", 10)})
	waitFor(t, 10*time.Second, func() bool { return s.e.Stats().Samples == 1 }, "a normal reading evaluated")
	filler := fillToLastByte(t, dir)

	s.e.Observe([]gateway.Point{gasPt("GD-101", 60)})
	waitFor(t, 10*time.Second, func() bool { return len(rec.types()) == 1 }, "the red alarm at the desk")
	eq(t, "uncommitted", rec.types(), []string{TypeFiring})
	if s.e.Stats().CommitErrors == 0 {
		t.Fatal("the alert store committed on the full disk: nothing tested")
	}
	committed := func() bool {
		s.e.mu.Lock()
		defer s.e.mu.Unlock()
		return s.e.cs.empty()
	}
	// A retry may already have succeeded: bbolt can rewrite pages the file
	// already holds without a new block. The alarm went out uncommitted all
	// the same (CommitErrors above); what follows must hold either way.
	if committed() {
		t.Log("the alert store's retry committed before space was freed")
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, committed, "the transition committed once space is back")
	s.e.Observe([]gateway.Point{gasPt("GD-101", 0)})
	waitFor(t, 10*time.Second, func() bool { return len(rec.types()) == 2 }, "the resolution at the desk")
	eq(t, "after space is back", rec.types(), []string{TypeFiring, TypeResolved})
	before, err := s.e.Alerts(true)
	if err != nil {
		t.Fatal(err)
	}
	s.stop(t)
	rec.mu.Lock()
	for id, n := range rec.seen {
		if n != 1 {
			t.Errorf("%s sent %d times", id, n)
		}
	}
	rec.mu.Unlock()

	rec2 := &recorder{}
	s2 := startDiskSite(t, dir, rec2, -1)
	defer s2.stop(t)
	after, err := s2.e.Alerts(true)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != 1 || len(before) != 1 || after[0].ID != before[0].ID || after[0].State != StateClearedUnacked || after[0].Status != before[0].Status {
		t.Fatalf("after restart %+v\nbefore %+v", after, before)
	}
	// The cleared alert is activated again: its next notification, not a
	// redelivery, is what the desk gets.
	s2.e.Observe([]gateway.Point{gasPt("GD-101", 60)})
	waitFor(t, 10*time.Second, func() bool { return len(rec2.types()) == 1 }, "the new firing at the desk")
	eq(t, "after restart", rec2.types(), []string{TypeFiring})
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.seen[rec2.got[0].ID] > 0 {
		t.Errorf("%s sent again after restart", rec2.got[0].ID)
	}
}

// TestSchedUnremoved: a notification delivered but not removed from the
// outbox (the store refused the delete) is sent again — the receiver
// dedups on its webhook-id — after one base backoff, not at once and not
// as a failure: the receiver is not taken to be down, and the others go on.
func TestSchedUnremoved(t *testing.T) {
	s := newSched(4, time.Second, budget{})
	for _, o := range []string{"A", "B", "C", "D"} {
		s.start([]string{o})
		s.unremoved([]string{o}, t0)
	}
	if s.down() || s.slots(t0) != 4 || len(s.inflight) != 0 {
		t.Fatalf("down %v slots %d inflight %d: deliveries are not failures", s.down(), s.slots(t0), len(s.inflight))
	}
	if !s.skip("A", t0) || !s.skip("A", t0.Add(999*time.Millisecond)) || s.skip("A", t0.Add(time.Second)) {
		t.Fatal("an unremoved notification is sent again after one base backoff")
	}
	if s.skip("E", t0) {
		t.Fatal("another occurrence waits")
	}
}

// TestStoreReserveShort: a disk too small for the reserve does not stop
// the alert store: it says so once (ERROR), the gauge says 0, alarms are
// committed and sent as usual, and the reserve is taken once there is
// room.
func TestStoreReserveShort(t *testing.T) {
	dir := testenv.Tmpfs(t, "", "8m")
	ballast := filepath.Join(dir, "ballast")
	if err := os.WriteFile(ballast, make([]byte, 6<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs testenv.Buffer
	rec := &recorder{}
	e, err := New(Config{Rules: quietRules, Notify: []NotifyConfig{{Name: "desk"}}}, Options{
		Site: "s", Path: filepath.Join(dir, "alerts.db"), Devices: testDevices, Notifiers: map[string]Notifier{"desk": rec},
		RetryDelay: 10 * time.Millisecond, Tick: 20 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Open(); err != nil {
		t.Fatalf("open with no room for the reserve: %v", err)
	}
	testenv.Go(t, func(ctx context.Context) error { return e.Run(ctx, nil) })
	left := func() int64 {
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.st.reserveLeft()
	}
	if n := left(); n >= DefaultStoreReserve {
		t.Fatalf("%d bytes reserved on a disk without room for them", n)
	}
	if n := testutil.CollectAndCount(e.Collector(), "hazardgw_alert_store_reserve_bytes"); n != 1 {
		t.Errorf("hazardgw_alert_store_reserve_bytes: %d series", n)
	}
	e.Observe([]gateway.Point{gasPt("GD-101", 60)})
	e.Observe([]gateway.Point{gasPt("GD-101", 0)})
	waitFor(t, 10*time.Second, func() bool { return rec.count("combustible-gas") == 2 }, "the alarm and its resolution at the desk")
	if n := strings.Count(logs.String(), "alert store reserve cannot be topped up"); n != 1 {
		t.Errorf("%d log lines about the reserve, want 1:\n%s", n, logs.String())
	}

	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	e.Observe([]gateway.Point{gasPt("GD-101", 60)})
	waitFor(t, 10*time.Second, func() bool { return left() >= DefaultStoreReserve }, "the reserve taken once there is room")
	if !strings.Contains(logs.String(), "alert store reserve restored") {
		t.Errorf("the recovery is not logged:\n%s", logs.String())
	}
}
