// Package spool is the gateway's durable queue: every accepted point is
// appended to an append-only segment log, with one write and one fdatasync
// per batch, before it counts as accepted; the forwarder reads the oldest
// entries and acknowledges them only after the sink has stored them.
//
// Entries are opaque byte strings (InfluxDB line protocol, one point each)
// with a sequence number and the time they were accepted. On disk, for a
// spool opened as DIR/spool.db:
//
//	DIR/spool/<first seq>.seg  segments: records framed as length + CRC-32C,
//	                           rolled over at Options.SegmentBytes (8 MiB)
//	DIR/spool/cursor           the first unacknowledged sequence number and
//	                           counters; written to a temp file, fsync'd, renamed
//	DIR/spool/dead-<n>.log     dead letters (same framing), bounded
//	DIR/spool.lock             flock'd while open: one process per data dir
//
// A segment is deleted once every entry in it is acknowledged or dropped; the
// directory is fsync'd when a segment is created or deleted. On open, every
// segment is checked record by record: a torn or bit-flipped tail (a crash,
// power loss) fails its CRC and is truncated, never replayed. A lost cursor
// means replay from the oldest segment: at-least-once, never loss. Reads go
// through bounded buffers (no mmap), so memory does not grow with the backlog.
//
// The queue is bounded by bytes (each entry counts its payload plus 16 bytes
// of framing, exactly what it takes on disk): when an append would exceed
// the limit, the oldest entries are dropped and counted, never the new ones;
// segments they leave fully dropped are deleted. Entries a sink rejects for
// good are moved to the dead-letter log, itself bounded.
//
// A spool.db left by the bbolt-based spool of earlier versions is drained
// into the log once, at open, and renamed spool.db.migrated; a damaged one is
// moved aside as spool.db.corrupt-<time> and reported by Damaged.
//
// A Spool is safe for concurrent use. Appends are serialised among
// themselves; reads and acknowledgements do not wait for an append's fsync.
//
//	sp, err := spool.Open(filepath.Join(dir, "spool.db"), spool.Options{MaxBytes: 1 << 30})
//	_, err = sp.Append([][]byte{line}, time.Now())
//	entries, err := sp.Read(5000)
//	err = sp.Delete(entries[len(entries)-1].Seq)
package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// entryOverhead is what one entry costs beyond its payload, as counted
// against MaxBytes: the 8-byte record header and the 8-byte accept time.
const entryOverhead = recHeader + 8

// DefaultSegmentBytes is the size at which a segment is closed and a new one begun.
const DefaultSegmentBytes = 8 << 20

// Options configure a Spool. Zero values mean defaults.
type Options struct {
	MaxBytes     int64 // queue limit; default 1 GiB
	DeadMaxBytes int64 // dead-letter limit; default MaxBytes/10
	// SegmentBytes is the segment size; default 8 MiB, or MaxBytes/8 when
	// that is smaller (at least 4 KiB), so that a small spool still
	// frees disk space as it drains.
	SegmentBytes int64
	// MinFree is how many bytes an append leaves free on the file system
	// of the log: an append that would leave less fails with ENOSPC (and
	// Writable fails), so that a backlog filling the disk still leaves room
	// for the cursor — the forwarder can go on draining and deleting
	// segments — and for the gateway's other files (the alert store, whose
	// notifications wait for its commits). 0: no reserve.
	MinFree int64
	// NoSync skips fsync (tests and benchmarks only: a crash loses data).
	NoSync bool
	// Logger receives what Open repaired or moved aside; default slog.Default().
	Logger *slog.Logger
}

// Entry is one queued item.
type Entry struct {
	Seq      uint64
	Accepted time.Time
	Line     []byte
}

