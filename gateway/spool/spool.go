// Package spool is the gateway's durable queue: every accepted point is
// appended here, in one fsync'd bbolt transaction per batch, before it counts
// as accepted; the forwarder reads the oldest entries, and deletes them only
// after the sink has stored them.
//
// Entries are opaque byte strings (InfluxDB line protocol, one point each)
// with a sequence number and the time they were accepted. The queue is
// bounded by bytes: when an append would exceed the limit, the oldest entries
// are dropped and counted, never the new ones. Entries a sink rejects for good
// are moved to a dead-letter bucket, itself bounded.
//
// A Spool is safe for concurrent use. Appends and deletes are serialised by
// bbolt's single writer; reads run concurrently with them.
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
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

var (
	bucketQueue = []byte("queue")
	bucketDead  = []byte("dead")
	bucketMeta  = []byte("meta")

	keyBytes     = []byte("bytes")
	keyCount     = []byte("count")
	keyDropped   = []byte("dropped")
	keyDeadBytes = []byte("dead_bytes")
	keyDeadCount = []byte("dead_count")
)

// entryOverhead is what one entry costs beyond its payload: the 8-byte key
// and the 8-byte accept time stored in front of the payload.
const entryOverhead = 16

// Options configure a Spool. Zero values mean defaults.
type Options struct {
	MaxBytes     int64 // queue limit; default 1 GiB
	DeadMaxBytes int64 // dead-letter limit; default MaxBytes/10
	// NoSync skips fsync (tests and benchmarks only: a crash loses data).
	NoSync bool
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
	DeadCount   int64     // entries in the dead-letter bucket
	DeadBytes   int64
	DeadDropped int64 // dead letters dropped because that bucket was full, this process
}

// Spool is the durable queue. Create it with Open.
type Spool struct {
	db   *bolt.DB
	opts Options

	mu          sync.Mutex // guards the counters below, mirrored in bucketMeta
	count       int64
	bytes       int64
	dropped     int64
	deadCount   int64
	deadBytes   int64
	deadDropped int64
	oldest      time.Time
}

// ErrClosed is returned by operations on a closed Spool.
var ErrClosed = errors.New("spool closed")

// Open opens or creates the spool file at path.
func Open(path string, opts Options) (*Spool, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 1 << 30
	}
	if opts.DeadMaxBytes <= 0 {
		opts.DeadMaxBytes = opts.MaxBytes / 10
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:        time.Second, // another process holding the file: fail, don't hang
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
		NoSync:         opts.NoSync,
	})
	if err != nil {
		return nil, fmt.Errorf("open spool %s: %w", path, err)
	}
	s := &Spool{db: db, opts: opts}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketQueue, bucketDead, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		m := tx.Bucket(bucketMeta)
		s.count, s.bytes = getInt(m, keyCount), getInt(m, keyBytes)
		s.dropped = getInt(m, keyDropped)
		s.deadCount, s.deadBytes = getInt(m, keyDeadCount), getInt(m, keyDeadBytes)
		s.oldest = firstTime(tx.Bucket(bucketQueue))
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open spool %s: %w", path, err)
	}
	return s, nil
}

// Close closes the file. Pending transactions finish first.
func (s *Spool) Close() error { return s.db.Close() }

// Path returns the spool file's path.
func (s *Spool) Path() string { return s.db.Path() }

