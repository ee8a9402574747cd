package alerting

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// TestEnginePropertyQuality drives GD-101 through random sequences of
// good, failed, NaN, out-of-range and faulted polls, maintenance,
// acknowledgements, silences and restarts, and checks after every step:
//
//   - no return to normal of the gas alarm is emitted while the last
//     reading of ch4 is not good;
//   - every occurrence's notifications are in order (firing first,
//     nothing but an acknowledgement after it ended) and none is emitted
//     twice.
func TestEnginePropertyQuality(t *testing.T) {
	seeds := 20
	if testing.Short() {
		seeds = 6
	}
	for seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { propertyRun(t, uint64(seed)) })
	}
}

func propertyRun(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	rules := append([]RuleConfig(nil), testRules...)
	rules[0].OnDelay = time.Duration(rng.IntN(3)) * time.Second
	rules[0].OffDelay = time.Duration(rng.IntN(3)) * time.Second
	s := newSyncEngine(t, "", rules, 5*time.Second)
	seen := 0
	lastGood := true // the last ch4 reading was good
	maint := false
	ids := map[string]bool{}
	type occ struct{ ended bool }
	occs := map[string]*occ{}
	var log []string
	for step := range 300 {
		var op string
		switch k := rng.IntN(20); {
		case k < 8:
			v := float64(rng.IntN(80))
			op = fmt.Sprintf("good %v", v)
			s.mpoll(true, map[bool]string{true: "uncertain", false: "good"}[maint], map[bool]string{true: "maintenance", false: ""}[maint], &v, false, maint)
			lastGood = !maint
		case k < 10:
			op = "failed"
			s.mpoll(false, "bad", "no_reply", nil, false, maint)
			lastGood = false
		case k < 11:
			op = "nan"
			s.mpoll(true, "bad", "nan", nil, false, maint)
			lastGood = false
		case k < 12:
			op = "out_of_range"
			s.mpoll(true, "bad", "out_of_range", nil, false, maint)
			lastGood = false
		case k < 14:
			op = "fault"
			s.mpoll(true, "bad", "fault", nil, true, maint)
			lastGood = false
		case k < 15:
			maint = !maint
			op = fmt.Sprintf("maintenance %v", maint)
			v := float64(rng.IntN(80))
			q, r := "good", ""
			if maint {
				q, r = "uncertain", "maintenance"
			}
			s.mpoll(true, q, r, &v, false, maint)
			lastGood = !maint
		case k < 16:
			op = "ack"
			list, _ := s.e.Alerts(false)
			if len(list) > 0 {
				a := list[rng.IntN(len(list))]
				if _, err := s.e.Ack(a.ID, "值班员", ""); err != nil {
					t.Fatalf("ack: %v", err)
				}
			}
		case k < 18:
			d := time.Duration(rng.IntN(8)) * time.Second
			op = fmt.Sprintf("silence %v", d)
			s.clock.Add(d)
			s.tick()
		default:
			op = "restart"
			now := s.clock.Now()
			s.close()
			s = newSyncEngine(t, s.path, rules, 5*time.Second)
			s.clock.Set(now)
		}
		log = append(log, op)
		out := s.outbox()
		for _, m := range out[seen:] {
			var p payload
			if err := json.Unmarshal(m.Body, &p); err != nil {
				t.Fatal(err)
			}
			fail := func(why string) {
				t.Fatalf("seed %d step %d (%s): %s: %s %s\nops: %s", seed, step, op, why, p.Type, p.Data.Message,
					strings.Join(log[max(0, len(log)-15):], ", "))
			}
			if ids[m.ID] {
				fail("notification emitted twice")
			}
			ids[m.ID] = true
			o := occs[p.Data.ID]
			switch {
			case o == nil && p.Type != TypeFiring && p.Type != TypeSuppressed && p.Type != TypeChattering:
				fail("an occurrence's first notification is not its firing")
			case o == nil:
				o = &occ{}
				occs[p.Data.ID] = o
			case o.ended && p.Type != TypeAcknowledged:
				fail("notification after the occurrence ended")
			}
			if p.Type == TypeResolved || p.Type == TypeUnsuppressed {
				o.ended = true
			}
			if p.Type == TypeResolved && p.Data.Rule == "combustible-gas" && p.Data.Reason == "" && !lastGood {
				fail("return to normal while the last reading is not good")
			}
		}
		seen = len(out)
	}
}