// Stats describe the spool's contents.
type Stats struct {
	Count       int64     // entries waiting
	Bytes       int64     // their size, as counted against MaxBytes
	Oldest      time.Time // accept time of the oldest waiting entry (zero if empty)
	Dropped     int64     // entries dropped because the spool was full, ever
	DeadCount   int64     // entries in the dead-letter log
	DeadBytes   int64
	DeadDropped int64 // dead letters dropped because that log was full, this process
}

type segment struct {
	first uint64 // sequence number of its first record
	size  int64  // committed bytes
}

// pos is a place in the log: the record with sequence number seq, at byte
// off of the segment whose first sequence number is seg.
type pos struct {
	seg uint64
	off int64
	seq uint64
}

// Spool is the durable queue. Create it with Open.
type Spool struct {
	path string // as given to Open
	dir  string // the log directory
	opts Options
	log  *slog.Logger
	lock *os.File

	// Lock order: wmu, cmu, mu.
	wmu    sync.Mutex // serialises Append; owns active
	active *os.File   // the last segment, open for writing
	// failed is the size of the last Append if it failed, 0 after a
	// success: Writable probes with as many bytes.
	failed atomic.Int64
	cmu    sync.Mutex // serialises cursor writes
	// What the last look at the file system found free, when, and how
	// much has been appended since (wmu): see roomFor.
	freeSeen    int64
	freeSeenAt  time.Time
	freeWritten int64
	now         func() time.Time                // monotonic clock for freeSeenAt
	statfs      func(dir string) (int64, error) // bytes free for us on dir's file system

	mu      sync.Mutex // guards everything below
	closed  bool
	segs    []segment // oldest first; never empty
	head    pos       // first entry not yet acknowledged or dropped
	nextSeq uint64    // sequence number of the next appended entry
	count   int64
	bytes   int64
	oldest  time.Time
	dropped int64 // ever, persisted in the cursor
	// readEnd remembers where the last Read stopped, so that Delete of
	// what it returned needs no scan.
	readEnd     pos
	readThrough uint64
	readOK      bool
	damaged     []string

	dead        *os.File
	deadGen     uint64
	deadHead    int64 // offset of the oldest live dead letter
	deadSize    int64
	deadCount   int64
	deadBytes   int64
	deadDropped int64
}

// ErrClosed is returned by operations on a closed Spool.
var ErrClosed = errors.New("spool closed")

// Open opens or creates the spool for path (DIR/NAME.db): the log lives in
// DIR/NAME/. An existing bbolt file at path is migrated into it first.
func Open(path string, opts Options) (*Spool, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 1 << 30
	}
	if opts.DeadMaxBytes <= 0 {
		opts.DeadMaxBytes = opts.MaxBytes / 10
	}
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = min(DefaultSegmentBytes, max(opts.MaxBytes/8, 4<<10))
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	parent := filepath.Dir(path)
	name := strings.TrimSuffix(filepath.Base(path), ".db")
	s := &Spool{path: path, dir: filepath.Join(parent, name), opts: opts, log: opts.Logger, now: time.Now, statfs: bytesFree}
	lock, err := lockDir(parent, filepath.Join(parent, name+".lock"))
	if err != nil {
		return nil, err
	}
	s.lock = lock
	if err := s.open(); err != nil {
		s.closeFiles()
		return nil, fmt.Errorf("open spool %s: %w", s.dir, err)
	}
	if err := s.migrate(path); err != nil {
		s.closeFiles()
		return nil, fmt.Errorf("open spool %s: %w", s.dir, err)
	}
	return s, nil
}

