package alerting

import (
	"slices"
	"testing"
	"time"
)

// taken tells the engine the receivers took everything in their outboxes,
// as delivery would (the sync engine delivers nothing): the next reminder
// may be queued. The notifications stay listed for notes().
func (s *syncEngine) taken() {
	s.t.Helper()
	for _, rc := range s.e.receivers {
		var hs []head
		for _, m := range outboxOf(s.t, s.e, rc.name) {
			hs = append(hs, head{msg: m})
		}
		s.e.settled(rc, hs)
	}
}

// TestRemindersWhileTheDeskIsDown: while a reminder waits undelivered, no
// second one is queued for that alert and receiver, so a desk back after
// ten intervals gets the one reminder, then the next when it is due.
func TestRemindersWhileTheDeskIsDown(t *testing.T) {
	s := newSyncEngine(t, "", quietRules, 15*time.Minute)
	s.poll("GD-101", 30)
	s.poll("GD-102", 57)
	for range 150 { // 150 minutes, ten intervals, nothing delivered
		s.clock.Add(time.Minute)
		s.tick()
	}
	eq(t, "while the desk is down", sortedNotes(s.notes()), []string{"alert.firing high yellow", "alert.firing high-high red",
		"alert.reminder high yellow", "alert.reminder high-high red"})
	s.taken() // the desk is back and takes them
	s.tick()
	eq(t, "once it took them", sortedNotes(s.notes()[4:]), []string{"alert.reminder high yellow", "alert.reminder high-high red"})
	s.taken()
	s.clock.Add(14 * time.Minute)
	s.tick()
	eq(t, "before the next interval", sortedNotes(s.notes()[6:]), nil)
	s.clock.Add(time.Minute)
	s.tick()
	eq(t, "the next interval", sortedNotes(s.notes()[6:]), []string{"alert.reminder high yellow", "alert.reminder high-high red"})
}

// sortedNotes sorts notes: the alerts of one tick come in no set order.
func sortedNotes(notes []string) []string {
	if len(notes) == 0 {
		return nil
	}
	return slices.Sorted(slices.Values(notes))
}
