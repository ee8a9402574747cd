package spool

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func mustOpen(t testing.TB, path string, opts Options) *Spool {
	t.Helper()
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func readAll(t testing.TB, s *Spool) []Entry {
	t.Helper()
	es, err := s.Read(1 << 30)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func segFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func wantLines(t testing.TB, es []Entry, want []string) {
	t.Helper()
	if len(es) != len(want) {
		t.Fatalf("%d entries, want %d", len(es), len(want))
	}
	for i := range es {
		if string(es[i].Line) != want[i] {
			t.Fatalf("entry %d = %q, want %q", i, es[i].Line, want[i])
		}
		if i > 0 && es[i].Seq <= es[i-1].Seq {
			t.Fatalf("entry %d seq %d after %d", i, es[i].Seq, es[i-1].Seq)
		}
	}
}

func names(prefix string, from, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%04d", prefix, from+i)
	}
	return out
}

// TestRoundTripAcrossSegments appends across many small segments, reads and
// acknowledges in pieces, and checks that fully acknowledged segments are
// deleted and the rest survives a reopen.
func TestRoundTripAcrossSegments(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	s := mustOpen(t, path, Options{SegmentBytes: 4096})
	var all []string
	for b := range 50 {
		ls := lines(fmt.Sprintf("b%02d-", b), 20)
		for _, l := range ls {
			all = append(all, string(l))
		}
		if _, err := s.Append(ls, time.Unix(int64(1000+b), 0)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(segFiles(t, s.Dir())); n < 5 {
		t.Fatalf("only %d segments for %d entries of 4 KiB segments", n, len(all))
	}
	wantLines(t, readAll(t, s), all)
	// Acknowledge 600 in uneven pieces.
	acked := 0
	for acked < 600 {
		es, err := s.Read(1 + acked%97)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(es[len(es)-1].Seq); err != nil {
			t.Fatal(err)
		}
		acked += len(es)
	}
	st := s.Stats()
	if st.Count != int64(len(all)-acked) || st.Bytes != st.Count*(8+entryOverhead) {
		t.Fatalf("stats %+v after %d acked", st, acked)
	}
	if want := time.Unix(int64(1000+acked/20), 0); !st.Oldest.Equal(want) {
		t.Fatalf("oldest %v, want %v", st.Oldest, want)
	}
	wantLines(t, readAll(t, s), all[acked:])
	// Segments wholly before the head are gone: what is left on disk is
	// about the size of what is waiting, plus at most one segment.
	var disk int64
	for _, f := range segFiles(t, s.Dir()) {
		fi, _ := os.Stat(f)
		disk += fi.Size()
	}
	if disk > st.Bytes+4096 {
		t.Fatalf("%d bytes of segments for %d waiting", disk, st.Bytes)
	}
	s.Close()

	s = mustOpen(t, path, Options{SegmentBytes: 4096})
	defer s.Close()
	wantLines(t, readAll(t, s), all[acked:])
	if st2 := s.Stats(); st2.Count != st.Count || st2.Bytes != st.Bytes || !st2.Oldest.Equal(st.Oldest) {
		t.Fatalf("stats after reopen %+v, before %+v", st2, st)
	}
	// Drain it all: one (empty) segment stays, and sequence numbers go on.
	es := readAll(t, s)
	last := es[len(es)-1].Seq
	if err := s.Delete(last); err != nil {
		t.Fatal(err)
	}
	if n := len(segFiles(t, s.Dir())); n != 1 {
		t.Fatalf("%d segments after draining", n)
	}
	s.Append(lines("z", 1), time.Now())
	if es := readAll(t, s); len(es) != 1 || es[0].Seq <= last {
		t.Fatalf("after drain: %+v (last seq was %d)", es, last)
	}
}

// lastSegment returns the newest segment file.
func lastSegment(t testing.TB, dir string) string {
	t.Helper()
	fs := segFiles(t, dir)
	if len(fs) == 0 {
		t.Fatal("no segments")
	}
	return fs[len(fs)-1]
}

func recordOffsets(t testing.TB, path string) []int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var offs []int64
	for off := 0; off < len(b); {
		_, n, err := decodeRecord(b[off:])
		if err != nil {
			t.Fatalf("record at %d: %v", off, err)
		}
		offs = append(offs, int64(off))
		off += n
	}
	return offs
}

// TestTornTailTruncated cuts the last record in half, as a crash during the
// write would: exactly the records before it survive, and the log goes on.
func TestTornTailTruncated(t *testing.T) {
	for _, cut := range []int64{1, 5, 8, 12} {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "spool.db")
			s := mustOpen(t, path, Options{})
			s.Append(lines("a", 10), time.Now())
			s.Append(lines("b", 1), time.Now())
			s.Close()
			seg := lastSegment(t, filepath.Join(filepath.Dir(path), "spool"))
			offs := recordOffsets(t, seg)
			if len(offs) != 11 {
				t.Fatalf("%d records", len(offs))
			}
			if err := os.Truncate(seg, offs[10]+cut); err != nil {
				t.Fatal(err)
			}
			s = mustOpen(t, path, Options{})
			defer s.Close()
			wantLines(t, readAll(t, s), names("a", 0, 10))
			if d := s.Damaged(); len(d) != 0 {
				t.Fatalf("a torn tail reported as damage: %v", d)
			}
			if fi, _ := os.Stat(seg); fi.Size() != offs[10] {
				t.Fatalf("segment %d bytes after open, want %d", fi.Size(), offs[10])
			}
			s.Append(lines("c", 2), time.Now())
			wantLines(t, readAll(t, s), append(names("a", 0, 10), names("c", 0, 2)...))
		})
	}
}

