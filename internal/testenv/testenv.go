package testenv

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"
)

// readyTimeout bounds how long a server may take to become ready. Starting
// takes well under a second on an idle machine; the margin is for shared,
// noisy machines running the race detector on every core.
const readyTimeout = 30 * time.Second

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. Another
// process may take it before the caller binds it; Mosquitto and InfluxDB retry
// on fresh ports when that happens. The port comes from the kernel's ephemeral
// range, so it never collides with a system service on a well-known port.
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return port
}

// FreePorts returns n distinct free ports on 127.0.0.1, for a process that
// binds several at once: calling FreePort n times can return one port twice,
// because each is released before the next is chosen.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("testenv: find a free port: %v", err)
		}
		defer l.Close() // held until all are chosen, so that they differ
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Eventually polls cond until it returns true and fails the test with the
// formatted message if that does not happen within timeout. cond runs on the
// calling goroutine, first immediately, then at intervals growing from 1 ms to
// 50 ms, and once more at the deadline.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, msgf string, args ...any) {
	t.Helper()
	if !poll(timeout, cond) {
		t.Fatalf("testenv: not true after %v: %s", timeout, fmt.Sprintf(msgf, args...))
	}
}

// poll reports whether cond became true within timeout.
func poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	wait := time.Millisecond
	for {
		if cond() {
			return true
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		timer := time.NewTimer(min(wait, left))
		<-timer.C
		wait = min(2*wait, 50*time.Millisecond)
	}
}

// Clock is a settable clock for code that takes a `now func() time.Time`;
// safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock standing at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Set puts the clock at t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}