// Append stores lines, all in one transaction, stamped with accepted. When
// it returns nil, every line is on disk. If the spool would exceed MaxBytes,
// the oldest entries are dropped first; their number is returned.
func (s *Spool) Append(lines [][]byte, accepted time.Time) (dropped int, err error) {
	if len(lines) == 0 {
		return 0, nil
	}
	var add int64
	for _, l := range lines {
		add += int64(len(l)) + entryOverhead
	}
	stamp := uint64(accepted.UnixNano())
	var newCount, newBytes int64
	var oldest time.Time
	err = s.db.Update(func(tx *bolt.Tx) error {
		q := tx.Bucket(bucketQueue)
		m := tx.Bucket(bucketMeta)
		count, bytes := getInt(m, keyCount), getInt(m, keyBytes)
		q.FillPercent = 1.0 // keys only ever grow: pack pages full
		// bbolt keeps references to keys and values until commit, so each
		// needs its own bytes: carve them all out of two allocations.
		keys := make([]byte, 0, 8*len(lines))
		vals := make([]byte, 0, add)
		for _, l := range lines {
			seq, err := q.NextSequence()
			if err != nil {
				return err
			}
			ks, vs := len(keys), len(vals)
			keys = binary.BigEndian.AppendUint64(keys, seq)
			vals = binary.BigEndian.AppendUint64(vals, stamp)
			vals = append(vals, l...)
			if err := q.Put(keys[ks:len(keys):len(keys)], vals[vs:len(vals):len(vals)]); err != nil {
				return err
			}
		}
		count += int64(len(lines))
		bytes += add
		// Over the limit: drop the oldest entries — older ones first, and
		// the oldest of this batch too if it alone is larger than the room.
		if over := bytes - s.opts.MaxBytes; over > 0 {
			var keys []byte
			c := q.Cursor()
			for k, v := c.First(); k != nil && over > 0; k, v = c.Next() {
				n := int64(len(v)) + 8
				keys = append(keys, k...)
				over -= n
				bytes -= n
				count--
				dropped++
			}
			for i := 0; i+8 <= len(keys); i += 8 {
				if err := q.Delete(keys[i : i+8]); err != nil {
					return err
				}
			}
		}
		newCount, newBytes = count, bytes
		oldest = firstTime(q)
		putInt(m, keyCount, count)
		putInt(m, keyBytes, bytes)
		if dropped > 0 {
			putInt(m, keyDropped, getInt(m, keyDropped)+int64(dropped))
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("append to spool: %w", err)
	}
	s.mu.Lock()
	s.count, s.bytes, s.oldest = newCount, newBytes, oldest
	s.dropped += int64(dropped)
	s.mu.Unlock()
	return dropped, nil
}

// Read returns up to max of the oldest entries, without removing them.
func (s *Spool) Read(max int) ([]Entry, error) {
	var out []Entry
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketQueue).Cursor()
		var buf []byte
		for k, v := c.First(); k != nil && len(out) < max; k, v = c.Next() {
			if len(v) < 8 || len(k) != 8 {
				continue // not written by Append; skip rather than fail forever
			}
			start := len(buf)
			buf = append(buf, v[8:]...)
			out = append(out, Entry{
				Seq:      binary.BigEndian.Uint64(k),
				Accepted: time.Unix(0, int64(binary.BigEndian.Uint64(v[:8]))),
				Line:     buf[start:len(buf):len(buf)],
			})
		}
		// buf may have moved while growing: re-slice every line from the final buffer.
		off := 0
		for i := range out {
			n := len(out[i].Line)
			out[i].Line = buf[off : off+n : off+n]
			off += n
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read spool: %w", err)
	}
	return out, nil
}

// Delete removes every queued entry with a sequence number up to and
// including through.
func (s *Spool) Delete(through uint64) error {
	return s.removeThrough(through, false)
}

// DeadLetter moves every queued entry up to and including through to the
// dead-letter bucket (dropping the oldest dead letters beyond DeadMaxBytes).
func (s *Spool) DeadLetter(through uint64) error {
	return s.removeThrough(through, true)
}

func (s *Spool) removeThrough(through uint64, dead bool) error {
	var newCount, newBytes, deadCount, deadBytes, deadDropped int64
	var oldest time.Time
	err := s.db.Update(func(tx *bolt.Tx) error {
		q, d, m := tx.Bucket(bucketQueue), tx.Bucket(bucketDead), tx.Bucket(bucketMeta)
		count, bytes := getInt(m, keyCount), getInt(m, keyBytes)
		deadCount, deadBytes = getInt(m, keyDeadCount), getInt(m, keyDeadBytes)
		d.FillPercent = 1.0
		// One cursor pass to find the keys, then deletes by key: deleting
		// under the cursor and seeking to First again walks every emptied
		// page each time, which dominated the cost of large deletes.
		var keys []byte
		c := q.Cursor()
		for k, v := c.First(); k != nil && binary.BigEndian.Uint64(k) <= through; k, v = c.Next() {
			n := int64(len(v)) + 8
			if dead {
				if err := d.Put(append([]byte(nil), k...), append([]byte(nil), v...)); err != nil {
					return err
				}
				deadCount++
				deadBytes += n
			}
			keys = append(keys, k...)
			count--
			bytes -= n
		}
		for i := 0; i+8 <= len(keys); i += 8 {
			if err := q.Delete(keys[i : i+8]); err != nil {
				return err
			}
		}
		if dead {
			dc := d.Cursor()
			for k, v := dc.First(); k != nil && deadBytes > s.opts.DeadMaxBytes; k, v = dc.First() {
				deadBytes -= int64(len(v)) + 8
				deadCount--
				deadDropped++
				if err := dc.Delete(); err != nil {
					return err
				}
			}
			putInt(m, keyDeadCount, deadCount)
			putInt(m, keyDeadBytes, deadBytes)
		}
		if count < 0 || bytes < 0 { // defensive: never report negative depth
			count, bytes = 0, 0
		}
		putInt(m, keyCount, count)
		putInt(m, keyBytes, bytes)
		newCount, newBytes = count, bytes
		oldest = firstTime(q)
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete from spool: %w", err)
	}
	s.mu.Lock()
	s.count, s.bytes, s.oldest = newCount, newBytes, oldest
	if dead {
		s.deadCount, s.deadBytes = deadCount, deadBytes
		s.deadDropped += deadDropped
	}
	s.mu.Unlock()
	return nil
}

// ReadDead returns up to max dead letters, oldest first.
func (s *Spool) ReadDead(max int) ([]Entry, error) {
	var out []Entry
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketDead).Cursor()
		for k, v := c.First(); k != nil && len(out) < max; k, v = c.Next() {
			if len(v) < 8 || len(k) != 8 {
				continue
			}
			out = append(out, Entry{
				Seq:      binary.BigEndian.Uint64(k),
				Accepted: time.Unix(0, int64(binary.BigEndian.Uint64(v[:8]))),
				Line:     append([]byte(nil), v[8:]...),
			})
		}
		return nil
	})
	return out, err
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

// Writable reports whether a write transaction can be committed, for
// readiness checks. It writes nothing.
func (s *Spool) Writable() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put([]byte("probe"), []byte{1})
	})
}

func firstTime(q *bolt.Bucket) time.Time {
	k, v := q.Cursor().First()
	if k == nil || len(v) < 8 {
		return time.Time{}
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(v[:8])))
}

func u64(n uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), n) }

func getInt(b *bolt.Bucket, k []byte) int64 {
	v := b.Get(k)
	if len(v) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}

func putInt(b *bolt.Bucket, k []byte, n int64) {
	_ = b.Put(k, u64(uint64(n))) // only fails on a read-only tx or bad key, neither possible here
}