// TestBitFlipTruncatesFromThere flips one bit in record k of the last
// segment: records 0..k-1 survive, nothing from k on is replayed.
func TestBitFlipTruncatesFromThere(t *testing.T) {
	for _, k := range []int{0, 3, 9} {
		for _, where := range []int64{0, 5, 9, 15} { // length, CRC, stamp, line
			t.Run(fmt.Sprintf("record%d/byte%d", k, where), func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "spool.db")
				s := mustOpen(t, path, Options{})
				s.Append(lines("a", 10), time.Now())
				s.Close()
				seg := lastSegment(t, filepath.Join(filepath.Dir(path), "spool"))
				offs := recordOffsets(t, seg)
				b, _ := os.ReadFile(seg)
				b[offs[k]+where] ^= 0x10
				os.WriteFile(seg, b, 0o600)
				s = mustOpen(t, path, Options{})
				defer s.Close()
				wantLines(t, readAll(t, s), names("a", 0, k))
				if st := s.Stats(); st.Count != int64(k) {
					t.Fatalf("count %d", st.Count)
				}
			})
		}
	}
}

// TestDamageInOlderSegmentReported: a bad record before the last segment is
// damage, not a torn tail: the rest of that segment is discarded, later
// segments are kept, and Damaged says so.
func TestDamageInOlderSegmentReported(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	s := mustOpen(t, path, Options{SegmentBytes: 200})
	for b := range 3 {
		s.Append(lines(fmt.Sprintf("s%d-", b), 8), time.Now()) // 168 bytes: one segment each
	}
	dir := s.Dir()
	s.Close()
	segs := segFiles(t, dir)
	if len(segs) != 3 {
		t.Fatalf("%d segments", len(segs))
	}
	offs := recordOffsets(t, segs[1])
	b, _ := os.ReadFile(segs[1])
	b[offs[5]+12] ^= 1
	os.WriteFile(segs[1], b, 0o600)
	s = mustOpen(t, path, Options{SegmentBytes: 200})
	defer s.Close()
	want := append(names("s0-", 0, 8), names("s1-", 0, 5)...)
	wantLines(t, readAll(t, s), append(want, names("s2-", 0, 8)...))
	if d := s.Damaged(); len(d) != 1 || !strings.Contains(d[0], "damaged") {
		t.Fatalf("damaged = %q", d)
	}
}

