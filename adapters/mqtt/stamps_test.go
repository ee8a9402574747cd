package mqtt

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hazardgw/hazardgw/gateway"
	"github.com/hazardgw/hazardgw/internal/testenv"
)

func TestStampsRememberAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), StampsFile)
	st, err := openStamps(path)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	k1, k2 := stampKey("a/b", []byte(`{"x":1}`)), stampKey("a/b", []byte(`{"x":2}`))
	if err := st.record([]stampEntry{{k1, t0}, {k2, t0.Add(time.Nanosecond)}}); err != nil {
		t.Fatal(err)
	}
	// A later identical payload: the latest stamp wins.
	if err := st.record([]stampEntry{{k1, t0.Add(time.Second)}}); err != nil {
		t.Fatal(err)
	}
	st.close()
	st, err = openStamps(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	for _, c := range []struct {
		key  uint64
		want time.Time
	}{{k1, t0.Add(time.Second)}, {k2, t0.Add(time.Nanosecond)}} {
		got, ok := st.lookup(c.key)
		if !ok || !got.Equal(c.want) {
			t.Errorf("key %x: %v %v, want %v", c.key, got, ok, c.want)
		}
	}
	if _, ok := st.lookup(stampKey("a/b", []byte(`{"x":3}`))); ok {
		t.Error("an unknown payload has a stamp")
	}
	if stampKey("a/b", []byte("c")) == stampKey("a/", []byte("bc")) {
		t.Error("topic and payload are not separated in the key")
	}
}

