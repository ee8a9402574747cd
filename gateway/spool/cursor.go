package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// The cursor file: what the sink acknowledged (the first sequence number not
// yet acknowledged or dropped), the drop counter and where the dead letters
// start, with a CRC. It is replaced atomically: temp file, fsync, rename,
// directory fsync.
type cursor struct {
	head     uint64
	dropped  int64
	deadGen  uint64
	deadHead int64
}

const (
	cursorMagic = 0x48475331 // "HGS1"
	cursorSize  = 4 + 8*4 + 4
)

func readCursor(path string) (cursor, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return cursor{}, err
	}
	if len(b) != cursorSize || binary.LittleEndian.Uint32(b) != cursorMagic ||
		crc32.Checksum(b[:cursorSize-4], castagnoli) != binary.LittleEndian.Uint32(b[cursorSize-4:]) {
		return cursor{}, errors.New("bad cursor file (size, magic or CRC)")
	}
	return cursor{
		head:     binary.LittleEndian.Uint64(b[4:]),
		dropped:  int64(binary.LittleEndian.Uint64(b[12:])),
		deadGen:  binary.LittleEndian.Uint64(b[20:]),
		deadHead: int64(binary.LittleEndian.Uint64(b[28:])),
	}, nil
}

// writeCursor persists the head and counters. Called with mu held.
func (s *Spool) writeCursor() error { return s.storeCursor(s.cursorNow()) }

// cursorNow is what the cursor should say. Called with mu held.
func (s *Spool) cursorNow() cursor {
	return cursor{head: s.head.seq, dropped: s.dropped, deadGen: s.deadGen, deadHead: s.deadHead}
}

// storeCursor replaces the cursor file with c. Callers hold cmu (or are Open
// or Close), so that cursor writes never go backwards.
func (s *Spool) storeCursor(c cursor) error {
	b := make([]byte, 0, cursorSize)
	b = binary.LittleEndian.AppendUint32(b, cursorMagic)
	b = binary.LittleEndian.AppendUint64(b, c.head)
	b = binary.LittleEndian.AppendUint64(b, uint64(c.dropped))
	b = binary.LittleEndian.AppendUint64(b, c.deadGen)
	b = binary.LittleEndian.AppendUint64(b, uint64(c.deadHead))
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	path := filepath.Join(s.dir, "cursor")
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write spool cursor: %w", err)
	}
	if _, err = f.Write(b); err == nil && !s.opts.NoSync {
		err = syscall.Fdatasync(int(f.Fd()))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = s.syncDir()
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write spool cursor: %w", err)
	}
	return nil
}

func (s *Spool) deadPath(gen uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("dead-%d.log", gen))
}

// openDead opens the dead-letter log, checks it from deadHead on and
// truncates a torn tail.
func (s *Spool) openDead() error {
	f, err := os.OpenFile(s.deadPath(s.deadGen), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	s.dead = f
	if err := s.syncDir(); err != nil { // the file may be new
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if s.deadHead > fi.Size() {
		s.deadHead = 0
	}
	rr := newRecReader(io.NewSectionReader(f, s.deadHead, fi.Size()-s.deadHead))
	for {
		p, err := rr.next()
		if err == io.EOF {
			break
		}
		if err == nil && len(p) < 16 {
			err = errBadRecord
		}
		if err != nil {
			if !errors.Is(err, errShort) && !errors.Is(err, errBadRecord) {
				return err
			}
			s.log.Warn("spool: dead-letter log cut at a bad record", "file", f.Name(), "at", s.deadHead+rr.off, "reason", err)
			if err := f.Truncate(s.deadHead + rr.off); err != nil {
				return err
			}
			break
		}
		s.deadCount++
		s.deadBytes += int64(len(p)) // seq + accepted + line: the line plus 16
	}
	s.deadSize = s.deadHead + rr.off
	return nil
}

// appendDead appends framed dead letters (payload: seq, accepted, line),
// then drops the oldest beyond DeadMaxBytes, compacting the file into a new
// generation once the dropped part is larger than the limit. Called with mu held.
func (s *Spool) appendDead(buf []byte, n, add int64) error {
	if _, err := s.dead.WriteAt(buf, s.deadSize); err != nil {
		s.dead.Truncate(s.deadSize)
		return err
	}
	if !s.opts.NoSync {
		if err := syscall.Fdatasync(int(s.dead.Fd())); err != nil {
			s.dead.Truncate(s.deadSize)
			return err
		}
	}
	s.deadSize += int64(len(buf))
	s.deadCount += n
	s.deadBytes += add
	if s.deadBytes <= s.opts.DeadMaxBytes {
		return nil
	}
	rr := newRecReader(io.NewSectionReader(s.dead, s.deadHead, s.deadSize-s.deadHead))
	for s.deadBytes > s.opts.DeadMaxBytes {
		p, err := rr.next()
		if err != nil {
			return fmt.Errorf("dead-letter log: %w", err)
		}
		s.deadBytes -= int64(len(p))
		s.deadCount--
		s.deadDropped++
	}
	s.deadHead += rr.off
	if s.deadHead <= s.opts.DeadMaxBytes {
		return nil // the cursor written by the caller records deadHead
	}
	// Compact: copy the live part into the next generation.
	gen := s.deadGen + 1
	nf, err := os.OpenFile(s.deadPath(gen), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	live := s.deadSize - s.deadHead
	if _, err := io.Copy(nf, io.NewSectionReader(s.dead, s.deadHead, live)); err != nil {
		nf.Close()
		os.Remove(nf.Name())
		return err
	}
	if !s.opts.NoSync {
		if err := nf.Sync(); err != nil {
			nf.Close()
			os.Remove(nf.Name())
			return err
		}
	}
	oldGen, oldF, oldHead := s.deadGen, s.dead, s.deadHead
	s.deadGen, s.dead, s.deadHead, s.deadSize = gen, nf, 0, live
	if err := s.writeCursor(); err != nil {
		s.deadGen, s.dead, s.deadHead, s.deadSize = oldGen, oldF, oldHead, live+oldHead
		nf.Close()
		os.Remove(nf.Name())
		return err
	}
	oldF.Close()
	os.Remove(s.deadPath(oldGen))
	return nil
}

// ReadDead returns up to max dead letters, oldest first.
func (s *Spool) ReadDead(max int) ([]Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	var out []Entry
	rr := newRecReader(io.NewSectionReader(s.dead, s.deadHead, s.deadSize-s.deadHead))
	for len(out) < max {
		p, err := rr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return out, fmt.Errorf("read dead letters: %w", err)
		}
		out = append(out, Entry{
			Seq:      binary.LittleEndian.Uint64(p),
			Accepted: acceptedOf(p[8:]),
			Line:     append([]byte(nil), p[16:]...),
		})
	}
	return out, nil
}