// TestLostCursorReplaysFromOldest: without the cursor file every entry still
// on disk comes back (at-least-once), none is lost.
func TestLostCursorReplaysFromOldest(t *testing.T) {
	for _, c := range []string{"missing", "garbled"} {
		t.Run(c, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "spool.db")
			s := mustOpen(t, path, Options{SegmentBytes: 4096})
			s.Append(lines("a", 10), time.Now())
			es, _ := s.Read(4)
			s.Delete(es[3].Seq)
			dir := s.Dir()
			s.Close()
			cur := filepath.Join(dir, "cursor")
			if c == "missing" {
				os.Remove(cur)
			} else {
				b, _ := os.ReadFile(cur)
				b[6] ^= 0xff
				os.WriteFile(cur, b, 0o600)
			}
			s = mustOpen(t, path, Options{SegmentBytes: 4096})
			defer s.Close()
			wantLines(t, readAll(t, s), names("a", 0, 10))
		})
	}
}

// TestMaxBytesNeverOvershootsAndCounts: a long run of appends into a small
// spool keeps Bytes within MaxBytes after every append, counts every dropped
// entry exactly, deletes the segments drops empty, and the count survives a reopen.
func TestMaxBytesNeverOvershootsAndCounts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	const max = 16 << 10
	s := mustOpen(t, path, Options{MaxBytes: max})
	per := int64(5 + entryOverhead)
	var appended, dropped int64
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 400 {
		n := 1 + r.IntN(40)
		d, err := s.Append(lines(fmt.Sprintf("%c", 'a'+i%26), n), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		appended += int64(n)
		dropped += int64(d)
		st := s.Stats()
		if st.Bytes > max || st.Bytes != st.Count*per || st.Count != appended-dropped || st.Dropped != dropped {
			t.Fatalf("after append %d: %+v (appended %d, dropped %d)", i, st, appended, dropped)
		}
		if max-st.Bytes >= per*int64(n)+per && d > 0 {
			t.Fatalf("dropped %d but %d bytes of room left", d, max-st.Bytes)
		}
	}
	var disk int64
	for _, f := range segFiles(t, s.Dir()) {
		fi, _ := os.Stat(f)
		disk += fi.Size()
	}
	if seg := s.opts.SegmentBytes; disk > max+seg {
		t.Fatalf("%d bytes of segments on disk for a %d limit (segments of %d)", disk, max, seg)
	}
	count := s.Stats().Count
	es := readAll(t, s)
	s.Close()
	s = mustOpen(t, path, Options{MaxBytes: max})
	defer s.Close()
	if st := s.Stats(); st.Dropped != dropped || st.Count != count {
		t.Fatalf("after reopen %+v, want dropped %d count %d", st, dropped, count)
	}
	es2 := readAll(t, s)
	if len(es2) != len(es) || es2[0].Seq != es[0].Seq {
		t.Fatalf("after reopen %d entries from seq %d, before %d from %d", len(es2), es2[0].Seq, len(es), es[0].Seq)
	}
}

func TestDeadLettersSurviveReopenAndStayBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	per := int64(5 + entryOverhead)
	opts := Options{MaxBytes: 1 << 20, DeadMaxBytes: 10 * per}
	s := mustOpen(t, path, opts)
	s.Append(lines("a", 100), time.Unix(5, 0))
	for range 20 { // 100 dead letters through a 10-entry log: compacts several times
		es, _ := s.Read(5)
		if err := s.DeadLetter(es[4].Seq); err != nil {
			t.Fatal(err)
		}
	}
	st := s.Stats()
	if st.Count != 0 || st.DeadCount != 10 || st.DeadBytes != 10*per || st.DeadDropped != 90 {
		t.Fatalf("stats %+v", st)
	}
	s.Close()
	s = mustOpen(t, path, opts)
	defer s.Close()
	dead, err := s.ReadDead(100)
	if err != nil || len(dead) != 10 {
		t.Fatalf("dead %d %v", len(dead), err)
	}
	for i, e := range dead {
		if want := fmt.Sprintf("a%04d", 90+i); string(e.Line) != want || !e.Accepted.Equal(time.Unix(5, 0)) {
			t.Fatalf("dead %d = %q at %v", i, e.Line, e.Accepted)
		}
	}
	if st := s.Stats(); st.DeadCount != 10 || st.DeadBytes != 10*per {
		t.Fatalf("after reopen %+v", st)
	}
	if m, _ := filepath.Glob(filepath.Join(s.Dir(), "dead-*.log")); len(m) != 1 {
		t.Fatalf("dead-letter files %v", m)
	}
}