// lockDir takes an exclusive flock on lockPath and writes our pid into it.
func lockDir(dataDir, lockPath string) (*os.File, error) {
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open spool lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := io.ReadAll(io.LimitReader(f, 32))
		f.Close()
		pid := strings.TrimSpace(string(b))
		if pid == "" {
			pid = "unknown"
		}
		return nil, fmt.Errorf("data dir %s is in use by another hazardgw process (pid %s)", dataDir, pid)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

func segName(first uint64) string { return fmt.Sprintf("%020d.seg", first) }

func (s *Spool) segPath(first uint64) string { return filepath.Join(s.dir, segName(first)) }

func (s *Spool) open() error {
	if err := os.MkdirAll(s.dir, 0o750); err != nil {
		return err
	}
	if !s.opts.NoSync {
		// The log directory's own entry must be durable before anything in it is.
		if err := syncDirPath(filepath.Dir(s.dir)); err != nil {
			return err
		}
	}
	cur, curErr := readCursor(filepath.Join(s.dir, "cursor"))
	if curErr != nil && !errors.Is(curErr, os.ErrNotExist) {
		s.log.Warn("spool cursor unreadable; replaying from the oldest segment (points may be delivered twice)", "dir", s.dir, "err", curErr)
	}
	s.dropped = cur.dropped

	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	var deadGens []uint64
	for _, e := range ents {
		n := e.Name()
		switch {
		case strings.HasSuffix(n, ".seg"):
			first, err := strconv.ParseUint(strings.TrimSuffix(n, ".seg"), 10, 64)
			if err != nil {
				continue
			}
			s.segs = append(s.segs, segment{first: first})
		case strings.HasPrefix(n, "dead-") && strings.HasSuffix(n, ".log"):
			g, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(n, "dead-"), ".log"), 10, 64)
			if err == nil {
				deadGens = append(deadGens, g)
			}
		case strings.HasSuffix(n, ".tmp"):
			os.Remove(filepath.Join(s.dir, n))
		}
	}
	sort.Slice(s.segs, func(i, j int) bool { return s.segs[i].first < s.segs[j].first })

	// Check every segment; cut each at its first bad record.
	var lastCount uint64
	for i := range s.segs {
		n, size, err := s.checkSegment(i == len(s.segs)-1, &s.segs[i])
		if err != nil {
			return err
		}
		s.segs[i].size = size
		lastCount = n
	}
	if len(s.segs) == 0 {
		first := max(cur.head, 1)
		if err := s.createSegment(first); err != nil {
			return err
		}
		s.segs = []segment{{first: first}}
	}
	last := s.segs[len(s.segs)-1]
	s.nextSeq = last.first + lastCount
	if curErr == nil && cur.head > s.nextSeq {
		// Acknowledged beyond what the last segment holds (its tail was
		// cut): sequence numbers in a segment are contiguous, so go on in
		// a new one rather than reuse acknowledged numbers.
		if err := s.createSegment(cur.head); err != nil {
			return err
		}
		s.segs = append(s.segs, segment{first: cur.head})
		s.nextSeq = cur.head
		last = s.segs[len(s.segs)-1]
	}
	f, err := os.OpenFile(s.segPath(last.first), os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	s.active = f

	// Position the head at the cursor, and count what waits after it.
	s.head = pos{seg: s.segs[0].first, seq: s.segs[0].first}
	if curErr == nil {
		for _, sg := range s.segs {
			if sg.first <= cur.head {
				s.head = pos{seg: sg.first, seq: sg.first}
			}
		}
	}
	target := cur.head
	if curErr != nil {
		target = 0
	}
	var skipErr error
	s.head, skipErr = s.scan(s.head, func(seq uint64, p []byte) bool { return seq < target })
	if skipErr != nil {
		return skipErr
	}
	if _, err := s.scan(s.head, func(seq uint64, p []byte) bool {
		if s.count == 0 {
			s.oldest = acceptedOf(p)
		}
		s.count++
		s.bytes += int64(len(p)) + recHeader
		return true
	}); err != nil {
		return err
	}
	s.normaliseHead()
	if over := s.bytes - s.opts.MaxBytes; over > 0 {
		n, err := s.dropOldest(over)
		if err != nil {
			return err
		}
		s.log.Warn("spool over its limit at open; oldest points dropped", "points", n)
	}
	s.deleteAcked()

	// Dead letters: the generation the cursor names, else the newest.
	sort.Slice(deadGens, func(i, j int) bool { return deadGens[i] < deadGens[j] })
	s.deadGen, s.deadHead = 1, 0
	if curErr == nil && cur.deadGen > 0 {
		s.deadGen, s.deadHead = cur.deadGen, cur.deadHead
	} else if len(deadGens) > 0 {
		s.deadGen = deadGens[len(deadGens)-1]
	}
	for _, g := range deadGens {
		if g != s.deadGen {
			os.Remove(filepath.Join(s.dir, fmt.Sprintf("dead-%d.log", g)))
		}
	}
	return s.openDead()
}

