package gateway

// Quality says whether a reading can be trusted: good, uncertain (the
// device is under maintenance: the value is stored but judges no alarm) or
// bad (no value, or one that must not pass for a reading). A bad value is
// never written as a field of the device's measurement.
type Quality uint8

// Qualities, from best to worst; the zero value is good.
const (
	QualityGood Quality = iota
	QualityUncertain
	QualityBad
)

var qualityNames = [...]string{QualityGood: "good", QualityUncertain: "uncertain", QualityBad: "bad"}

func (q Quality) String() string {
	if int(q) < len(qualityNames) {
		return qualityNames[q]
	}
	return "bad"
}

// MarshalText writes the quality's name, so it reads as "good" in JSON.
func (q Quality) MarshalText() ([]byte, error) { return []byte(q.String()), nil }

// ParseQuality reads a quality's name; anything else is bad.
func ParseQuality(s string) Quality {
	switch s {
	case "good":
		return QualityGood
	case "uncertain":
		return QualityUncertain
	}
	return QualityBad
}

// Reasons of a quality that is not good.
const (
	ReasonNoReply     = "no_reply"     // the device did not answer in time
	ReasonException   = "exception"    // the device answered with a Modbus exception
	ReasonIO          = "io"           // the link failed (connect, framing, CRC, ...)
	ReasonNaN         = "nan"          // the decoded value is NaN or infinite
	ReasonOutOfRange  = "out_of_range" // outside the point's configured range
	ReasonFault       = "fault"        // the device reports a fault
	ReasonMaintenance = "maintenance"  // under maintenance or out of service (uncertain)
	ReasonBrokerDown  = "broker_down"  // an MQTT device while the broker is unreachable
	ReasonOffline     = "offline"      // an MQTT device silent for longer than its stale limit
)

// BadValue reports whether reason says the value itself is wrong (rather
// than missing or held by a fault or maintenance): a device reading only
// such values is stale with level bad_value.
func BadValue(reason string) bool { return reason == ReasonNaN || reason == ReasonOutOfRange }