func TestSecondOpenerRefused(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, filepath.Join(dir, "spool.db"), Options{})
	_, err := Open(filepath.Join(dir, "spool.db"), Options{})
	want := fmt.Sprintf("data dir %s is in use by another hazardgw process (pid %d)", dir, os.Getpid())
	if err == nil || err.Error() != want {
		t.Fatalf("second open: %v, want %q", err, want)
	}
	s.Close()
	s = mustOpen(t, filepath.Join(dir, "spool.db"), Options{})
	s.Close()
}

// writeBolt writes a spool.db in the layout of the bbolt-based spool.
func writeBolt(t testing.TB, path string, queued, dead []string, dropped int64) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	be := func(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }
	err = db.Update(func(tx *bolt.Tx) error {
		q, _ := tx.CreateBucket([]byte("queue"))
		d, _ := tx.CreateBucket([]byte("dead"))
		m, _ := tx.CreateBucket([]byte("meta"))
		for i, l := range queued {
			seq, _ := q.NextSequence()
			q.Put(be(seq), append(be(uint64(time.Unix(int64(100+i), 0).UnixNano())), l...))
		}
		for i, l := range dead {
			d.Put(be(uint64(1000+i)), append(be(uint64(time.Unix(7, 0).UnixNano())), l...))
		}
		m.Put([]byte("dropped"), be(uint64(dropped)))
		m.Put([]byte("count"), be(uint64(len(queued))))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestMigrateFromBolt(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "spool.db")
	queued := names("q", 0, 3000)
	writeBolt(t, path, queued, []string{"d1", "d2"}, 42)
	s := mustOpen(t, path, Options{})
	es := readAll(t, s)
	wantLines(t, es, queued)
	if !es[0].Accepted.Equal(time.Unix(100, 0)) || !es[2999].Accepted.Equal(time.Unix(3099, 0)) {
		t.Fatalf("accept times %v %v", es[0].Accepted, es[2999].Accepted)
	}
	st := s.Stats()
	if st.Count != 3000 || st.Dropped != 42 || st.DeadCount != 2 || !st.Oldest.Equal(time.Unix(100, 0)) {
		t.Fatalf("stats %+v", st)
	}
	if dead, _ := s.ReadDead(10); len(dead) != 2 || string(dead[1].Line) != "d2" || dead[1].Seq != 1001 {
		t.Fatalf("dead %+v", dead)
	}
	if len(s.Damaged()) != 0 {
		t.Fatalf("damaged %v", s.Damaged())
	}
	s.Close()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("spool.db still there: %v", err)
	}
	if _, err := os.Stat(path + ".migrated"); err != nil {
		t.Fatal(err)
	}
	// Once only: a reopen does not migrate again.
	s = mustOpen(t, path, Options{})
	defer s.Close()
	if st := s.Stats(); st.Count != 3000 {
		t.Fatalf("count after reopen %d", st.Count)
	}
}