// TestStampsBounded: the table keeps the last stampSlots stamps, in memory
// and on disk; older ones are forgotten.
func TestStampsBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), StampsFile)
	st, err := openStamps(path)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	const extra = 1000
	batch := make([]stampEntry, 0, 4096)
	for i := range stampSlots + extra {
		batch = append(batch, stampEntry{key: uint64(i + 1), at: t0.Add(time.Duration(i))})
		if len(batch) == cap(batch) || i == stampSlots+extra-1 {
			if err := st.record(batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if n := len(st.byKey); n != stampSlots {
		t.Errorf("%d stamps in memory, want %d", n, stampSlots)
	}
	st.close()
	if fi, err := os.Stat(path); err != nil || fi.Size() != stampSlots*stampSlotSize {
		t.Fatalf("stamps file: %v %v, want %d bytes", fi.Size(), err, stampSlots*stampSlotSize)
	}
	st, err = openStamps(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	if n := len(st.byKey); n != stampSlots {
		t.Errorf("%d stamps after reopening, want %d", n, stampSlots)
	}
	for _, i := range []int{0, extra - 1} {
		if _, ok := st.lookup(uint64(i + 1)); ok {
			t.Errorf("stamp %d still remembered", i)
		}
	}
	for _, i := range []int{extra, stampSlots + extra - 1} {
		if got, ok := st.lookup(uint64(i + 1)); !ok || !got.Equal(t0.Add(time.Duration(i))) {
			t.Errorf("stamp %d: %v %v", i, got, ok)
		}
	}
	// New stamps continue the sequence after a reopen (they overwrite the oldest).
	if err := st.record([]stampEntry{{key: 999_999, at: t0}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := st.lookup(uint64(extra + 1)); ok {
		t.Error("the oldest stamp survived a new one after reopening")
	}
}

// TestStampsTornSlotIgnored: a slot whose CRC fails (a torn write) is
// ignored; the others load.
func TestStampsTornSlotIgnored(t *testing.T) {
	path := filepath.Join(t.TempDir(), StampsFile)
	st, err := openStamps(path)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	if err := st.record([]stampEntry{{1, t0}, {2, t0}, {3, t0}}); err != nil {
		t.Fatal(err)
	}
	st.close()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0xde, 0xad}, stampSlotSize+10); err != nil {
		t.Fatal(err)
	}
	f.Close()
	st, err = openStamps(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	_, ok1 := st.lookup(1)
	_, ok2 := st.lookup(2)
	_, ok3 := st.lookup(3)
	if !ok1 || ok2 || !ok3 {
		t.Errorf("after a torn slot 2: %v %v %v, want true false true", ok1, ok2, ok3)
	}
}

// TestRedeliveryWithoutTSGetsFirstTime: a message without ts stored at
// arrival and then delivered again (DUP) — after a crash between the
// commit and the PUBACK — is stored at the same time, so InfluxDB keeps one
// point; an identical payload published again (no DUP, e.g. a heartbeat)
// is a new point; a DUP of a payload never seen gets its arrival time.
func TestRedeliveryWithoutTSGetsFirstTime(t *testing.T) {
	s, clk := newTestSource(t, nil, nil)
	s.stamps.close()
	var err error
	if s.stamps, err = openStamps(filepath.Join(t.TempDir(), StampsFile)); err != nil {
		t.Fatal(err)
	}
	defer s.stamps.close()
	msg := func(id string, dup bool) *fakeMsg {
		return &fakeMsg{qos: 1, dup: dup, topic: "site/qz/camera/CAM-01/event",
			payload: []byte(`{"event_id":"` + id + `","type":"smoke","confidence":0.5}`)}
	}
	times := func(r *recorder) []string {
		var out []string
		for _, l := range r.take() {
			if strings.HasPrefix(l, gateway.MeasurementDeviceStatus) {
				continue
			}
			out = append(out, l[strings.LastIndexByte(l, ' ')+1:])
		}
		return out
	}
	r := &recorder{}
	runBatch(s, r, msg("E1", false), msg("E2", false))
	first := times(r)
	if len(first) != 2 {
		t.Fatalf("first delivery: %v", first)
	}
	clk.Add(5 * time.Second)
	runBatch(s, r, msg("E2", true), msg("E1", true), msg("E3", true), msg("E1", false))
	got := times(r)
	if len(got) != 4 {
		t.Fatalf("second delivery: %v", got)
	}
	if got[0] != first[1] || got[1] != first[0] {
		t.Errorf("redeliveries stored at %v, first copies at %v", got[:2], first)
	}
	if got[2] == first[0] || got[2] == first[1] || got[3] == first[0] || got[3] == first[1] || got[2] == got[3] {
		t.Errorf("new messages reuse a time: %v (first copies %v)", got[2:], first)
	}
	// A heartbeat-like identical payload arriving again is a new point, and
	// its redelivery gets the latest time of that payload.
	clk.Add(5 * time.Second)
	runBatch(s, r, msg("E1", true))
	if again := times(r); len(again) != 1 || again[0] != got[3] {
		t.Errorf("redelivery of the latest identical payload at %v, want %v", again, got[3])
	}
	if n := testutil.ToFloat64(s.met.restamped); n != 3 {
		t.Errorf("restamped %v, want 3", n)
	}
}

// TestStampsRecordedBeforeCommit: when recording the stamps fails (a full
// disk), nothing is committed and the batch is retried; the message is
// acknowledged only after both succeeded.
func TestStampsRecordedBeforeCommit(t *testing.T) {
	s, _ := newTestSource(t, nil, nil)
	dir := t.TempDir()
	var err error
	if s.stamps, err = openStamps(filepath.Join(dir, StampsFile)); err != nil {
		t.Fatal(err)
	}
	good := s.stamps.f
	bad, err := os.Open(filepath.Join(dir, StampsFile)) // read-only: writes fail
	if err != nil {
		t.Fatal(err)
	}
	s.stamps.f = bad
	var calls atomic.Int32
	acc := gateway.AcceptFunc(func(ctx context.Context, p []gateway.Point) error {
		calls.Add(1)
		return nil
	})
	m := &fakeMsg{qos: 1, topic: "site/qz/camera/CAM-01/event", payload: []byte(`{"type":"smoke","confidence":0.5}`)}
	done := make(chan struct{})
	go func() { runBatch(s, acc, m); close(done) }()
	testenv.Eventually(t, 10*time.Second, func() bool { return testutil.ToFloat64(s.met.acceptRetries) >= 1 }, "a retry")
	s.stamps.mu.Lock()
	if calls.Load() != 0 || m.acked.Load() != 0 {
		t.Errorf("with the stamps unwritable: %d commits, %d acks", calls.Load(), m.acked.Load())
	}
	s.stamps.f = good
	s.stamps.mu.Unlock()
	<-done
	bad.Close()
	if calls.Load() != 1 || m.acked.Load() != 1 {
		t.Errorf("after the stamps file is writable: %d commits, %d acks", calls.Load(), m.acked.Load())
	}
}

// TestArrivalTimesNeverRepeat: workers decoding batches at the same instant
// get disjoint ranges of arrival time.
func TestArrivalTimesNeverRepeat(t *testing.T) {
	s, clk := newTestSource(t, nil, nil)
	now := clk.Now()
	var mu sync.Mutex
	seen := map[int64]bool{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				first := s.arrivals(now, 5)
				mu.Lock()
				for i := range int64(5) {
					ns := first.UnixNano() + i
					if seen[ns] {
						t.Errorf("arrival time %d handed out twice", ns)
					}
					seen[ns] = true
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != 8*100*5 {
		t.Errorf("%d distinct arrival times, want %d", len(seen), 8*100*5)
	}
}

// FuzzStampsFile: whatever the stamps file holds (damage, another file),
// opening it never panics, loads at most stampSlots stamps, and the table
// works after it.
func FuzzStampsFile(f *testing.F) {
	seed := filepath.Join(f.TempDir(), StampsFile)
	st, err := openStamps(seed)
	if err != nil {
		f.Fatal(err)
	}
	if err := st.record([]stampEntry{{1, time.Unix(1, 0)}, {2, time.Unix(2, 0)}}); err != nil {
		f.Fatal(err)
	}
	st.close()
	good, err := os.ReadFile(seed)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte("not a stamps file"))
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(t.TempDir(), StampsFile)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		st, err := openStamps(path)
		if err != nil {
			t.Fatal(err)
		}
		defer st.close()
		if len(st.byKey) > stampSlots {
			t.Fatalf("%d stamps loaded", len(st.byKey))
		}
		at := time.Unix(0, 42)
		if err := st.record([]stampEntry{{key: 7, at: at}}); err != nil {
			t.Fatal(err)
		}
		if got, ok := st.lookup(7); !ok || !got.Equal(at) {
			t.Fatalf("lookup after record: %v %v", got, ok)
		}
	})
}
