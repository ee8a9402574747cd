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
	q      *statusQuality // device_status only: what it says of the readings' quality
	ev     *eventInfo     // camera events only: bearing, distance, image, id
}

// statusQuality is what a device_status point says of its device beyond
// online: the quality of its readings and its fault and maintenance state.
type statusQuality struct {
	hasOnline   bool // the point has field online (a quality-only point has not)
	hasQuality  bool // the point has field quality
	quality     gateway.Quality
	reason      string // "" when good
	badPoints   string // "ch4=nan ..."
	fault       int8   // -1 not said, 0 false, 1 true
	maintenance int8   // -1 not said, 0 false, 1 true
	polled      bool   // from a polled source (Modbus): the status, not the readings, says whether they are good
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
	// The queue is bounded in samples as well as in batches: a drained
	// backlog commits batches of hundreds of points, and a thousand of
	// those waiting would hold a hundred MB.
	if e.queued.Load() >= maxQueuedSamples {
		e.queueWaits.Add(1)
		for e.queued.Load() >= maxQueuedSamples {
			select {
			case <-e.room:
			case <-e.stopped:
				e.lostAtStop.Add(int64(len(b.s)))
				return
			}
		}
	}
	e.queued.Add(int64(len(b.s)))
	select {
	case e.queue <- b:
		return
	default:
	}
	e.queueWaits.Add(1)
	select {
	case e.queue <- b:
	case <-e.stopped:
		e.queued.Add(-int64(len(b.s)))
		e.lostAtStop.Add(int64(len(b.s)))
	}
}

// maxQueuedSamples bounds the samples waiting for evaluation (about 100
// bytes each, plus a camera event's details): beyond it Observe waits.
const maxQueuedSamples = 16384

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
		appendStatus(dst, p, dev)
		return
	}
	if notGood(p) {
		// Uncertain (a device out of service): stored, a sign of life,
		// but it judges no alarm — also if the device is back in service
		// by the time the engine sees it.
		*dst = append(*dst, sample{typ: sampleSeen, kind: p.Measurement, device: dev, at: p.Time})
		return
	}
	if typ, ok := p.Tag("type"); ok {
		if f, ok := p.Field("confidence"); ok {
			if v, ok := number(f); ok {
				*dst = append(*dst, sample{typ: sampleEvent, kind: p.Measurement, device: dev, point: typ, v: v, at: p.Time,
					ev: eventInfoOf(p)})
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

// notGood reports whether a reading point carries its own quality (string
// field quality) and it is not good: an MQTT device's message while it is
// out of service.
func notGood(p *gateway.Point) bool {
	for i := range p.Fields {
		if f := &p.Fields[i]; f.Key == gateway.FieldQuality && f.Kind == gateway.KindString {
			return gateway.ParseQuality(f.S) != gateway.QualityGood
		}
	}
	return false
}

// appendStatus extracts the samples of a device_status point: one status
// sample (online and quality), and for a source other than Modbus its
// fault field as a bool sample, so that a state rule on point fault
// alarms a camera's reported fault (a Modbus device's fault point is a
// reading of its own measurement).
func appendStatus(dst *[]sample, p *gateway.Point, dev string) {
	kind, _ := p.Tag("kind")
	source, _ := p.Tag("source")
	q := &statusQuality{fault: -1, maintenance: -1, polled: source == "modbus"}
	var online bool
	for _, f := range p.Fields {
		switch {
		case f.Key == "online" && f.Kind == gateway.KindBool:
			q.hasOnline, online = true, f.B
		case f.Key == gateway.FieldQuality && f.Kind == gateway.KindString:
			q.hasQuality, q.quality = true, gateway.ParseQuality(f.S)
		case f.Key == gateway.FieldReason && f.Kind == gateway.KindString:
			q.reason = f.S
		case f.Key == gateway.FieldBadPoints && f.Kind == gateway.KindString:
			q.badPoints = f.S
		case f.Key == gateway.FieldFault && f.Kind == gateway.KindBool:
			q.fault = b8(f.B)
		case f.Key == gateway.FieldMaintenance && f.Kind == gateway.KindBool:
			q.maintenance = b8(f.B)
		}
	}
	if !q.hasOnline && !q.hasQuality {
		return
	}
	*dst = append(*dst, sample{typ: sampleStatus, kind: kind, device: dev, b: online, at: p.Time, q: q})
	if q.fault < 0 && q.hasQuality && q.hasOnline && online {
		q.fault = b8(q.reason == gateway.ReasonFault) // a heartbeat's fault shows in its reason
	}
	if q.fault >= 0 && !q.polled {
		*dst = append(*dst, sample{typ: sampleBool, kind: kind, device: dev, point: gateway.FieldFault, b: q.fault == 1, at: p.Time})
	}
}

func b8(b bool) int8 {
	if b {
		return 1
	}
	return 0
}

// deviceOf names the device a point is from: tag device, the camera or
// checkpoint of MQTT events, or the station of a fire_danger rating.
func deviceOf(p *gateway.Point) string {
	for _, k := range [...]string{gateway.TagDevice, "camera", "checkpoint", gateway.TagStation} {
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
