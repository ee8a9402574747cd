package mqtt

import (
	"sync"
	"time"
)

// logLimiter lets through at most one log line per key per interval and
// counts the ones it held back, so that a device spewing bad payloads
// cannot flood the log while its rate stays visible.
type logLimiter struct {
	every time.Duration
	mu    sync.Mutex
	keys  map[reason]*limitState
}

type limitState struct {
	last       time.Time
	suppressed int
}

func newLogLimiter(every time.Duration) *logLimiter {
	return &logLimiter{every: every, keys: make(map[reason]*limitState)}
}

// allow reports whether a line for key may be logged at now and, if so,
// how many lines for key were suppressed since the last one.
func (l *logLimiter) allow(key reason, now time.Time) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.keys[key]
	if st == nil {
		st = &limitState{}
		l.keys[key] = st
	}
	if !st.last.IsZero() && now.Sub(st.last) < l.every {
		st.suppressed++
		return false, 0
	}
	suppressed, st.suppressed, st.last = st.suppressed, 0, now
	return true, suppressed
}