// TestDamagedBoltMovedAside: a truncated, zeroed or scribbled-over spool.db
// never panics or faults; it is moved aside, reported, and the spool works.
func TestDamagedBoltMovedAside(t *testing.T) {
	damage := map[string]func(b []byte) []byte{
		"truncated":    func(b []byte) []byte { return b[:len(b)/2] },
		"short":        func(b []byte) []byte { return b[:100] },
		"meta zeroed":  func(b []byte) []byte { clear(b[:8192]); return b },
		"pages zeroed": func(b []byte) []byte { clear(b[8192:]); return b },
		"pages garbage": func(b []byte) []byte {
			r := rand.New(rand.NewPCG(3, 4))
			for i := 8192; i < len(b); i++ {
				b[i] = byte(r.Uint32())
			}
			return b
		},
	}
	for name, f := range damage {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "spool.db")
			writeBolt(t, path, names("q", 0, 2000), nil, 0)
			b, _ := os.ReadFile(path)
			os.WriteFile(path, f(b), 0o600)
			s := mustOpen(t, path, Options{})
			defer s.Close()
			d := s.Damaged()
			if len(d) != 1 || !strings.Contains(d[0], "spool.db.corrupt-") {
				t.Fatalf("damaged = %q", d)
			}
			if m, _ := filepath.Glob(path + ".corrupt-*"); len(m) != 1 {
				t.Fatalf("moved aside: %v", m)
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("spool.db still there: %v", err)
			}
			if _, err := s.Append(lines("n", 1), time.Now()); err != nil {
				t.Fatal(err)
			}
			// Whatever was recovered before the damage was hit comes first.
			es := readAll(t, s)
			if string(es[len(es)-1].Line) != "n0000" {
				t.Fatalf("last entry %q", es[len(es)-1].Line)
			}
		})
	}
}

func TestZeroLengthBoltLogged(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "spool.db")
	os.WriteFile(path, nil, 0o600)
	var logged bytes.Buffer
	s := mustOpen(t, path, Options{Logger: newTestLogger(&logged)})
	defer s.Close()
	if !strings.Contains(logged.String(), "zero-length spool.db") {
		t.Fatalf("log: %s", logged.String())
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("spool.db still there: %v", err)
	}
}

// TestDiskFull fills a 2 MiB tmpfs: the failing Append returns ENOSPC and
// leaves nothing behind, Writable fails, and once space is back Append
// succeeds; every entry whose Append returned nil is there, once, in order.
func TestDiskFull(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=2m"); err != nil {
		t.Fatalf("mount a 2 MiB tmpfs (the test needs root): %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, 256<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "spool.db")
	opts := Options{SegmentBytes: 128 << 10, MaxBytes: 1 << 30}
	s := mustOpen(t, path, opts)
	var ok []string
	var failures int
	line := strings.Repeat("x", 180)
	for i := 0; failures < 3; i++ {
		ls := make([][]byte, 50)
		var ss []string
		for j := range ls {
			ss = append(ss, fmt.Sprintf("%06d-%02d%s", i, j, line))
			ls[j] = []byte(ss[j])
		}
		_, err := s.Append(ls, time.Now())
		if err == nil {
			if failures > 0 {
				t.Fatalf("append %d succeeded after a failure with the disk still full", i)
			}
			ok = append(ok, ss...)
			continue
		}
		if !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("append %d: %v, want ENOSPC", i, err)
		}
		failures++
		if i < 10 {
			t.Fatalf("disk full after only %d appends", i)
		}
	}
	if err := s.Writable(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Writable on a full disk: %v, want an error saying disk full", err)
	}
	if st := s.Stats(); st.Count != int64(len(ok)) {
		t.Fatalf("count %d, appended %d", st.Count, len(ok))
	}
	wantLines(t, readAll(t, s), ok)

	os.Remove(filler)
	if err := s.Writable(); err != nil {
		t.Fatalf("Writable after freeing space: %v", err)
	}
	if _, err := s.Append([][]byte{[]byte("after")}, time.Now()); err != nil {
		t.Fatalf("append after freeing space: %v", err)
	}
	ok = append(ok, "after")
	s.Close()
	s = mustOpen(t, path, opts)
	defer s.Close()
	wantLines(t, readAll(t, s), ok)
	if d := s.Damaged(); len(d) != 0 {
		t.Fatalf("damaged %v", d)
	}
}

