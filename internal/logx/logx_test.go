package logx

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := New(10*time.Second, func() time.Time { return now })
	type step struct {
		advance    time.Duration
		key, text  string
		ok         bool
		suppressed int
	}
	steps := []step{
		{0, "a", "disk full", true, 0},            // first line
		{time.Second, "a", "disk full", false, 0}, // repeat within the interval
		{time.Second, "a", "disk full", false, 0},
		{0, "b", "disk full", true, 0},               // other keys are independent
		{time.Second, "a", "io error", true, 2},      // changed text: at once, with the count
		{time.Second, "a", "io error", false, 0},     //
		{10 * time.Second, "a", "io error", true, 1}, // summary after the interval
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		ok, n := l.Allow(s.key, s.text)
		if ok != s.ok || n != s.suppressed {
			t.Fatalf("step %d (%s %q): got (%v, %d), want (%v, %d)", i, s.key, s.text, ok, n, s.ok, s.suppressed)
		}
	}
	l.Allow("a", "io error")
	if n := l.Reset("a"); n != 1 {
		t.Fatalf("Reset: %d suppressed, want 1", n)
	}
	if ok, _ := l.Allow("a", "io error"); !ok {
		t.Fatal("after Reset the line is not logged at once")
	}
}

// A flood of identical lines for a minute yields one line per interval.
func TestLimiterFlood(t *testing.T) {
	now := time.Unix(0, 0)
	l := New(10*time.Second, func() time.Time { return now })
	logged, held := 0, 0
	for i := 0; i < 60_000; i++ { // one per millisecond
		ok, n := l.Allow("commit", "disk full")
		if ok {
			logged++
			held += n
		}
		now = now.Add(time.Millisecond)
	}
	if logged != 6 {
		t.Fatalf("%d lines logged in 60s, want 6", logged)
	}
	if logged+held+l.Reset("commit") != 60_000 {
		t.Fatalf("logged %d + reported suppressed %d do not account for 60000", logged, held)
	}
}

func TestCause(t *testing.T) {
	a := fmt.Errorf("append to spool: %w: %d bytes free", syscall.ENOSPC, 4096)
	b := fmt.Errorf("write /data/x.tmp-123: %w", &os.PathError{Op: "write", Path: "/data/x.tmp-123", Err: syscall.ENOSPC})
	if Cause(a) != Cause(b) || Cause(a) != syscall.ENOSPC.Error() {
		t.Errorf("causes %q and %q, want both %q", Cause(a), Cause(b), syscall.ENOSPC.Error())
	}
	if c := Cause(errors.New("spool closed")); c != "spool closed" {
		t.Errorf("cause of a plain error: %q", c)
	}
	if Cause(nil) != "" {
		t.Error("cause of nil")
	}
}
