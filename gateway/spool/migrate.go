package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
)

// migrate drains a spool.db left by the bbolt-based spool into the log, once:
// queued entries keep their order and accept times (they get new sequence
// numbers), dead letters and the drop counter carry over, and the file is
// renamed to <path>.migrated. A file that fails the checks below, or that
// bbolt fails on, is moved aside as <path>.corrupt-<UTC time> and reported
// by Damaged; what was drained before the failure stays in the log.
func (s *Spool) migrate(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	if fi.Size() == 0 {
		s.log.Warn("spool: zero-length spool.db found (nothing to migrate); removing it", "file", path)
		return os.Remove(path)
	}
	if err := checkBolt(path, fi.Size()); err != nil {
		return s.moveAside(path, err)
	}
	n, dead, err := s.drainBolt(path)
	if errors.Is(err, bolt.ErrTimeout) {
		// Locked by a running gateway of an earlier version: not damage.
		return fmt.Errorf("%s is in use by another process", path)
	}
	if err != nil {
		s.log.Error("spool: migration from spool.db failed part way", "file", path, "migrated", n, "err", err)
		return s.moveAside(path, err)
	}
	if err := os.Rename(path, path+".migrated"); err != nil {
		return err
	}
	if err := syncDirPath(filepath.Dir(path)); err != nil {
		return err
	}
	s.log.Info("spool: migrated the bbolt spool into the segment log", "file", path, "points", n, "dead_letters", dead, "renamed_to", path+".migrated")
	return nil
}

func (s *Spool) moveAside(path string, why error) error {
	to := fmt.Sprintf("%s.corrupt-%s", path, time.Now().UTC().Format("20060102T150405Z"))
	if err := os.Rename(path, to); err != nil {
		return fmt.Errorf("move damaged %s aside: %w", path, err)
	}
	if err := syncDirPath(filepath.Dir(path)); err != nil {
		return err
	}
	msg := fmt.Sprintf("%s is damaged (%v): moved aside as %s; points queued in it may be lost", path, why, filepath.Base(to))
	s.log.Error("spool: " + msg)
	s.mu.Lock()
	s.damaged = append(s.damaged, msg)
	s.mu.Unlock()
	return nil
}

func syncDirPath(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// checkBolt reads bbolt's two meta pages by hand and refuses a file whose
// valid meta page is missing or names more pages than the file holds, before
// bbolt maps it (a truncated file would otherwise fault inside bbolt).
func checkBolt(path string, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	const (
		pageHeader = 16
		magic      = 0xED0CDAED
		metaLen    = 56 // magic .. txid; the FNV-64a checksum follows
	)
	type meta struct {
		pageSize   uint32
		pgid, txid uint64
	}
	read := func(off int64) (meta, bool) {
		b := make([]byte, metaLen+8)
		if _, err := f.ReadAt(b, off+pageHeader); err != nil {
			return meta{}, false
		}
		if binary.LittleEndian.Uint32(b) != magic || binary.LittleEndian.Uint32(b[4:]) != 2 {
			return meta{}, false
		}
		h := fnv.New64a()
		h.Write(b[:metaLen])
		if h.Sum64() != binary.LittleEndian.Uint64(b[metaLen:]) {
			return meta{}, false
		}
		return meta{
			pageSize: binary.LittleEndian.Uint32(b[8:]),
			pgid:     binary.LittleEndian.Uint64(b[40:]),
			txid:     binary.LittleEndian.Uint64(b[48:]),
		}, true
	}
	m0, ok0 := read(0)
	ps := int64(4096)
	if ok0 {
		ps = int64(m0.pageSize)
	}
	m1, ok1 := read(ps)
	best, ok := m0, ok0
	if ok1 && (!ok0 || m1.txid > m0.txid) {
		best, ok = m1, true
	}
	if !ok {
		return errors.New("no valid bbolt meta page")
	}
	if best.pageSize < 512 || best.pageSize > 1<<20 {
		return fmt.Errorf("bad page size %d", best.pageSize)
	}
	if need := int64(best.pgid) * int64(best.pageSize); need > size || size < 4*int64(best.pageSize) {
		return fmt.Errorf("truncated: %d bytes, the meta page needs %d", size, need)
	}
	return nil
}

// drainBolt copies the queue and dead buckets into the log. bbolt can panic
// on a damaged page, or fault on a mapped page it cannot read: both become
// errors here.
func (s *Spool) drainBolt(path string) (n, dead int, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("bbolt failed: %v", r)
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		if m := tx.Bucket([]byte("meta")); m != nil {
			if v := m.Get([]byte("dropped")); len(v) == 8 {
				s.mu.Lock()
				s.dropped += int64(binary.BigEndian.Uint64(v))
				s.mu.Unlock()
			}
		}
		if q := tx.Bucket([]byte("queue")); q != nil {
			var buf []byte
			var k int
			var add int64
			var first time.Time
			flush := func() error {
				if k == 0 {
					return nil
				}
				if err := s.commit(buf, k, add, first); err != nil {
					return err
				}
				n += k
				buf, k, add = buf[:0], 0, 0
				return nil
			}
			c := q.Cursor()
			for key, v := c.First(); key != nil; key, v = c.Next() {
				if len(v) < 8 {
					continue
				}
				var stamp [8]byte
				binary.LittleEndian.PutUint64(stamp[:], binary.BigEndian.Uint64(v[:8]))
				if k == 0 {
					first = acceptedOf(stamp[:])
				}
				buf = appendRecord(buf, stamp[:], v[8:])
				k++
				add += int64(len(v)) + recHeader
				if len(buf) >= 1<<20 {
					if err := flush(); err != nil {
						return err
					}
				}
			}
			if err := flush(); err != nil {
				return err
			}
		}
		if d := tx.Bucket([]byte("dead")); d != nil {
			var buf []byte
			var k, add int64
			c := d.Cursor()
			for key, v := c.First(); key != nil; key, v = c.Next() {
				if len(v) < 8 || len(key) != 8 {
					continue
				}
				var hdr [16]byte
				binary.LittleEndian.PutUint64(hdr[:8], binary.BigEndian.Uint64(key))
				binary.LittleEndian.PutUint64(hdr[8:], binary.BigEndian.Uint64(v[:8]))
				buf = appendRecord(buf, hdr[:], v[8:])
				k++
				add += int64(len(v)) + 8 // the line plus 16
			}
			if k > 0 {
				s.mu.Lock()
				err := s.appendDead(buf, k, add)
				s.mu.Unlock()
				if err != nil {
					return err
				}
				dead = int(k)
			}
		}
		return nil
	})
	if err == nil {
		s.mu.Lock()
		err = s.writeCursor()
		s.mu.Unlock()
	}
	return n, dead, err
}
