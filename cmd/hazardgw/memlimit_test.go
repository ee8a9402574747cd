package main

import (
	"log/slog"
	"math"
	"runtime/debug"
	"testing"
)

func TestApplyMemoryLimit(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	prevGC := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetMemoryLimit(prev); debug.SetGCPercent(prevGC) })
	cases := []struct {
		name   string
		env    map[string]string
		want   int64
		wantGC int
	}{
		{"none set: the defaults", map[string]string{}, defaultMemoryLimit, defaultGCPercent},
		{"GOMEMLIMIT set: left to the runtime", map[string]string{"GOMEMLIMIT": "64MiB"}, math.MaxInt64, defaultGCPercent},
		{"GOGC set: left to the runtime", map[string]string{"GOGC": "100"}, defaultMemoryLimit, 100},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			debug.SetMemoryLimit(math.MaxInt64) // as the runtime starts without GOMEMLIMIT
			debug.SetGCPercent(100)             // as the runtime starts without GOGC (or with GOGC=100)
			applyMemoryLimit(func(k string) (string, bool) { v, ok := c.env[k]; return v, ok }, slog.New(slog.DiscardHandler))
			if got := debug.SetMemoryLimit(-1); got != c.want {
				t.Errorf("limit %d, want %d", got, c.want)
			}
			if got := debug.SetGCPercent(100); got != c.wantGC {
				t.Errorf("GC percent %d, want %d", got, c.wantGC)
			}
		})
	}
}
