// Package logx keeps repeated log lines on the data path from flooding the
// log: a Limiter lets the first line of a kind through, lets a line through
// at once when its state changes (a different error, say), and otherwise at
// most one per interval, reporting how many it held back in between.
//
// A Limiter is safe for concurrent use. Its zero value is not usable; use New.
//
//	lim := logx.New(10*time.Second, nil)
//	if ok, n := lim.Allow("commit", err.Error()); ok {
//		log.Error("commit to spool failed", "err", err, "suppressed", n)
//	}
package logx

import (
	"errors"
	"sync"
	"syscall"
	"time"
)

// DefaultEvery is the summary interval used when New is given zero.
const DefaultEvery = 10 * time.Second

// A Limiter decides which of a repeated log line's occurrences are written.
// Keys are fixed names chosen by the caller (one per log statement, or per
// statement and link); their number must stay small.
type Limiter struct {
	every time.Duration
	now   func() time.Time
	mu    sync.Mutex
	keys  map[string]*state
}

type state struct {
	last       time.Time
	text       string
	suppressed int
}

// New returns a Limiter that lets a repeated, unchanged line through at most
// once per every (DefaultEvery if zero), reading time from now (time.Now if nil).
func New(every time.Duration, now func() time.Time) *Limiter {
	if every <= 0 {
		every = DefaultEvery
	}
	if now == nil {
		now = time.Now
	}
	return &Limiter{every: every, now: now, keys: make(map[string]*state)}
}

// Allow reports whether the line for key, whose current state is text (for
// example the error message), should be logged now, and if so how many of
// its occurrences were held back since the last one logged. A line is let
// through the first time, whenever text differs from the last logged text,
// and when every has passed since the last one logged.
func (l *Limiter) Allow(key, text string) (ok bool, suppressed int) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.keys[key]
	if st == nil {
		st = &state{}
		l.keys[key] = st
	} else if text == st.text && now.Sub(st.last) < l.every {
		st.suppressed++
		return false, 0
	}
	suppressed, st.suppressed, st.last, st.text = st.suppressed, 0, now, text
	return true, suppressed
}

// Reset forgets key, so that its next line is logged at once: call it when
// the condition the line reports has ended (a commit succeeded again).
// It returns how many occurrences were held back and never reported.
func (l *Limiter) Reset(key string) (suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if st := l.keys[key]; st != nil {
		suppressed = st.suppressed
		delete(l.keys, key)
	}
	return suppressed
}

// Cause is the text of err to compare for "has the state changed": the
// system error it wraps (ENOSPC's "no space left on device") when there is
// one, else the whole message. Messages that name a temporary file or the
// bytes left free differ every time and would let every line through.
func Cause(err error) string {
	if err == nil {
		return ""
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	return err.Error()
}
