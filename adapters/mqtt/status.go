package mqtt

import (
	"time"

	"github.com/hazardgw/hazardgw/gateway"
)

// The quality vocabulary of device_status points: every one the source
// writes carries fields quality and reason.
const (
	fieldOnline  = "online"
	fieldQuality = "quality"
	fieldReason  = "reason"
	tagKind      = "kind"
	tagSource    = "source"
	sourceMQTT   = "mqtt"

	qualityGood      = "good"
	qualityBad       = "bad"
	qualityUncertain = "uncertain" // API only: a device not heard from since start, not yet stale

	reasonNone       = ""
	reasonFault      = "fault"       // the device's heartbeat says fault: true
	reasonBrokerDown = "broker_down" // the gateway has no broker connection
	reasonSilent     = "offline"     // silent past its stale duration, or its heartbeat says online: false
	reasonNotHeard   = "not_heard"   // API only, with qualityUncertain
)

// FieldUntrackedDevices is the field of the gateway's own measurement
// ("hazardgw", device "gateway") that counts the distinct device ids not
// tracked for liveness because mqtt.max_devices was reached.
const FieldUntrackedDevices = "mqtt_untracked_devices"

// heartbeatQuality is the quality a device_status message gives its device.
func heartbeatQuality(online, fault bool) (quality, why string) {
	switch {
	case fault:
		return qualityBad, reasonFault
	case !online:
		return qualityBad, reasonSilent
	}
	return qualityGood, reasonNone
}

// ---- device_status ----

// statusDecoder decodes device_status heartbeats:
//
//	{"device_id":"CAM-01","ts":"2026-11-22T09:00:00Z","online":true,"fault":false}
//
// device_id may come from a {device} topic level instead; ts (RFC 3339) is
// optional, the arrival time otherwise; online defaults to true (a
// heartbeat is a sign of life) and fault to false. The point is a
// device_status point with tags site, device, source=mqtt and kind — left
// empty here: the worker sets the device's kind, which only the liveness
// tracker knows — and fields online, quality, reason. Topic tags other
// than {device} are not added: device_status series have the same tags
// whoever writes them.
type statusDecoder struct{}

func (statusDecoder) kind() string { return "" }

func (statusDecoder) decode(e *env, payload []byte, out *decoded) reject {
	if r := precheck(payload); !r.ok() {
		return r
	}
	s := &e.sc
	s.reset(payload)
	if !s.beginObject() {
		return reject{reason: s.err}
	}
	var (
		device        string
		stamp         eventStamp
		online, fault = true, false
		field         string
		fail          reason
		okv           bool
		v             []byte
		n             int
	)
	for ; ; n++ {
		k, more := s.key(n)
		if !more {
			break
		}
		if s.null() {
			continue
		}
		field = ""
		switch bstr(k) {
		case "device_id":
			field = "device_id"
			if v, okv = s.str(); okv {
				if !validID(v) {
					fail = reasonOutOfRange
				} else {
					device = e.ids.get(v)
				}
			}
		case "ts":
			field = "ts"
			if v, okv = s.str(); okv {
				stamp, fail = parseStamp(v, e.now)
			}
		case fieldOnline:
			field = fieldOnline
			online, okv = s.bool()
		case "fault":
			field = "fault"
			fault, okv = s.bool()
		default:
			okv = s.skip()
		}
		if !okv {
			return reject{reason: s.err, field: field}
		}
		if fail != "" {
			return s.rejectAfter(n, fail, field)
		}
	}
	if s.err != "" || !s.end() {
		return reject{reason: s.err}
	}
	device, r := sourceID(e, device, gateway.TagDevice, "device_id")
	if !r.ok() {
		return r
	}
	ts := e.now
	if stamp.set {
		ts = stamp.t
	} else {
		out.arrival, out.badClock = true, stamp.bad
	}
	q, why := heartbeatQuality(online, fault)
	tags := append(out.point.Tags[:0],
		gateway.Tag{Key: gateway.TagSite, Value: e.site},
		gateway.Tag{Key: gateway.TagDevice, Value: device},
		gateway.Tag{Key: tagKind},
		gateway.Tag{Key: tagSource, Value: sourceMQTT})
	fields := append(out.point.Fields[:0],
		gateway.Bool(fieldOnline, online), gateway.String(fieldQuality, q), gateway.String(fieldReason, why))
	out.point = gateway.Point{Measurement: gateway.MeasurementDeviceStatus, Tags: tags, Fields: fields, Time: ts}
	out.device = device
	out.heartbeat, out.online, out.fault = true, online, fault
	return reject{}
}

// setKind sets the kind tag of a device_status point p (present, possibly
// empty, as statusDecoder writes it).
func setKind(p *gateway.Point, kind string) {
	for i := range p.Tags {
		if p.Tags[i].Key == tagKind {
			p.Tags[i].Value = kind
			return
		}
	}
}

// statusPoint is a device_status point written by the liveness tracker:
// tags site, device, kind (omitted when unknown), source=mqtt; fields
// online (unless online is nil: a broker_down point says nothing about the
// device itself), quality and reason.
func statusPoint(site, id, kind string, online *bool, quality, why string, at time.Time) gateway.Point {
	tags := []gateway.Tag{
		{Key: gateway.TagSite, Value: site},
		{Key: gateway.TagDevice, Value: id},
		{Key: tagKind, Value: kind},
		{Key: tagSource, Value: sourceMQTT},
	}
	fields := make([]gateway.Field, 0, 3)
	if online != nil {
		fields = append(fields, gateway.Bool(fieldOnline, *online))
	}
	fields = append(fields, gateway.String(fieldQuality, quality), gateway.String(fieldReason, why))
	return gateway.Point{Measurement: gateway.MeasurementDeviceStatus, Tags: tags, Fields: fields, Time: at}
}

// untrackedPoint reports n, the distinct device ids refused by
// max_devices, as a field of the gateway's own measurement.
func untrackedPoint(site string, n int64, at time.Time) gateway.Point {
	return gateway.Point{
		Measurement: gateway.MeasurementGateway,
		Tags:        []gateway.Tag{{Key: gateway.TagSite, Value: site}, {Key: gateway.TagDevice, Value: gateway.GatewayDevice}},
		Fields:      []gateway.Field{gateway.Int(FieldUntrackedDevices, n)},
		Time:        at,
	}
}
