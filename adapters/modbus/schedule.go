package modbus

import "time"

// nextSlot returns when a device whose poll was scheduled at sched is due
// next, given that the poll finished at now. Slots are anchored to the
// first one (sched + interval, not now + interval), so the schedule does not
// drift. If the next slot is already late by more than an interval, the
// slots that can no longer be kept are skipped and counted: the device is
// then polled at once, on the latest slot not after now.
func nextSlot(sched time.Time, interval time.Duration, now time.Time) (next time.Time, missed int) {
	next = sched.Add(interval)
	late := now.Sub(next)
	if late <= interval {
		return next, 0
	}
	missed = int(late / interval)
	return next.Add(time.Duration(missed) * interval), missed
}

// earliest returns the index of the earliest time in due, the first one on
// a tie, so that devices due together are polled in configuration order.
// due must not be empty. A link has at most a few hundred devices (247
// addresses on a bus), so a scan costs less than keeping a heap in order.
func earliest(due []time.Time) int {
	best := 0
	for i := 1; i < len(due); i++ {
		if due[i].Before(due[best]) {
			best = i
		}
	}
	return best
}

// backoff returns how long to wait before the next connection attempt after
// failures consecutive failed ones (failures ≥ 1): minBackoff doubled per
// further failure, capped at limit, then spread by jitter (in [0,1)) over
// [50%, 100%] of that so that links to one dead gateway do not reconnect in
// lockstep.
func backoff(failures int, limit time.Duration, jitter float64) time.Duration {
	d := minBackoff
	for i := 1; i < failures && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	return d/2 + time.Duration(float64(d/2)*jitter)
}