// The crash test re-runs this test binary as a child that appends in a loop
// and prints each batch's last index once Append returned; the parent kills
// it with SIGKILL at a random point, several times, and checks after each
// kill that every reported entry is there exactly once, in order.
const crashEnv = "HAZARDGW_SPOOL_CRASH_CHILD"

func TestCrashChild(t *testing.T) {
	spec := os.Getenv(crashEnv)
	if spec == "" {
		return // only meaningful as the child of TestCrashKill9
	}
	path, round, _ := strings.Cut(spec, ",")
	s, err := Open(path, Options{SegmentBytes: 8 << 10})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	out := bufio.NewWriterSize(os.Stdout, 0)
	r := rand.New(rand.NewPCG(uint64(os.Getpid()), 1))
	for i := 0; ; {
		n := 1 + r.IntN(30)
		ls := make([][]byte, n)
		for j := range ls {
			ls[j] = fmt.Appendf(nil, "r%s-%07d", round, i+j)
		}
		if _, err := s.Append(ls, time.Now()); err != nil {
			fmt.Println("append:", err)
			os.Exit(1)
		}
		i += n
		fmt.Fprintf(out, "%d\n", i) // entries 0..i-1 of this round are accepted
		out.Flush()
	}
}

func TestCrashKill9(t *testing.T) {
	if os.Getenv(crashEnv) != "" {
		return
	}
	path := filepath.Join(t.TempDir(), "spool.db")
	r := rand.New(rand.NewPCG(7, 8))
	var carry []string // accepted, not yet acknowledged by the "sink" below
	for round := range 8 {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%d", crashEnv, path, round))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killAfter := 1 + r.IntN(300)
		sc := bufio.NewScanner(stdout)
		accepted, seen := 0, 0
		for sc.Scan() {
			n, err := strconv.Atoi(sc.Text())
			if err != nil {
				t.Fatalf("child: %s", sc.Text())
			}
			accepted = n
			if seen++; seen == killAfter {
				cmd.Process.Signal(syscall.SIGKILL)
			}
		}
		cmd.Wait()
		if seen < killAfter {
			t.Fatalf("round %d: child ended after %d reports", round, seen)
		}

		s := mustOpen(t, path, Options{SegmentBytes: 8 << 10})
		es := readAll(t, s)
		if len(es) < len(carry)+accepted {
			t.Fatalf("round %d: %d entries, want at least %d carried + %d accepted", round, len(es), len(carry), accepted)
		}
		// Carried entries first, then this round's from 0 on without a gap or
		// a repeat (entries past the last report may be there: their Append
		// had written them but not yet returned).
		want := append(append([]string(nil), carry...), names(fmt.Sprintf("r%d-", round), 0, len(es)-len(carry))...)
		for i := range want {
			want[i] = strings.Replace(want[i], fmt.Sprintf("r%d-", round), fmt.Sprintf("r%d-000", round), 1)
		}
		got := make([]string, len(es))
		for i, e := range es {
			got[i] = string(e.Line)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("round %d: entry %d = %q, want %q", round, i, got[i], want[i])
			}
		}
		// Acknowledge a random prefix; the rest carries into the next round.
		k := r.IntN(len(es) + 1)
		if k > 0 {
			if err := s.Delete(es[k-1].Seq); err != nil {
				t.Fatal(err)
			}
		}
		carry = got[k:]
		s.Close()
		t.Logf("round %d: killed after %d reports, %d accepted, %d in spool, %d acknowledged", round, seen, accepted, len(es), k)
	}
}

func newTestLogger(w *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, nil))
}

