package alerting

import (
	"math"
	"slices"
	"time"
)

// This file holds the condition decisions: pure functions from a sample (or
// the passage of time) and the previous condition state to the next one.
// They do no I/O and read no clock; the engine passes `now`.

// condState is where one (rule, device, point) condition stands.
type condState struct {
	// Level is the level in force: an index into rule.levels, -1 = normal.
	Level int
	// Target is the level the latest evaluation asked for; when it differs
	// from Level, Since is when the move in that direction began, and the
	// move happens once it has persisted for on_delay (worsening) or
	// off_delay (improving).
	Target int
	Since  time.Time
}

// normalState is the state of a condition that has never been breached.
var normalState = condState{Level: -1, Target: -1}

// target returns the level that value x breaches, given the level cur in
// force (-1 = normal): the worst breached level. A level is breached at or
// beyond its limit; a level at or below cur in the same direction stays
// breached until x is back past limit ∓ deadband (hysteresis), so a value
// wobbling around a limit does not flap. NaN breaches nothing.
func (r *rule) target(x float64, cur int) int {
	if math.IsNaN(x) {
		return cur
	}
	best := -1
	for i := range r.levels {
		l := &r.levels[i]
		limit := l.limit
		if cur >= 0 && r.levels[cur].above == l.above && l.extreme <= r.levels[cur].extreme {
			if l.above {
				limit -= r.deadband
			} else {
				limit += r.deadband
			}
		}
		hit := x >= limit
		if !l.above {
			hit = x <= limit
		}
		if hit && (best < 0 || r.more(i, best)) {
			best = i
		}
	}
	return best
}

// step moves s towards target, applying the rule's delays: a worsening must
// persist for on_delay, an improvement (a lower level or normal) for
// off_delay. A reversal of direction restarts the wait. It returns the new
// state; the level in force changed when the result's Level differs from s.Level.
func (r *rule) step(s condState, target int, now time.Time) condState {
	if target == s.Level {
		return condState{Level: s.Level, Target: target}
	}
	up := r.up(s.Level, target)
	if s.Since.IsZero() || s.Target == s.Level || r.up(s.Level, s.Target) != up {
		s.Since = now
	}
	s.Target = target
	delay := r.offDelay
	if up {
		delay = r.onDelay
	}
	if now.Sub(s.Since) >= delay {
		return condState{Level: target, Target: target}
	}
	return s
}

// resetPending forgets a move in progress: used when a device fails a poll,
// since the condition can no longer be said to have persisted.
func (s condState) resetPending() condState {
	return condState{Level: s.Level, Target: s.Level}
}

// stateValue turns a boolean sample into the value a state rule's single
// level (limit 0.5) compares against.
func (r *rule) stateValue(b bool) float64 {
	if b == r.stateWant {
		return 1
	}
	return 0
}

// rateBuckets is how finely a rate window is resolved: the window `per` is
// cut into this many buckets, each keeping its smallest sample, so a
// window costs a fixed small amount of memory whatever the sample rate.
const rateBuckets = 32

// rateWindow keeps the minimum of the good samples seen in each bucket of
// the last `per`, to compute how much a value rose over the window.
type rateWindow struct {
	width int64 // bucket width in ns
	last  int64 // newest bucket index seen
	seen  bool
	idx   [rateBuckets]int64
	min   [rateBuckets]float64
	valid [rateBuckets]bool
}

func newRateWindow(per time.Duration) *rateWindow {
	w := int64(per) / rateBuckets
	if w <= 0 {
		w = 1
	}
	return &rateWindow{width: w}
}

// add records sample v taken at t and returns the rise over the window: v
// minus the smallest sample within the last `per` (resolved to per/32).
// A sample older than the window is ignored and reports no rise.
func (w *rateWindow) add(t time.Time, v float64) float64 {
	b := t.UnixNano() / w.width
	if w.seen && b <= w.last-rateBuckets {
		return 0
	}
	if !w.seen || b > w.last {
		w.last, w.seen = b, true
	}
	slot := int(uint64(b) % rateBuckets)
	if !w.valid[slot] || w.idx[slot] != b {
		w.idx[slot], w.valid[slot], w.min[slot] = b, true, v
	} else if v < w.min[slot] {
		w.min[slot] = v
	}
	lo := v
	for i := range rateBuckets {
		if w.valid[i] && w.idx[i] > w.last-rateBuckets && w.min[i] < lo {
			lo = w.min[i]
		}
	}
	return v - lo
}

// deviceSeen is what the engine knows of one device's liveness.
type deviceSeen struct {
	Interval time.Duration // poll interval (Modbus), 0 if unknown (MQTT)
	LastSeen time.Time     // last data or online=true, or when watching began
	Failures int           // consecutive online=false reports since LastSeen
}

// staleTarget decides whether a device is offline for rule r at now: the
// rule's level 0 or -1.
//
// With `after: N` intervals: offline once N polls in a row failed, or no
// data came for N poll intervals (a device whose interval is unknown, such
// as an MQTT device, is offline as soon as its source reports it offline).
// With `after: D` (a duration): offline once no data came for D, or its
// source reported it offline and the device has no poll interval (MQTT
// sources apply their own silence window before they report).
func (r *rule) staleTarget(d deviceSeen, now time.Time) int {
	silent := now.Sub(d.LastSeen)
	var off bool
	if r.staleIntervals > 0 {
		n := r.staleIntervals
		switch {
		case d.Interval > 0:
			off = d.Failures >= n || silent >= time.Duration(n)*d.Interval
		default:
			off = d.Failures > 0
		}
	} else {
		off = silent >= r.staleFor || d.Interval == 0 && d.Failures > 0
	}
	if off {
		return 0
	}
	return -1
}

// eventMatches reports whether an event of type typ with confidence conf
// raises rule r.
func (r *rule) eventMatches(typ string, conf float64) bool {
	if math.IsNaN(conf) || conf < r.minConf {
		return false
	}
	return len(r.eventTypes) == 0 || slices.Contains(r.eventTypes, typ)
}
