package testenv

import (
	"context"
	"sync/atomic"
	"testing"
)

// Go's goroutine runs until the test ends and has returned before the
// test's earlier cleanups.
func TestGo(t *testing.T) {
	var running, returned atomic.Bool
	t.Run("inner", func(t *testing.T) {
		t.Cleanup(func() {
			if !returned.Load() {
				t.Error("an earlier cleanup ran before run returned")
			}
		})
		started := make(chan struct{})
		Go(t, func(ctx context.Context) error {
			running.Store(true)
			close(started)
			<-ctx.Done()
			running.Store(false)
			returned.Store(true)
			return ctx.Err()
		})
		<-started
		if !running.Load() {
			t.Error("run not running during the test")
		}
	})
	if !returned.Load() || running.Load() {
		t.Errorf("after the test: returned %v, running %v", returned.Load(), running.Load())
	}
}