// checkSegment validates a segment record by record and truncates it at the
// first bad or cut-off record. It returns the number of good records and
// their size.
func (s *Spool) checkSegment(last bool, sg *segment) (uint64, int64, error) {
	path := s.segPath(sg.first)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	rr := newRecReader(f)
	var n uint64
	var bad error
	for {
		p, err := rr.next()
		if err == io.EOF {
			break
		}
		if err == nil && len(p) < 8 {
			err = errBadRecord
		}
		if err != nil {
			bad = err
			break
		}
		n++
	}
	if bad != nil {
		if errors.Is(bad, errShort) || errors.Is(bad, errBadRecord) {
			lost := fi.Size() - rr.off
			if last {
				s.log.Warn("spool: torn tail truncated (a crash or power loss during a write; that write was never acknowledged)",
					"segment", path, "at", rr.off, "bytes", lost, "reason", bad)
			} else {
				msg := fmt.Sprintf("spool segment %s damaged at byte %d: %d bytes after it discarded", path, rr.off, lost)
				s.log.Error(msg)
				s.damaged = append(s.damaged, msg)
			}
			if err := f.Truncate(rr.off); err != nil {
				return 0, 0, err
			}
			if err := f.Sync(); err != nil {
				return 0, 0, err
			}
		} else {
			return 0, 0, bad
		}
	}
	return n, rr.off, nil
}

func acceptedOf(p []byte) time.Time {
	return time.Unix(0, int64(binary.LittleEndian.Uint64(p)))
}

