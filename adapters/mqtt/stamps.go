package mqtt

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"
)

// StampsFile is the name of the file in the data directory that remembers
// the times given to messages stored at their arrival time, so that a
// redelivery of one of them is stored at the same time (see stamps).
const StampsFile = "mqtt-stamps"

// stampSlots is how many arrival stamps are remembered: the last
// stampSlots messages stored at arrival time. A message can only come back
// (with DUP set) if it was in the broker's in-flight window when the
// connection dropped, and that window is at most 65,535 messages (MQTT
// packet ids are 16 bits; Mosquitto's default is 20). The file takes
// stampSlots × stampSlotSize = 2 MiB at most; memory, once the first such
// message came, a 512 KiB ring of keys plus a map of at most stampSlots
// entries (3.8 MiB of heap when full, measured).
const stampSlots = 1 << 16

// A slot on disk: sequence number, key, stamp (UnixNano), each 8 bytes
// little-endian, then a CRC-32C of those 24 bytes and 4 bytes of zeros.
// Slot seq%stampSlots holds stamp number seq; a torn write fails its CRC and
// the slot is ignored.
const stampSlotSize = 32

var stampCRC = crc32.MakeTable(crc32.Castagnoli)

// stamps remembers, for the last stampSlots messages that carried no
// usable timestamp, the hash of topic and payload and the time they were
// stored at. A message the broker redelivers (DUP set: after a dropped
// connection or a crash between the spool commit and the PUBACK) is looked
// up and, if found, stored at the remembered time, so that InfluxDB
// overwrites the first copy instead of keeping two points.
//
// Only redeliveries are looked up: two identical payloads published
// seconds apart (a heartbeat without ts) are two messages and stay two
// points. A redelivery of one of them gets the latest remembered time of
// that payload, which is its own unless the crash came between its arrival
// and its record here: then it folds into the previous identical message,
// one row of identical content fewer.
//
// record writes the new slots and fdatasyncs them before the spool commit
// of their points, so a point that is on disk always has its stamp on disk.
// It is safe for concurrent use.
type stamps struct {
	mu    sync.Mutex
	f     *os.File // nil: remembered in memory only (no data directory)
	next  uint64   // sequence number of the next stamp
	byKey map[uint64]stampRef
	keys  []uint64 // ring: key of slot i, for eviction (0: empty)
	buf   []byte   // record's scratch, under mu
}

type stampRef struct {
	seq uint64
	at  int64
}

// A stampEntry is one message's key and the time its point got.
type stampEntry struct {
	key uint64
	at  time.Time
}

// newStamps returns an empty table held in memory only.
func newStamps() *stamps {
	return &stamps{byKey: map[uint64]stampRef{}}
}

// openStamps loads the table from path, creating the file if needed. Slots
// that fail their CRC (a torn write) are ignored.
func openStamps(path string) (*stamps, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open stamps file: %w", err)
	}
	st := newStamps()
	st.f = f
	b, err := io.ReadAll(io.LimitReader(f, stampSlots*stampSlotSize))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("read stamps file: %w", err)
	}
	type slot struct {
		seq, key uint64
		at       int64
	}
	var loaded []slot
	for off := 0; off+stampSlotSize <= len(b); off += stampSlotSize {
		s := b[off : off+stampSlotSize]
		if binary.LittleEndian.Uint32(s[24:]) != crc32.Checksum(s[:24], stampCRC) {
			continue
		}
		seq := binary.LittleEndian.Uint64(s)
		if seq%stampSlots != uint64(off/stampSlotSize) {
			continue
		}
		loaded = append(loaded, slot{seq, binary.LittleEndian.Uint64(s[8:]), int64(binary.LittleEndian.Uint64(s[16:]))})
	}
	for _, s := range loaded {
		st.next = max(st.next, s.seq+1)
	}
	// Apply in sequence order so that the latest stamp of a key wins.
	slices.SortFunc(loaded, func(a, b slot) int { return cmp.Compare(a.seq, b.seq) })
	for _, s := range loaded {
		st.put(s.seq, s.key, s.at)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		f.Close()
		return nil, fmt.Errorf("open stamps file: %w", err)
	}
	return st, nil
}

// put remembers key → at as stamp number seq. Called with mu held (or
// before the table is shared).
func (st *stamps) put(seq, key uint64, at int64) {
	if st.keys == nil {
		st.keys = make([]uint64, stampSlots)
	}
	i := seq % stampSlots
	if old := st.keys[i]; old != 0 {
		// Forget the old key unless a later stamp of it lives elsewhere.
		if ref, ok := st.byKey[old]; ok && ref.seq%stampSlots == i {
			delete(st.byKey, old)
		}
	}
	st.keys[i] = key
	st.byKey[key] = stampRef{seq: seq, at: at}
}

// lookup returns the time remembered for key.
func (st *stamps) lookup(key uint64) (time.Time, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	ref, ok := st.byKey[key]
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(0, ref.at), true
}

// record remembers entries, durably when the table has a file: one write
// and one fdatasync. On error the entries may or may not be remembered;
// the caller must not commit their points (it retries).
func (st *stamps) record(entries []stampEntry) error {
	if len(entries) == 0 {
		return nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	first := st.next
	for _, e := range entries {
		st.put(st.next, e.key, e.at.UnixNano())
		st.next++
	}
	if st.f == nil {
		return nil
	}
	// Slots are contiguous except where the ring wraps: at most two writes.
	for seq := first; seq < st.next; {
		end := min(st.next, (seq/stampSlots+1)*stampSlots)
		st.buf = st.buf[:0]
		for s := seq; s < end; s++ {
			var b [stampSlotSize]byte
			e := entries[s-first]
			binary.LittleEndian.PutUint64(b[0:], s)
			binary.LittleEndian.PutUint64(b[8:], e.key)
			binary.LittleEndian.PutUint64(b[16:], uint64(e.at.UnixNano()))
			binary.LittleEndian.PutUint32(b[24:], crc32.Checksum(b[:24], stampCRC))
			st.buf = append(st.buf, b[:]...)
		}
		if _, err := st.f.WriteAt(st.buf, int64(seq%stampSlots)*stampSlotSize); err != nil {
			return fmt.Errorf("write stamps file: %w", err)
		}
		seq = end
	}
	if err := syscall.Fdatasync(int(st.f.Fd())); err != nil {
		return fmt.Errorf("sync stamps file: %w", err)
	}
	return nil
}

// close closes the file.
func (st *stamps) close() error {
	if st == nil || st.f == nil {
		return nil
	}
	return st.f.Close()
}

// stampKey is the identity of a message for the table: topic and payload.
func stampKey(topic string, payload []byte) uint64 {
	h := fnv64a(topic)
	h ^= 0xff // separator: "a"+"bc" and "ab"+"c" differ
	h *= 1099511628211
	for _, c := range payload {
		h ^= uint64(c)
		h *= 1099511628211
	}
	if h == 0 {
		h = 1 // 0 marks an empty ring slot
	}
	return h
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}
