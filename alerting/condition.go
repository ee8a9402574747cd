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

// stateValue turns a boolean sample into the value a state rule's single
// level (limit 0.5) compares against.
func (r *rule) stateValue(b bool) float64 {
	if b == r.stateWant {
		return 1
	}
	return 0
}

// maxRateSamples bounds the readings a rate window keeps: past it, every
// other older reading is dropped, so a fast poll rate costs a fixed amount
// of memory and the slope still spans the whole window.
const maxRateSamples = 128

// rateWindow keeps the good readings of the last `per` and computes their
// rate of change: the least-squares slope, scaled to `per`, made robust to
// a single outlier by taking, of the slopes with each reading left out in
// turn, the one least in the alarm's direction (the smallest for a rise,
// the largest for a fall). One bad reading can therefore never raise the
// alarm on its own, while a real steady change moves every one of them.
type rateWindow struct {
	per    time.Duration
	rising bool // the rule alarms a rise (above), else a fall (below)
	t      []int64
	v      []float64
}

func newRateWindow(per time.Duration, rising bool) *rateWindow {
	return &rateWindow{per: per, rising: rising}
}

// add records reading v taken at t and returns the robust slope of the
// window per `per`. ok is false while the window holds fewer than 3
// readings or they span less than half of `per`: then the rate is unknown
// and the condition neither raises nor clears. A reading not newer than the
// newest is ignored (ok false).
func (w *rateWindow) add(t time.Time, v float64) (slope float64, ok bool) {
	ns := t.UnixNano()
	if n := len(w.t); n > 0 && ns <= w.t[n-1] {
		return 0, false
	}
	w.t, w.v = append(w.t, ns), append(w.v, v)
	cut := 0
	for cut < len(w.t) && w.t[cut] < ns-int64(w.per) {
		cut++
	}
	if cut > 0 {
		w.t, w.v = slices.Delete(w.t, 0, cut), slices.Delete(w.v, 0, cut)
	}
	if len(w.t) > maxRateSamples {
		w.thin()
	}
	n := len(w.t)
	if n < 3 || w.t[n-1]-w.t[0] < int64(w.per)/2 {
		return 0, false
	}
	return w.robustSlope() * w.per.Seconds(), true
}

// thin drops every other reading but the newest, keeping the window's span.
func (w *rateWindow) thin() {
	n := len(w.t)
	j := 0
	for i := 0; i < n; i++ {
		if i%2 == 0 || i == n-1 {
			w.t[j], w.v[j] = w.t[i], w.v[i]
			j++
		}
	}
	w.t, w.v = w.t[:j], w.v[:j]
}

// robustSlope is the leave-one-out least-squares slope (units per second)
// least in the alarm's direction. Times are taken relative to the newest
// reading so the sums stay exact enough.
func (w *rateWindow) robustSlope() float64 {
	n := len(w.t)
	base := w.t[n-1]
	var sx, sy, sxx, sxy float64
	for i := range n {
		x := float64(w.t[i]-base) / 1e9
		sx, sy, sxx, sxy = sx+x, sy+w.v[i], sxx+x*x, sxy+x*w.v[i]
	}
	best, have := 0.0, false
	for i := range n {
		x, y := float64(w.t[i]-base)/1e9, w.v[i]
		m := float64(n - 1)
		ax, ay, axx, axy := sx-x, sy-y, sxx-x*x, sxy-x*y
		den := m*axx - ax*ax
		if den <= 0 {
			continue
		}
		b := (m*axy - ax*ay) / den
		if !have || w.rising && b < best || !w.rising && b > best {
			best, have = b, true
		}
	}
	return best
}

// deviceSeen is what the engine knows of one device's liveness.
type deviceSeen struct {
	Interval time.Duration // poll interval (Modbus), 0 if unknown (MQTT)
	// LastGood is when the device last gave a good reading (or one bad only
	// because of its fault, which has a rule of its own), or when watching
	// began.
	LastGood time.Time
	Failures int  // consecutive failed polls or offline reports since LastGood
	BadValue bool // the device answered last time, with bad values (nan, out_of_range)
}

// Levels of a stale rule (rule.levels indexes).
const (
	staleOffline  = 0 // no answer: failed polls, silence, broker down
	staleBadValue = 1 // answering, but with no good reading
)

// staleTarget decides whether a device is stale for rule r at now, and
// why: staleOffline, staleBadValue, or -1 (not stale). Whatever the cause,
// a device is stale once it has had no good reading for long enough:
//
// With `after: N` intervals: N polls in a row failed, or no good reading
// came for N poll intervals (a device whose interval is unknown, such as
// an MQTT device, is stale as soon as its source reports it offline: the
// source applies the device's own silence limit). With `after: D` (a
// duration): no good reading for D, or its source reported it offline and
// the device has no poll interval.
//
// It is offline unless the device still answers with bad values.
func (r *rule) staleTarget(d deviceSeen, now time.Time) int {
	silent := now.Sub(d.LastGood)
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
	switch {
	case !off:
		return -1
	case d.Failures == 0 && d.BadValue:
		return staleBadValue
	}
	return staleOffline
}

// eventMatches reports whether an event of type typ with confidence conf
// raises rule r.
func (r *rule) eventMatches(typ string, conf float64) bool {
	if math.IsNaN(conf) || conf < r.minConf {
		return false
	}
	return len(r.eventTypes) == 0 || slices.Contains(r.eventTypes, typ)
}