func (s *Spool) createSegment(first uint64) error {
	f, err := os.OpenFile(s.segPath(first), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	f.Close()
	return s.syncDir()
}

func (s *Spool) syncDir() error {
	if s.opts.NoSync {
		return nil
	}
	d, err := os.Open(s.dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (s *Spool) segIndex(first uint64) int {
	i := sort.Search(len(s.segs), func(i int) bool { return s.segs[i].first >= first })
	if i < len(s.segs) && s.segs[i].first == first {
		return i
	}
	return -1
}

// scan walks committed records from p, calling fn for each until fn returns
// false; it returns the position of the record fn refused (not consumed), or
// the end of the log. The caller holds mu (or is Open).
func (s *Spool) scan(p pos, fn func(seq uint64, payload []byte) bool) (pos, error) {
	i := s.segIndex(p.seg)
	if i < 0 {
		return p, fmt.Errorf("spool: segment %d is gone", p.seg)
	}
	for ; i < len(s.segs); i++ {
		sg := s.segs[i]
		if sg.first != p.seg {
			p = pos{seg: sg.first, seq: sg.first}
		}
		if p.off >= sg.size {
			continue
		}
		f, err := os.Open(s.segPath(sg.first))
		if err != nil {
			return p, err
		}
		rr := newRecReader(io.NewSectionReader(f, p.off, sg.size-p.off))
		for {
			payload, err := rr.next()
			if err == io.EOF {
				break
			}
			if err != nil {
				f.Close()
				return p, fmt.Errorf("read spool segment %s at %d: %w", s.segPath(sg.first), p.off, err)
			}
			if !fn(p.seq, payload) {
				f.Close()
				return p, nil
			}
			p.off += recHeader + int64(len(payload))
			p.seq++
		}
		f.Close()
		if i == len(s.segs)-1 {
			return p, nil
		}
	}
	return p, nil
}

// normaliseHead moves a head sitting at the end of a segment to the start
// of the next one, and recomputes oldest when the log is empty.
func (s *Spool) normaliseHead() {
	for {
		i := s.segIndex(s.head.seg)
		if i < 0 || i == len(s.segs)-1 || s.head.off < s.segs[i].size {
			break
		}
		n := s.segs[i+1].first
		s.head = pos{seg: n, seq: n}
	}
	if s.count == 0 {
		s.oldest = time.Time{}
	}
}

// advance consumes entries from the head while keep says so, updating the
// counters; it sets oldest from the first entry left.
func (s *Spool) advance(take func(seq uint64, size int64) bool) (int, error) {
	n := 0
	oldest := time.Time{}
	h, err := s.scan(s.head, func(seq uint64, p []byte) bool {
		size := int64(len(p)) + recHeader
		if !take(seq, size) {
			oldest = acceptedOf(p)
			return false
		}
		n++
		s.count--
		s.bytes -= size
		return true
	})
	s.head = h
	s.oldest = oldest
	if s.count <= 0 || s.bytes <= 0 { // defensive: never report negative depth
		s.count, s.bytes = max(s.count, 0), max(s.bytes, 0)
	}
	s.normaliseHead()
	s.readOK = false
	return n, err
}

// dropOldest drops entries from the head until at least over bytes are gone.
func (s *Spool) dropOldest(over int64) (int, error) {
	n, err := s.advance(func(_ uint64, size int64) bool {
		if over <= 0 {
			return false
		}
		over -= size
		return true
	})
	s.dropped += int64(n)
	return n, err
}

// deleteAcked removes segments that lie wholly before the head. Called with
// mu held.
func (s *Spool) deleteAcked() { s.removeSegs(s.takeAcked()) }

// takeAcked takes the segments wholly before the head out of the list and
// returns them, for removeSegs. Called with mu held.
func (s *Spool) takeAcked() []uint64 {
	var gone []uint64
	k := 0
	for k < len(s.segs)-1 && s.segs[k].first < s.head.seg {
		gone = append(gone, s.segs[k].first)
		k++
	}
	if k > 0 {
		s.segs = append(s.segs[:0], s.segs[k:]...)
	}
	return gone
}

// removeSegs deletes segment files and fsyncs the directory. It needs no
// lock: nothing reads a segment once takeAcked has taken it out of the list.
// A file left behind by a failure is deleted at a later open.
func (s *Spool) removeSegs(firsts []uint64) {
	if len(firsts) == 0 {
		return
	}
	for _, f := range firsts {
		if err := os.Remove(s.segPath(f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.Warn("spool: cannot delete an acknowledged segment", "err", err)
		}
	}
	if err := s.syncDir(); err != nil {
		s.log.Warn("spool: fsync of the log directory failed", "err", err)
	}
}

// Close writes the cursor and closes the files.
func (s *Spool) Close() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.cmu.Lock()
	defer s.cmu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.writeCursor()
	s.closeFiles()
	return err
}

func (s *Spool) closeFiles() {
	if s.active != nil {
		s.active.Close()
	}
	if s.dead != nil {
		s.dead.Close()
	}
	if s.lock != nil {
		s.lock.Close() // releases the flock
	}
}

// Path returns the path the spool was opened with.
func (s *Spool) Path() string { return s.path }

// Dir returns the log directory.
func (s *Spool) Dir() string { return s.dir }

// Damaged lists what Open found damaged and moved aside or discarded (a
// corrupt spool.db, a segment with a bad record before its end), one
// sentence each; empty when nothing was. A torn tail is not damage.
func (s *Spool) Damaged() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.damaged...)
}

// Append stores lines, all in one write and one fdatasync, stamped with
// accepted. When it returns nil, every line is on disk. If the spool would
// exceed MaxBytes, the oldest entries are dropped; their number is returned.
// When the write fails (disk full, I/O error), nothing of it stays in the
// log, and a later Append can succeed.
func (s *Spool) Append(lines [][]byte, accepted time.Time) (dropped int, err error) {
	if len(lines) == 0 {
		return 0, nil
	}
	var add int64
	for _, l := range lines {
		if len(l) > maxPayload-8 {
			return 0, fmt.Errorf("append to spool: a line of %d bytes is larger than the %d a record holds", len(l), maxPayload-8)
		}
		add += int64(len(l)) + entryOverhead
	}
	var stamp [8]byte
	binary.LittleEndian.PutUint64(stamp[:], uint64(accepted.UnixNano()))
	buf := make([]byte, 0, add)
	for _, l := range lines {
		buf = appendRecord(buf, stamp[:], l)
	}

	dropped, err = s.commitCount(buf, len(lines), add, accepted)
	if err != nil {
		s.failed.Store(int64(len(buf)))
	} else {
		s.failed.Store(0)
	}
	return dropped, err
}

func (s *Spool) commit(buf []byte, n int, add int64, first time.Time) error {
	_, err := s.commitCount(buf, n, add, first)
	return err
}

// commitCount writes n framed entries (buf, add bytes as counted against
// MaxBytes; first is the accept time of the first) with one write and one
// fdatasync, then drops the oldest entries beyond MaxBytes.
func (s *Spool) commitCount(buf []byte, n int, add int64, first time.Time) (dropped int, err error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return 0, ErrClosed
	}
	last := s.segs[len(s.segs)-1]
	next := s.nextSeq
	s.mu.Unlock()

	if err := s.roomFor(int64(len(buf))); err != nil {
		return 0, fmt.Errorf("append to spool: %w", err)
	}
	if last.size > 0 && last.size+int64(len(buf)) > s.opts.SegmentBytes {
		if err := s.roll(next); err != nil {
			return 0, fmt.Errorf("append to spool: new segment: %w", err)
		}
		last = segment{first: next}
	}
	if _, err := s.active.WriteAt(buf, last.size); err != nil {
		s.undo(last.size)
		return 0, fmt.Errorf("append to spool: %w", err)
	}
	if !s.opts.NoSync {
		if err := syscall.Fdatasync(int(s.active.Fd())); err != nil {
			s.undo(last.size)
			return 0, fmt.Errorf("append to spool: fdatasync: %w", err)
		}
	}

	s.freeWritten += int64(len(buf))
	s.mu.Lock()
	var gone []uint64
	defer func() {
		s.mu.Unlock()
		s.removeSegs(gone)
	}()
	s.segs[len(s.segs)-1].size += int64(len(buf))
	s.nextSeq += uint64(n)
	if s.count == 0 {
		s.oldest = first
	}
	s.count += int64(n)
	s.bytes += add
	if over := s.bytes - s.opts.MaxBytes; over > 0 {
		dropped, err = s.dropOldest(over)
		if err != nil {
			return dropped, fmt.Errorf("append to spool: drop oldest: %w", err)
		}
		gone = s.takeAcked()
	}
	return dropped, nil
}

