package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// TestFillDisk fills a 1 MiB tmpfs to within 256 KiB of full, then to the
// last byte, and frees it again.
func TestFillDisk(t *testing.T) {
	dir := Tmpfs(t, filepath.Join(t.TempDir(), "data"), "1m")
	total := FreeBytes(t, dir)
	if total <= 512<<10 || total > 1<<20 {
		t.Fatalf("a 1 MiB tmpfs has %d bytes free", total)
	}
	const leave = 256 << 10
	filler := filepath.Join(dir, "filler")
	FillDisk(t, filler, leave)
	if n := FreeBytes(t, dir); n > leave || n < leave-64<<10 {
		t.Errorf("filled leaving %d: %d bytes free", leave, n)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	FillDisk(t, filler, 0)
	if n := FreeBytes(t, dir); n != 0 {
		t.Errorf("filled to the last byte: %d bytes free", n)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if n := FreeBytes(t, dir); n != total {
		t.Errorf("freed: %d bytes free, want %d", n, total)
	}
}
