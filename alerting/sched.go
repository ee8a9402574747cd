package alerting

import "time"

// sched is what a receiver's delivery loop remembers between sends: the
// occurrences being sent, those waiting out a backoff after a failure,
// whether the receiver as a whole seems down, and its rate budget. Its
// methods are pure decisions over the time passed in; only the delivery
// loop's goroutine uses it. Every map is bounded, whatever the outbox
// holds.
type sched struct {
	conc     int           // sends at a time, each for a different occurrence
	base     time.Duration // first backoff after a failure
	max      time.Duration // backoff cap
	inflight map[string]bool
	backoff  map[string]occBackoff
	// failed holds the occurrences that failed since the last delivery:
	// when downAfter different ones have, the receiver is taken to be down
	// and is probed with one send at a time until it takes one again.
	failed    map[string]bool
	downUntil time.Time
	downFails int
	budget    budget
}

type occBackoff struct {
	failures int
	retryAt  time.Time
}

const (
	// maxBackoffs bounds the occurrences remembered in backoff; beyond it
	// the one due soonest is forgotten (it is simply tried again).
	maxBackoffs = 1024
	// downAfter different occurrences failing in a row mean the receiver
	// itself is down, not one notification it refuses.
	downAfter = 3
	// maxProbePause bounds the pause between probes of a receiver that is
	// down, in units of the base backoff (Options.RetryDelay).
	maxProbePause = 5
)

func newSched(conc int, base time.Duration, b budget) *sched {
	return &sched{conc: max(conc, 1), base: base, max: 30 * base,
		inflight: map[string]bool{}, backoff: map[string]occBackoff{}, failed: map[string]bool{}, budget: b}
}

// down reports whether the receiver is taken to be down.
func (s *sched) down() bool { return len(s.failed) >= downAfter }

// slots returns how many sends may start at now.
func (s *sched) slots(now time.Time) int {
	if s.down() {
		if len(s.inflight) > 0 || now.Before(s.downUntil) {
			return 0
		}
		return 1 // a probe
	}
	return s.conc - len(s.inflight)
}

// skip reports whether occ cannot be sent at now: it is being sent or
// waits out its backoff.
func (s *sched) skip(occ string, now time.Time) bool {
	if s.inflight[occ] {
		return true
	}
	b, ok := s.backoff[occ]
	return ok && now.Before(b.retryAt)
}

func (s *sched) start(occs []string) {
	for _, o := range occs {
		s.inflight[o] = true
	}
}

// delivered records that the receiver took occs. A receiver that was down
// is back: what failed during the outage is tried again at once, most
// urgent first, instead of each waiting out the backoff the outage gave it.
func (s *sched) delivered(occs []string) {
	for _, o := range occs {
		delete(s.inflight, o)
		delete(s.backoff, o)
	}
	if s.down() {
		clear(s.backoff)
	}
	clear(s.failed)
	s.downFails = 0
}

// done records a send that ended without a retry (dead-lettered, or the
// loop is stopping).
func (s *sched) done(occs []string) {
	for _, o := range occs {
		delete(s.inflight, o)
		delete(s.backoff, o)
	}
}

// unremoved records that occs were delivered but could not be removed
// from the outbox (the store refuses writes): the receiver is fine, but
// the next send of each (the same notification again, which the receiver
// dedups on its webhook-id) waits one base backoff, so that a store that
// keeps refusing does not make the loop resend it as fast as it can.
func (s *sched) unremoved(occs []string, now time.Time) {
	s.delivered(occs)
	for _, o := range occs {
		if len(s.backoff) >= maxBackoffs {
			s.forgetSoonest()
		}
		s.backoff[o] = occBackoff{retryAt: now.Add(s.base)}
	}
}

// retry records a failed send of occs at now: each backs off,
// exponentially from base to max; and the receiver may now count as down.
func (s *sched) retry(occs []string, now time.Time) {
	for _, o := range occs {
		delete(s.inflight, o)
		b := s.backoff[o]
		b.failures++
		b.retryAt = now.Add(s.delay(b.failures))
		if _, ok := s.backoff[o]; !ok && len(s.backoff) >= maxBackoffs {
			s.forgetSoonest()
		}
		s.backoff[o] = b
		if len(s.failed) < downAfter {
			s.failed[o] = true
		}
	}
	if s.down() {
		// Probes are spaced by a short pause only: a probe of a notifier
		// that retries by itself already takes up to an attempt's time.
		s.downFails++
		s.downUntil = now.Add(min(s.delay(s.downFails), maxProbePause*s.base))
	}
}

func (s *sched) delay(failures int) time.Duration {
	d := s.base
	for i := 1; i < failures && d < s.max; i++ {
		d *= 2
	}
	return min(d, s.max)
}

func (s *sched) forgetSoonest() {
	var soonest string
	var at time.Time
	for o, b := range s.backoff {
		if soonest == "" || b.retryAt.Before(at) {
			soonest, at = o, b.retryAt
		}
	}
	delete(s.backoff, soonest)
}

// wakeAt returns when something may next be sent, given that more is
// waiting: the end of a backoff, of the receiver's pause, or of the
// budget's wait. Zero: nothing is waiting on time.
func (s *sched) wakeAt(now time.Time) time.Time {
	var at time.Time
	earlier := func(t time.Time) {
		if t.After(now) && (at.IsZero() || t.Before(at)) {
			at = t
		}
	}
	for _, b := range s.backoff {
		earlier(b.retryAt)
	}
	if s.down() {
		earlier(s.downUntil)
	}
	if s.budget.limited() {
		earlier(s.budget.readyAt(now))
	}
	return at
}

// size is how many entries the scheduler holds.
func (s *sched) size() int { return len(s.inflight) + len(s.backoff) + len(s.failed) }

// notePeak records the most entries the receiver's scheduler has held
// (it stays bounded whatever the outbox holds; tests check it).
func (rc *receiver) notePeak(s *sched) {
	n := int64(s.size())
	for {
		p := rc.peak.Load()
		if n <= p || rc.peak.CompareAndSwap(p, n) {
			return
		}
	}
}