// undo cuts the active segment back to size after a failed write, so that
// no partial record stays behind it.
func (s *Spool) undo(size int64) {
	if err := s.active.Truncate(size); err != nil {
		s.log.Warn("spool: cannot truncate a failed write; it is cut at the next open", "err", err)
	}
}

// roll closes the active segment and starts a new one whose first entry is
// first. Called with wmu held.
func (s *Spool) roll(first uint64) error {
	f, err := os.OpenFile(s.segPath(first), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := s.syncDir(); err != nil {
		f.Close()
		os.Remove(s.segPath(first))
		return err
	}
	s.active.Close()
	s.active = f
	s.mu.Lock()
	s.segs = append(s.segs, segment{first: first})
	s.mu.Unlock()
	return nil
}

// Read returns up to max of the oldest entries, without removing them.
func (s *Spool) Read(max int) ([]Entry, error) {
	out, _, err := s.ReadInto(nil, nil, max, 0)
	return out, err
}

// ReadInto is Read into the caller's arrays, for a reader that reads batch
// after batch: the entries replace dst's, their lines are copied into buf
// (from its start), both grown as needed and returned. It stops after max
// entries or, if maxBytes > 0, before the lines would pass maxBytes (but
// returns at least one entry). The lines alias the returned buffer: they
// are valid until it is reused.
func (s *Spool) ReadInto(dst []Entry, buf []byte, max, maxBytes int) ([]Entry, []byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return dst[:0], buf, ErrClosed
	}
	out, buf := dst[:0], buf[:0]
	end, err := s.scan(s.head, func(seq uint64, p []byte) bool {
		if len(out) >= max || (maxBytes > 0 && len(out) > 0 && len(buf)+len(p)-8 > maxBytes) {
			return false
		}
		buf = append(buf, p[8:]...)
		out = append(out, Entry{Seq: seq, Accepted: acceptedOf(p), Line: buf[len(buf)-(len(p)-8):]})
		return true
	})
	if err != nil {
		return out[:0], buf, fmt.Errorf("read spool: %w", err)
	}
	// buf may have moved while growing: re-slice every line from the final buffer.
	off := 0
	for i := range out {
		n := len(out[i].Line)
		out[i].Line = buf[off : off+n : off+n]
		off += n
	}
	if len(out) > 0 {
		s.readEnd, s.readThrough, s.readOK = end, out[len(out)-1].Seq, true
	}
	return out, buf, nil
}

