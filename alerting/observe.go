package alerting

import (
	"math"
	"time"

	"github.com/hazardgw/hazardgw/gateway"
)

// sampleType says what a sample reports.
type sampleType uint8

const (
	sampleValue  sampleType = iota + 1 // a numeric field
	sampleBool                         // a boolean field
	sampleStatus                       // device_status online (b)
	sampleEvent                        // a camera event: point = type, v = confidence
	sampleSeen                         // the device reported, nothing to evaluate
)

// sample is the part of a committed point the engine evaluates, copied out
// of the pipeline's points so the pipeline can reuse them.
type sample struct {
	typ    sampleType
	b      bool
	kind   string // device kind: the measurement, or device_status's kind tag
	device string
	point  string
	v      float64
	at     time.Time
}

type sampleBatch struct{ s []sample }

var _ gateway.Observer = (*Engine)(nil)

// Observe takes a batch of committed points from the pipeline. It copies
// what the rules need and queues it for the evaluation goroutine, so it
// returns in microseconds. When the queue is full — evaluation is behind,
// which takes a disk stalling on alert commits — Observe waits for room,
// holding up the pipeline's committer (back-pressure) rather than dropping
// anything: an alarm must not be lost. Only once Run has stopped taking
// samples does Observe drop them (counted in Stats.LostAtStop); the
// gateway stops the pipeline before the engine, so that does not happen in
// an orderly shutdown.
//
// Observe must not be called concurrently with itself (the pipeline calls
// it from its single committer goroutine).
func (e *Engine) Observe(points []gateway.Point) {
	b := e.pool.Get().(*sampleBatch)
	for i := range points {
		appendSamples(&b.s, &points[i])
	}
	if len(b.s) == 0 {
		e.pool.Put(b)
		return
	}
	select {
	case <-e.stopped:
		e.lostAtStop.Add(int64(len(b.s)))
		return
	default:
	}
	select {
	case e.queue <- b:
		return
	default:
	}
	e.queueWaits.Add(1)
	select {
	case e.queue <- b:
	case <-e.stopped:
		e.lostAtStop.Add(int64(len(b.s)))
	}
}

// appendSamples extracts the samples of one point.
func appendSamples(dst *[]sample, p *gateway.Point) {
	if p.Measurement == MeasurementAlert {
		return // our own output
	}
	dev := deviceOf(p)
	if dev == "" {
		return
	}
	if p.Measurement == gateway.MeasurementDeviceStatus {
		f, ok := p.Field("online")
		if !ok || f.Kind != gateway.KindBool {
			return
		}
		kind, _ := p.Tag("kind")
		*dst = append(*dst, sample{typ: sampleStatus, kind: kind, device: dev, b: f.B, at: p.Time})
		return
	}
	if typ, ok := p.Tag("type"); ok {
		if f, ok := p.Field("confidence"); ok {
			if v, ok := number(f); ok {
				*dst = append(*dst, sample{typ: sampleEvent, kind: p.Measurement, device: dev, point: typ, v: v, at: p.Time})
				return
			}
		}
	}
	n := len(*dst)
	for _, f := range p.Fields {
		if f.Kind == gateway.KindBool {
			*dst = append(*dst, sample{typ: sampleBool, kind: p.Measurement, device: dev, point: f.Key, b: f.B, at: p.Time})
			continue
		}
		// Only good values are evaluated: a NaN or infinity is no reading.
		if v, ok := number(f); ok && !math.IsNaN(v) && !math.IsInf(v, 0) {
			*dst = append(*dst, sample{typ: sampleValue, kind: p.Measurement, device: dev, point: f.Key, v: v, at: p.Time})
		}
	}
	if len(*dst) == n {
		*dst = append(*dst, sample{typ: sampleSeen, kind: p.Measurement, device: dev, at: p.Time})
	}
}

// deviceOf names the device a point is from: tag device, or the camera or
// checkpoint of MQTT events.
func deviceOf(p *gateway.Point) string {
	for _, k := range [...]string{gateway.TagDevice, "camera", "checkpoint"} {
		if v, ok := p.Tag(k); ok && v != "" {
			return v
		}
	}
	return ""
}

func number(f gateway.Field) (float64, bool) {
	switch f.Kind {
	case gateway.KindFloat:
		return f.F, true
	case gateway.KindInt:
		return float64(f.I), true
	}
	return 0, false
}
