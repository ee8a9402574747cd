package alerting

import (
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// DefaultStoreReserve is how much disk space the alert store keeps
// allocated beyond what it uses (Options.StoreReserve).
//
// Every alarm is committed to alerts.db before it is sent, so a disk
// filled to the last byte by something else (a runaway log, another
// program) would otherwise hold back every alarm until space returns. The
// reserve is real, allocated blocks of alerts.db itself, not free space
// that anyone may take: bbolt writes its new pages into them, and a write
// within allocated blocks needs no free space. A red transition commits
// a few pages (its alert, its notifications, its `alert` point), most of
// them reused from the pages the previous commits freed: 4 MiB carries a
// full disk through about a thousand new alarms, each with its record and
// its `alert` point waiting for the spool — some 4 KiB each (measured with
// TestStoreReserveOnFullDisk).
const DefaultStoreReserve = 4 << 20

// reserveStep rounds the reserve's end, so that it is not extended by a
// page at a time.
const reserveStep = 64 << 10

// reserve keeps the blocks of the alert store's file allocated up to its
// data plus size. It uses fallocate (mode 0: the file's size grows with
// it, which bbolt tolerates — it compares its data with the file's size
// before growing it, and never shrinks it). On a copy-on-write file system
// (btrfs, ZFS) allocated blocks do not guarantee a later write: there the
// reserve helps less, and TestStoreReserveOnFullDisk says what holds on
// tmpfs and ext4.
type reserve struct {
	size int64
	log  *slog.Logger

	mu    sync.Mutex
	f     *os.File
	held  int64     // blocks allocated through this offset
	short bool      // the latest top-up failed
	retry time.Time // when a failed top-up is tried again
	off   bool      // the file system cannot allocate ahead: no reserve
}

func newReserve(path string, size int64, log *slog.Logger) (*reserve, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open alert store for its reserve: %w", err)
	}
	return &reserve{f: f, size: size, log: log}, nil
}

// ensure keeps at least size bytes allocated past used, the end of the
// store's data. Once less is left it allocates half as much again on top,
// so that steady commits cost nothing but this comparison. A failure is
// logged once, as is the recovery.
func (r *reserve) ensure(used int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.off || r.f == nil || (!r.short && used+r.size <= r.held) {
		return
	}
	if r.short && time.Now().Before(r.retry) {
		return // a full disk is not asked again on every commit
	}
	want := (used + r.size + r.size/2 + reserveStep - 1) / reserveStep * reserveStep
	err := allocate(r.f, want)
	switch {
	case err == nil:
		r.held = want
		if r.short {
			r.short = false
			r.log.Info("alert store reserve restored", "reserve_bytes", r.held-used)
		}
	case isUnsupported(err):
		r.off = true
		r.log.Warn("the file system cannot allocate the alert store's reserve; on a disk filled by something else, alarms wait for space", "err", err)
	case !r.short:
		r.short = true
		r.retry = time.Now().Add(time.Second)
		r.log.Error("alert store reserve cannot be topped up; alarms are still committed while what is left of it lasts",
			"reserve_bytes", max(r.held-used, 0), "want_bytes", r.size, "err", err)
	default:
		r.retry = time.Now().Add(time.Second)
	}
}

// left is how many allocated bytes are left past used.
func (r *reserve) left(used int64) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return max(r.held-used, 0)
}

func (r *reserve) close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}

// used is the end of the store's data: bbolt's high-water mark.
func used(db *bolt.DB) int64 {
	var n int64
	_ = db.View(func(tx *bolt.Tx) error {
		n = tx.Size()
		return nil
	})
	return n
}