// Delete acknowledges every queued entry with a sequence number up to and
// including through.
func (s *Spool) Delete(through uint64) error {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	moved, err := s.ack(through)
	c := s.cursorNow()
	gone := s.takeAcked()
	s.mu.Unlock()
	// The cursor and the segments are written and removed without mu, so
	// that appends and reads do not wait for these fsyncs.
	if err == nil && moved {
		err = s.storeCursor(c)
	}
	s.removeSegs(gone)
	if err != nil {
		return fmt.Errorf("delete from spool: %w", err)
	}
	return nil
}

// ack moves the head past through; it reports whether the head moved.
// Called with mu held.
func (s *Spool) ack(through uint64) (bool, error) {
	if through < s.head.seq {
		return false, nil
	}
	if s.readOK && s.readThrough == through && s.readEnd.seq > s.head.seq && s.segIndex(s.readEnd.seg) >= 0 {
		// Delete of what Read returned: jump there, and find the next
		// entry's accept time with one short read.
		s.count -= int64(s.readEnd.seq - s.head.seq)
		s.bytes -= s.bytesBetween(s.head, s.readEnd)
		s.head = s.readEnd
		if _, err := s.advance(func(uint64, int64) bool { return false }); err != nil {
			return true, err
		}
	} else if _, err := s.advance(func(seq uint64, _ int64) bool { return seq <= through }); err != nil {
		return true, err
	}
	return true, nil
}

// bytesBetween is the size of the entries from a to b (b after a), as counted
// against MaxBytes: the record sizes, since each counts exactly its bytes on disk.
func (s *Spool) bytesBetween(a, b pos) int64 {
	if a.seg == b.seg {
		return b.off - a.off
	}
	ia, ib := s.segIndex(a.seg), s.segIndex(b.seg)
	n := s.segs[ia].size - a.off
	for i := ia + 1; i < ib; i++ {
		n += s.segs[i].size
	}
	return n + b.off
}

