package testenv

import (
	"context"
	"testing"
)

// Go runs run (a component's Run) in a goroutine until the test ends:
// then it cancels run's context and waits for it to return, before the
// cleanups registered earlier (a temporary directory, a server) run. What
// run returns is not looked at: a test that cares stops it itself.
func Go(t testing.TB, run func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}
