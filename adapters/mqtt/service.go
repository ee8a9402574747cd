package mqtt

import "github.com/hazardgw/hazardgw/gateway"

// markOutOfService marks p, a reading or event of a device a duty officer
// has taken out of service, uncertain with reason maintenance: fields
// quality and reason, set (or added) on the point itself. The point is
// stored — InfluxDB keeps what the device said — but the alert engine
// and the fire-danger rating judge nothing by it. The fields are copied
// first: the worker's arena holds the other messages' fields.
func markOutOfService(p *gateway.Point) {
	fs := make([]gateway.Field, 0, len(p.Fields)+2)
	for _, f := range p.Fields {
		if f.Key != fieldQuality && f.Key != fieldReason {
			fs = append(fs, f)
		}
	}
	p.Fields = append(fs,
		gateway.String(fieldQuality, gateway.QualityUncertain.String()),
		gateway.String(fieldReason, gateway.ReasonMaintenance))
}