// DeadLetter moves every queued entry up to and including through to the
// dead-letter log (dropping the oldest dead letters beyond DeadMaxBytes).
func (s *Spool) DeadLetter(through uint64) error {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	var buf []byte
	var n, add int64
	var seqb [8]byte
	_, err := s.scan(s.head, func(seq uint64, p []byte) bool {
		if seq > through {
			return false
		}
		binary.LittleEndian.PutUint64(seqb[:], seq)
		buf = appendRecord(buf, seqb[:], p)
		n++
		add += int64(len(p)) + recHeader
		return true
	})
	if err != nil {
		return fmt.Errorf("dead-letter: %w", err)
	}
	if n > 0 {
		if err := s.appendDead(buf, n, add); err != nil {
			return fmt.Errorf("dead-letter: %w", err)
		}
	}
	if _, err := s.ack(through); err != nil {
		return fmt.Errorf("dead-letter: %w", err)
	}
	if err := s.writeCursor(); err != nil {
		return fmt.Errorf("dead-letter: %w", err)
	}
	s.deleteAcked()
	return nil
}

// Stats returns the current counters. It does no I/O.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{
		Count: s.count, Bytes: s.bytes, Oldest: s.oldest, Dropped: s.dropped,
		DeadCount: s.deadCount, DeadBytes: s.deadBytes, DeadDropped: s.deadDropped,
	}
}

// Writable reports whether the log directory accepts a durable write, for
// readiness checks: it creates, writes, syncs and removes a probe file. A
// full disk, a read-only or immutable file system fail it. After a failed
// Append the probe is as large as that append (up to 4 MiB), so that a
// disk with a little room left but not enough for the batch still fails.
//
// The error says "disk full" when the file system is out of space.
func (s *Spool) Writable() error {
	n := min(max(s.failed.Load(), 512), 4<<20)
	if err := s.checkFree(n); err != nil {
		return notWritable(err)
	}
	p := filepath.Join(s.dir, "probe.tmp")
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return notWritable(err)
	}
	defer os.Remove(p)
	defer f.Close()
	if _, err := f.Write(make([]byte, n)); err != nil {
		return notWritable(err)
	}
	if err := f.Sync(); err != nil {
		return notWritable(err)
	}
	return nil
}

// checkFree refuses a write of n bytes that would leave less than
// Options.MinFree free (as ENOSPC). When the file system cannot tell, the
// write itself decides.
func (s *Spool) checkFree(n int64) error {
	if s.opts.MinFree <= 0 {
		return nil
	}
	free, err := s.statfs(s.dir)
	if err != nil {
		return nil
	}
	return s.refuseBelow(free, n)
}

func (s *Spool) refuseBelow(free, n int64) error {
	if free-n < s.opts.MinFree {
		return fmt.Errorf("%w: %d bytes free, %d kept free for the cursor and the gateway's state", syscall.ENOSPC, free, s.opts.MinFree)
	}
	return nil
}

// freeCheckEvery bounds how long an append relies on an earlier look at the
// file system's free space.
const freeCheckEvery = 2 * time.Second

// roomFor is checkFree for an append (wmu held), without a statfs per
// commit: while the last look, less what has been appended since, leaves
// the write well clear of the reserve (twice MinFree) and is less than
// freeCheckEvery old, the write goes ahead. Near the reserve every append
// looks. What other programs write meanwhile is seen at the next look; if
// they fill the disk first, the write itself fails and is undone.
func (s *Spool) roomFor(n int64) error {
	if s.opts.MinFree <= 0 {
		return nil
	}
	now := s.now()
	if !s.freeSeenAt.IsZero() && now.Sub(s.freeSeenAt) < freeCheckEvery &&
		s.freeSeen-s.freeWritten-n >= 2*s.opts.MinFree {
		return nil
	}
	free, err := s.statfs(s.dir)
	if err != nil {
		s.freeSeenAt = time.Time{}
		return nil
	}
	s.freeSeen, s.freeSeenAt, s.freeWritten = free, now, 0
	return s.refuseBelow(free, n)
}

// bytesFree is what an unprivileged writer may still use on dir's file system.
func bytesFree(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

func notWritable(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("not writable, disk full: %w", err)
	}
	return fmt.Errorf("not writable: %w", err)
}