// FuzzDecodeRecord: the decoder never panics, accepts only what the encoder
// writes, and the streaming reader agrees with it.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(appendRecord(nil, []byte("12345678"), []byte("m,t=a f=1 1")))
	f.Add(appendRecord(appendRecord(nil, []byte("x")), []byte("yz")))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5})
	f.Fuzz(func(t *testing.T, b []byte) {
		var want [][]byte
		for off := 0; off < len(b); {
			p, n, err := decodeRecord(b[off:])
			if err != nil {
				break
			}
			if n != recHeader+len(p) || !bytes.Equal(appendRecord(nil, p), b[off:off+n]) {
				t.Fatalf("decoded %d bytes at %d that do not re-encode", n, off)
			}
			want = append(want, p)
			off += n
		}
		rr := newRecReader(bytes.NewReader(b))
		for i := 0; ; i++ {
			p, err := rr.next()
			if err != nil {
				if i != len(want) {
					t.Fatalf("reader stopped after %d records (%v), decoder read %d", i, err, len(want))
				}
				if err == nil || (i*recHeader > len(b)) {
					t.Fatal("impossible")
				}
				return
			}
			if i >= len(want) || !bytes.Equal(p, want[i]) {
				t.Fatalf("reader record %d = %q, decoder %d records", i, p, len(want))
			}
		}
	})
}

