package main

import (
	"log/slog"
	"math"
	"runtime/debug"
	"testing"
)

func TestApplyMemoryLimit(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	cases := []struct {
		name string
		env  map[string]string
		want int64
	}{
		{"none set: the default", map[string]string{}, defaultMemoryLimit},
		{"GOMEMLIMIT set: left to the runtime", map[string]string{"GOMEMLIMIT": "64MiB"}, math.MaxInt64},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			debug.SetMemoryLimit(math.MaxInt64) // as the runtime starts without GOMEMLIMIT
			applyMemoryLimit(func(k string) (string, bool) { v, ok := c.env[k]; return v, ok }, slog.New(slog.DiscardHandler))
			if got := debug.SetMemoryLimit(-1); got != c.want {
				t.Errorf("limit %d, want %d", got, c.want)
			}
		})
	}
}
