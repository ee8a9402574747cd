package spool

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

func open(t testing.TB, opts Options) (*Spool, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "spool.db")
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func lines(prefix string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, "%s%04d", prefix, i)
	}
	return out
}

func TestAppendReadDelete(t *testing.T) {
	s, _ := open(t, Options{})
	now := time.Unix(1700000000, 0)
	if _, err := s.Append(lines("a", 10), now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(lines("b", 5), now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.Count != 15 || !st.Oldest.Equal(now) {
		t.Fatalf("stats = %+v", st)
	}
	es, err := s.Read(12)
	if err != nil || len(es) != 12 {
		t.Fatalf("read: %d %v", len(es), err)
	}
	for i, e := range es[:10] {
		if want := fmt.Sprintf("a%04d", i); string(e.Line) != want || !e.Accepted.Equal(now) {
			t.Fatalf("entry %d = %q at %v, want %q", i, e.Line, e.Accepted, want)
		}
	}
	if string(es[11].Line) != "b0001" {
		t.Fatalf("entry 11 = %q", es[11].Line)
	}
	if err := s.Delete(es[9].Seq); err != nil {
		t.Fatal(err)
	}
	st = s.Stats()
	if st.Count != 5 || !st.Oldest.Equal(now.Add(time.Second)) || st.Bytes != 5*(5+entryOverhead) {
		t.Fatalf("after delete stats = %+v", st)
	}
	es, _ = s.Read(100)
	if len(es) != 5 || string(es[0].Line) != "b0000" {
		t.Fatalf("after delete read %d, first %q", len(es), es[0].Line)
	}
}

func TestReopenKeepsEntriesAndCounters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Append(lines("x", 100), time.Now())
	es, _ := s.Read(30)
	s.Delete(es[29].Seq)
	s.Close()

	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if st := s.Stats(); st.Count != 70 {
		t.Fatalf("count after reopen = %d, want 70", st.Count)
	}
	es, _ = s.Read(1000)
	if len(es) != 70 || string(es[0].Line) != "x0030" || string(es[69].Line) != "x0099" {
		t.Fatalf("after reopen: %d entries, first %q", len(es), es[0].Line)
	}
	// Sequence numbers keep increasing across reopen.
	s.Append(lines("y", 1), time.Now())
	es2, _ := s.Read(1000)
	if last := es2[len(es2)-1]; last.Seq <= es[69].Seq || string(last.Line) != "y0000" {
		t.Fatalf("new entry seq %d after %d", last.Seq, es[69].Seq)
	}
}

func TestFullSpoolDropsOldest(t *testing.T) {
	per := int64(5 + entryOverhead)
	s, _ := open(t, Options{MaxBytes: 10 * per})
	s.Append(lines("a", 8), time.Now())
	dropped, err := s.Append(lines("b", 5), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if dropped != 3 {
		t.Fatalf("dropped %d, want 3", dropped)
	}
	es, _ := s.Read(100)
	if len(es) != 10 || string(es[0].Line) != "a0003" || string(es[9].Line) != "b0004" {
		t.Fatalf("got %d entries from %q", len(es), es[0].Line)
	}
	if st := s.Stats(); st.Dropped != 3 || st.Bytes != 10*per {
		t.Fatalf("stats %+v", st)
	}
}

func TestBatchLargerThanRoomDropsItsOldest(t *testing.T) {
	per := int64(5 + entryOverhead)
	s, _ := open(t, Options{MaxBytes: 10 * per})
	dropped, err := s.Append(lines("a", 13), time.Now())
	if err != nil || dropped != 3 {
		t.Fatalf("dropped %d, err %v; want 3", dropped, err)
	}
	es, _ := s.Read(100)
	if len(es) != 10 || string(es[0].Line) != "a0003" {
		t.Fatalf("kept %d from %q", len(es), es[0].Line)
	}
	if st := s.Stats(); st.Bytes != 10*per || st.Count != 10 || st.Dropped != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestDeadLetter(t *testing.T) {
	s, _ := open(t, Options{MaxBytes: 1 << 20, DeadMaxBytes: 3 * (5 + entryOverhead)})
	s.Append(lines("a", 5), time.Now())
	es, _ := s.Read(2)
	if err := s.DeadLetter(es[1].Seq); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Count != 3 || st.DeadCount != 2 {
		t.Fatalf("stats %+v", st)
	}
	es, _ = s.Read(2)
	s.DeadLetter(es[1].Seq) // 4 dead > limit of 3: oldest dead letter dropped
	dead, _ := s.ReadDead(10)
	if len(dead) != 3 || string(dead[0].Line) != "a0001" {
		t.Fatalf("dead = %d, first %q", len(dead), dead[0].Line)
	}
	if st := s.Stats(); st.DeadDropped != 1 || st.Count != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func BenchmarkAppend(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			s, _ := open(b, Options{MaxBytes: 1 << 40})
			ls := make([][]byte, n)
			for i := range ls {
				ls[i] = []byte("fire_detection,camera=CAM-07,site=qz-petro-01,type=smoke confidence=0.87,bearing_deg=132.5 1700000000123456789")
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Append(ls, time.Now()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "points/s")
		})
	}
}

func BenchmarkDrain(b *testing.B) {
	s, _ := open(b, Options{MaxBytes: 1 << 40})
	line := []byte("gas_detector,device=GD-101,site=qz ch4=12.5,h2s=3.1 1700000000123456789")
	batch := make([][]byte, 5000)
	for i := range batch {
		batch[i] = line
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Append(batch, time.Now()); err != nil {
			b.Fatal(err)
		}
		es, err := s.Read(5000)
		if err != nil || len(es) != 5000 {
			b.Fatal(err)
		}
		if err := s.Delete(es[len(es)-1].Seq); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(5000*float64(b.N)/b.Elapsed().Seconds(), "points/s")
}

// TestReadIntoReusesAndBounds: ReadInto fills the caller's arrays (reused
// when large enough), stops at max entries or before maxBytes of lines
// (one entry at least), and reads what Read reads.
func TestReadIntoReusesAndBounds(t *testing.T) {
	s, _ := open(t, Options{})
	if _, err := s.Append(lines("a", 10), time.Unix(1700000000, 0)); err != nil {
		t.Fatal(err)
	}
	es, buf, err := s.ReadInto(nil, nil, 4, 0)
	if err != nil || len(es) != 4 || string(es[3].Line) != "a0003" {
		t.Fatalf("read 4: %d entries, %v", len(es), err)
	}
	es2, buf2, err := s.ReadInto(es, buf, 100, 12) // lines are 5 bytes: two fit in 12
	if err != nil || len(es2) != 2 || string(es2[0].Line) != "a0000" || string(es2[1].Line) != "a0001" {
		t.Fatalf("read 12 bytes: %d entries, %v", len(es2), err)
	}
	if &es2[0] != &es[0] || &buf2[0] != &buf[0] {
		t.Error("arrays not reused")
	}
	if es3, _, err := s.ReadInto(nil, nil, 100, 1); err != nil || len(es3) != 1 {
		t.Fatalf("maxBytes below one line: %d entries, %v; want the one", len(es3), err)
	}
	all, err := s.Read(100)
	if err != nil || len(all) != 10 {
		t.Fatalf("read: %d, %v", len(all), err)
	}
}
