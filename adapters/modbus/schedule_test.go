package modbus

import (
	"testing"
	"time"
)

func TestNextSlot(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	const i = time.Second
	ms := time.Millisecond
	for _, c := range []struct {
		name       string
		done       time.Duration // when the poll finished, after t0 (the slot it was scheduled at)
		interval   time.Duration
		wantNext   time.Duration
		wantMissed int
	}{
		{"on time", 5 * ms, i, i, 0},
		{"slow poll does not drift", 900 * ms, i, i, 0},
		{"next slot already due", 1500 * ms, i, i, 0},     // late by 0.5 interval: poll at once, keep the slot
		{"late by exactly an interval", 2 * i, i, i, 0},   // not more than an interval
		{"late by more than one", 2001 * ms, i, 2 * i, 1}, // slot 1 s skipped, 2 s is due
		{"late by several", 5500 * ms, i, 5 * i, 4},
		{"fast interval", 1234 * ms, 100 * ms, 1200 * ms, 11},
	} {
		next, missed := nextSlot(t0, c.interval, t0.Add(c.done))
		if next != t0.Add(c.wantNext) || missed != c.wantMissed {
			t.Errorf("%s: next %v missed %d; want %v, %d", c.name, next.Sub(t0), missed, c.wantNext, c.wantMissed)
		}
		// The next slot is never more than one interval behind the clock.
		if late := t0.Add(c.done).Sub(next); late > c.interval {
			t.Errorf("%s: next slot %v behind", c.name, late)
		}
	}
}

// TestNextSlotNoDrift runs a device for 1000 polls that each take a
// varying time: its slots stay exactly on the grid.
func TestNextSlotNoDrift(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	const interval = 250 * time.Millisecond
	sched := t0
	for k := range 1000 {
		done := sched.Add(time.Duration(k%7) * 30 * time.Millisecond)
		next, missed := nextSlot(sched, interval, done)
		if missed != 0 {
			t.Fatalf("poll %d: missed %d", k, missed)
		}
		sched = next
	}
	if want := t0.Add(1000 * interval); !sched.Equal(want) {
		t.Errorf("after 1000 polls at %v: %v, want %v", interval, sched.Sub(t0), want.Sub(t0))
	}
}

func TestEarliest(t *testing.T) {
	t0 := time.Unix(0, 0)
	at := func(ms ...int) []time.Time {
		var out []time.Time
		for _, m := range ms {
			out = append(out, t0.Add(time.Duration(m)*time.Millisecond))
		}
		return out
	}
	for _, c := range []struct {
		due  []time.Time
		want int
	}{
		{at(5), 0},
		{at(5, 3, 9), 1},
		{at(3, 3, 3), 0}, // ties: configuration order
		{at(9, 4, 4), 1},
		{at(9, 8, 7, 6, 5, 4, 3, 2, 1, 0), 9},
	} {
		if got := earliest(c.due); got != c.want {
			t.Errorf("earliest(%v) = %d, want %d", c.due, got, c.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	const limit = 30 * time.Second
	for _, c := range []struct {
		failures int
		jitter   float64
		want     time.Duration
	}{
		{1, 0, 50 * time.Millisecond}, // half of 100ms
		{1, 0.999999, 100 * time.Millisecond},
		{2, 0, 100 * time.Millisecond},
		{3, 0.5, 300 * time.Millisecond}, // 400ms × 0.75
		{9, 0, 12800 * time.Millisecond},
		{10, 0, 15 * time.Second}, // 51.2s capped at 30s, halved
		{10, 0.999999, limit},
		{1000, 0.5, 22500 * time.Millisecond},
	} {
		got := backoff(c.failures, limit, c.jitter)
		if d := got - c.want; d < -time.Millisecond || d > time.Millisecond {
			t.Errorf("backoff(%d, %v) = %v, want %v", c.failures, c.jitter, got, c.want)
		}
	}
	// Never above the cap, never below half of it once reached, and a cap
	// below the minimum is honoured.
	for n := 1; n < 100; n++ {
		for _, j := range []float64{0, 0.3, 0.999} {
			if d := backoff(n, limit, j); d > limit || d <= 0 {
				t.Fatalf("backoff(%d, %v) = %v", n, j, d)
			}
		}
	}
	if d := backoff(5, 10*time.Millisecond, 0.999); d > 10*time.Millisecond {
		t.Errorf("cap below minimum: %v", d)
	}
}
