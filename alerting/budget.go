package alerting

import "time"

// budget is a receiver's rate budget (notify[].rate) as a token bucket:
// n messages per period, refilled continuously, starting full. A budget
// with n <= 0 never runs out. It is a pure value: the caller passes the
// time.
type budget struct {
	n      int
	per    time.Duration
	tokens float64
	at     time.Time
}

func newBudget(r RateBudget, now time.Time) budget {
	if r.N <= 0 || r.Per <= 0 {
		return budget{}
	}
	return budget{n: r.N, per: r.Per, tokens: float64(r.N), at: now}
}

// limited reports whether the budget can run out.
func (b *budget) limited() bool { return b.n > 0 }

// avail returns the messages that may be sent at now.
func (b *budget) avail(now time.Time) float64 {
	if !b.limited() {
		return 1 << 30
	}
	if now.After(b.at) {
		b.tokens += float64(now.Sub(b.at)) / float64(b.per) * float64(b.n)
		b.at = now
		if b.tokens > float64(b.n) {
			b.tokens = float64(b.n)
		}
	}
	return b.tokens
}

// take spends one message.
func (b *budget) take(now time.Time) {
	if b.limited() {
		b.avail(now)
		b.tokens--
	}
}

// readyAt returns when the next message may be sent.
func (b *budget) readyAt(now time.Time) time.Time {
	a := b.avail(now)
	if a >= 1 {
		return now
	}
	return now.Add(time.Duration((1-a)/float64(b.n)*float64(b.per)) + time.Microsecond)
}

// lastOne reports whether the message about to be sent spends what is
// left: then what waits is merged into it (for a BatchNotifier).
func (b *budget) lastOne(now time.Time) bool {
	return b.limited() && b.avail(now) < 2
}
