package alerting

import (
	"strconv"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/gateway"
)

// BenchmarkRuleEvaluation is the cost of evaluating one reading against
// the rules (a threshold rule with two levels and deadband, an offline
// rule, an event rule and a state rule configured), steady state: the
// value moves but crosses no limit, so nothing is committed.
func BenchmarkRuleEvaluation(b *testing.B) {
	s := newSyncEngine(b, b.TempDir()+"/alerts.db", testRules, 0)
	defer s.close()
	now := s.clock.Now()
	smp := sample{typ: sampleValue, kind: "gas_detector", device: "GD-101", point: "ch4", at: now}
	s.e.mu.Lock()
	defer s.e.mu.Unlock()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		smp.v = float64(i % 20)
		s.e.sample(&smp, now)
		i++
	}
}

// BenchmarkObservePoll is one Modbus poll of an eight-point detector and
// its device_status going through Observe (copy into the queue) and
// evaluation, as the pipeline's committer and the engine run it.
// ns/reading divides by the nine samples.
func BenchmarkObservePoll(b *testing.B) {
	s := newSyncEngine(b, b.TempDir()+"/alerts.db", testRules, 0)
	defer s.close()
	tags := []gateway.Tag{{Key: "site", Value: "qz"}, {Key: "device", Value: "GD-101"}, {Key: "area", Value: "A"}}
	names := []string{"ch4", "h2s", "co", "o2", "temperature", "pressure", "level", "flow"}
	fields := make([]gateway.Field, len(names))
	pts := []gateway.Point{
		{Measurement: "gas_detector", Tags: tags, Fields: fields, Time: time.Now()},
		{Measurement: gateway.MeasurementDeviceStatus, Tags: append(tags, gateway.Tag{Key: "kind", Value: "gas_detector"}),
			Fields: []gateway.Field{gateway.Bool("online", true), gateway.Float("rtt_ms", 1.2)}, Time: time.Now()},
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		for j, n := range names {
			fields[j] = gateway.Float(n, float64((i+j)%20))
		}
		s.e.Observe(pts)
		s.e.evaluate(<-s.e.queue)
		i++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/9, "ns/reading")
}

// BenchmarkCameraEventBacklog is a batch of 100 committed camera events,
// each with its own event_id, observed and evaluated once the seen set is
// full, as when the gateway drains a backlog from the broker: the seen set
// is stored once per evaluation round, not once per event.
func BenchmarkCameraEventBacklog(b *testing.B) {
	s := newSyncEngine(b, b.TempDir()+"/alerts.db", fireRules, 0)
	defer s.close()
	tags := []gateway.Tag{{Key: "site", Value: "bs"}, {Key: "camera", Value: "CAM-A"}, {Key: "type", Value: "hotspot"}}
	pts := make([]gateway.Point, 100)
	ids := 0
	batch := func() {
		for i := range pts {
			ids++
			pts[i] = gateway.Point{Measurement: "fire_detection", Tags: tags, Time: s.clock.Now(),
				Fields: []gateway.Field{gateway.Float("confidence", 0.1), gateway.String("event_id", "E"+strconv.Itoa(ids))}}
		}
		s.e.Observe(pts)
		s.e.evaluate(<-s.e.queue)
	}
	for range maxSeenEvents / len(pts) {
		batch()
	}
	b.ReportAllocs()
	for b.Loop() {
		batch()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(pts)), "ns/event")
}
