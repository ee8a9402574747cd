package testenv

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Tmpfs mounts a tmpfs of size ("16m", as mount(8) takes it) on dir,
// creating dir first, or on a new temporary directory when dir is "", and
// unmounts it when the test ends; it returns the directory. A test of a
// full disk fills it (FillDisk) instead of the machine's own disk.
// Mounting needs root: without it the test fails, saying so.
func Tmpfs(t testing.TB, dir, size string) string {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Fatalf("testenv: mount a %s tmpfs on %s (the test needs root): %v", size, dir, err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// FillDisk writes the file path until the file system holding it has no
// more than leave bytes free (rounded to its blocks). With leave 0 it
// writes until the file system refuses even one more byte, as a runaway
// log file would. Removing path frees the space again.
func FillDisk(t testing.TB, path string, leave int64) {
	t.Helper()
	if leave > 0 {
		if n := FreeBytes(t, filepath.Dir(path)) - leave; n > 0 {
			if err := os.WriteFile(path, make([]byte, n), 0o600); err != nil {
				t.Fatalf("testenv: fill the disk: %v", err)
			}
		}
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatalf("testenv: fill the disk: %v", err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for _, size := range []int{64 << 10, 4096, 1} {
		for {
			if _, err := f.Write(chunk[:size]); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("testenv: fill the disk: %v", err)
				}
				break
			}
		}
	}
}

// FreeBytes is the space left to an unprivileged writer on the file
// system holding dir.
func FreeBytes(t testing.TB, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return int64(st.Bavail) * int64(st.Bsize)
}
