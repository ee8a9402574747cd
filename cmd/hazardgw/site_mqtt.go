package main

import (
	"github.com/hazardgw/hazardgw/alerting"
	"github.com/hazardgw/hazardgw/gateway"
)

// mqttDeclaredSeries lists the declared MQTT devices (mqtt.devices) for the
// site check: a declared device is known even before it speaks, with the
// points of its kind's measurement and of its heartbeat (fault, online).
func mqttDeclaredSeries(f *File) []alerting.Series {
	var out []alerting.Series
	for _, d := range f.MQTT.DeclaredDevices() {
		pts := []string{"online", gateway.FieldFault}
		for _, se := range mqttFormatSeries {
			if se.Kind == d.Kind {
				pts = append(pts, se.Points...)
			}
		}
		out = append(out, alerting.Series{Kind: d.Kind, Device: d.ID, Points: pts})
	}
	return out
}