// TestConcurrentAppendReadDelete: producers append while a consumer reads
// and acknowledges, across segment roll-overs and deletions; every entry is
// consumed exactly once, each producer's in order.
func TestConcurrentAppendReadDelete(t *testing.T) {
	s := mustOpen(t, filepath.Join(t.TempDir(), "spool.db"), Options{SegmentBytes: 2048, NoSync: true})
	defer s.Close()
	const producers, per = 4, 2000
	errs := make(chan error, producers)
	for p := range producers {
		go func() {
			for i := 0; i < per; i += 10 {
				ls := make([][]byte, 10)
				for j := range ls {
					ls[j] = fmt.Appendf(nil, "%d-%06d", p, i+j)
				}
				if _, err := s.Append(ls, time.Now()); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	next := make([]int, producers)
	got, done := 0, 0
	for got < producers*per {
		es, err := s.Read(1 + got%300)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			var p, i int
			if _, err := fmt.Sscanf(string(e.Line), "%d-%d", &p, &i); err != nil || i != next[p] {
				t.Fatalf("entry %q, want producer %d at %d", e.Line, p, next[p])
			}
			next[p]++
		}
		got += len(es)
		if len(es) > 0 {
			if err := s.Delete(es[len(es)-1].Seq); err != nil {
				t.Fatal(err)
			}
		}
		for done < producers && len(es) == 0 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
			done++
		}
	}
	if st := s.Stats(); st.Count != 0 || st.Bytes != 0 || !st.Oldest.IsZero() {
		t.Fatalf("stats %+v", st)
	}
	if n := len(segFiles(t, s.Dir())); n != 1 {
		t.Fatalf("%d segments left", n)
	}
}

// TestMemoryIndependentOfBacklog: opening a spool with a 48 MiB backlog and
// reading a batch from it allocates about a batch, not the backlog.
func TestMemoryIndependentOfBacklog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	s := mustOpen(t, path, Options{NoSync: true})
	line := bytes.Repeat([]byte("x"), 1000)
	batch := make([][]byte, 1000)
	for i := range batch {
		batch[i] = line
	}
	for range 48 {
		if _, err := s.Append(batch, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s = mustOpen(t, path, Options{NoSync: true})
	defer s.Close()
	es, err := s.Read(1000)
	if err != nil || len(es) != 1000 {
		t.Fatal(len(es), err)
	}
	runtime.ReadMemStats(&after)
	if st := s.Stats(); st.Count != 48000 {
		t.Fatalf("count %d", st.Count)
	}
	// A batch of 1000 lines is 1 MB; bufio buffers are 64 KiB each.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
		t.Fatalf("open and one read allocated %d bytes for a 48 MiB backlog", alloc)
	}
}

// TestMinFreeKeepsRoom: with MinFree, appends fail with ENOSPC while that
// much is still free — room for the cursor, so acknowledging and deleting
// segments keeps working — and succeed again once the backlog drains.
func TestMinFreeKeepsRoom(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=2m"); err != nil {
		t.Fatalf("mount a 2 MiB tmpfs (the test needs root): %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	const minFree = 1 << 20
	s := mustOpen(t, filepath.Join(dir, "spool.db"), Options{SegmentBytes: 64 << 10, MaxBytes: 1 << 30, MinFree: minFree})
	defer s.Close()
	line := []byte(strings.Repeat("x", 200))
	batch := make([][]byte, 100)
	for i := range batch {
		batch[i] = line
	}
	var err error
	for i := 0; err == nil; i++ {
		_, err = s.Append(batch, time.Now())
		if i > 1000 {
			t.Fatal("no refusal")
		}
	}
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "kept free") {
		t.Fatalf("append beyond the reserve: %v, want ENOSPC naming the reserve", err)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if free := int64(st.Bavail) * int64(st.Bsize); free < minFree-int64(len(line)*len(batch)) {
		t.Fatalf("%d bytes free after the refusal, want about %d kept", free, minFree)
	}
	if err := s.Writable(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Writable below the reserve: %v", err)
	}
	// The sink takes the backlog: the cursor is written, segments go.
	es := readAll(t, s)
	if err := s.Delete(es[len(es)-1].Seq); err != nil {
		t.Fatalf("acknowledge with the disk at its reserve: %v", err)
	}
	if _, err := s.Append(batch, time.Now()); err != nil {
		t.Fatalf("append after the backlog drained: %v", err)
	}
	if err := s.Writable(); err != nil {
		t.Fatalf("Writable after the backlog drained: %v", err)
	}
}

// TestAppendLooksAtFreeSpaceWhenItCouldMatter: with MinFree, an append
// looks at the file system (statfs) only when the last look is stale or
// what was free then, less what has been appended since, comes near the
// reserve; there, every append looks and is refused below it.
func TestAppendLooksAtFreeSpaceWhenItCouldMatter(t *testing.T) {
	const minFree = 1 << 20
	s := mustOpen(t, filepath.Join(t.TempDir(), "spool.db"), Options{MinFree: minFree, NoSync: true})
	defer s.Close()
	now := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }
	free, looks := int64(10*minFree), 0
	s.statfs = func(string) (int64, error) { looks++; return free, nil }
	line := []byte(strings.Repeat("x", 1000))
	batch := make([][]byte, 100) // about 100 KiB framed
	for i := range batch {
		batch[i] = line
	}
	cases := []struct {
		name      string
		advance   time.Duration
		free      int64 // what the file system reports from now on
		wantLooks int   // looks so far
		refused   bool
	}{
		{name: "first append looks", free: 10 * minFree, wantLooks: 1},
		{name: "well clear, fresh: no look", free: 10 * minFree, wantLooks: 1},
		{name: "another, still clear", free: 10 * minFree, wantLooks: 1},
		{name: "last look stale: looks", advance: freeCheckEvery, free: 10 * minFree, wantLooks: 2},
		{name: "fresh again: no look, though others filled the disk", advance: time.Millisecond, free: minFree / 2, wantLooks: 2},
		{name: "stale: looks, below the reserve: refused", advance: freeCheckEvery, free: minFree / 2, wantLooks: 3, refused: true},
		{name: "near the reserve every append looks", free: minFree / 2, wantLooks: 4, refused: true},
		{name: "room again", free: 2*minFree + 150<<10, wantLooks: 5},
		{name: "within twice the reserve once appended: looks", free: 2*minFree + 150<<10, wantLooks: 6},
	}
	for _, c := range cases {
		now = now.Add(c.advance)
		free = c.free
		_, err := s.Append(batch, now)
		if c.refused != (err != nil) {
			t.Fatalf("%s: append error %v, want refused %v", c.name, err, c.refused)
		}
		if err != nil && !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("%s: %v, want ENOSPC", c.name, err)
		}
		if looks != c.wantLooks {
			t.Fatalf("%s: %d looks at the file system, want %d", c.name, looks, c.wantLooks)
		}
	}
	// Writable is a probe: it always looks.
	before := looks
	if err := s.Writable(); err != nil {
		t.Fatal(err)
	}
	if looks != before+1 {
		t.Fatalf("Writable looked %d times, want 1", looks-before)
	}
}
