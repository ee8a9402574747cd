package alerting

import (
	"strconv"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/gateway"
	"github.com/hazardgw/hazardgw/internal/testenv"
)

// TestObserveQueueBoundedInSamples: once maxQueuedSamples samples wait
// for evaluation, Observe waits (back-pressure on the committer) until
// evaluation takes some, and then queues its batch: nothing is dropped.
func TestObserveQueueBoundedInSamples(t *testing.T) {
	s := newSyncEngine(t, "", testRules, 0)
	defer s.close()
	fields := make([]gateway.Field, maxQueuedSamples)
	for i := range fields {
		fields[i] = gateway.Float("p"+strconv.Itoa(i), 1)
	}
	big := []gateway.Point{{Measurement: "gas_detector", Fields: fields, Time: s.clock.Now(),
		Tags: []gateway.Tag{{Key: "site", Value: "qz"}, {Key: "device", Value: "GD-101"}}}}
	small := []gateway.Point{{Measurement: "gas_detector", Fields: fields[:1], Time: s.clock.Now(),
		Tags: []gateway.Tag{{Key: "site", Value: "qz"}, {Key: "device", Value: "GD-102"}}}}
	s.e.Observe(big) // into an empty queue: taken whatever its size
	if got := s.e.queued.Load(); got != maxQueuedSamples {
		t.Fatalf("queued %d samples, want %d", got, maxQueuedSamples)
	}
	done := make(chan struct{})
	go func() { s.e.Observe(small); close(done) }()
	testenv.Eventually(t, 10*time.Second, func() bool { return s.e.Stats().QueueWaits == 1 }, "Observe waiting for room")
	select {
	case <-done:
		t.Fatal("Observe returned with the queue full")
	default:
	}
	s.e.evaluate(<-s.e.queue)
	<-done
	// The small batch is queued now, unless the evaluation above, which
	// takes whatever else is queued, already had it.
	select {
	case b := <-s.e.queue:
		s.e.evaluate(b)
	default:
	}
	if got := s.e.queued.Load(); got != 0 {
		t.Errorf("queued %d samples after evaluating everything, want 0", got)
	}
	if st := s.e.Stats(); st.Samples != maxQueuedSamples+1 || st.LostAtStop != 0 {
		t.Errorf("stats %+v, want %d samples evaluated", st, maxQueuedSamples+1)
	}
}
