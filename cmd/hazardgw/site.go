package main

import (
	"slices"

	"github.com/hazardgw/hazardgw/alerting"
	"github.com/hazardgw/hazardgw/gateway"
)

// Built-in MQTT formats: the measurement each writes, its fields, and the
// values an event rule's point stands for (the event type).
var mqttFormatSeries = map[string]alerting.Series{
	"camera_event": {Kind: "fire_detection", Points: []string{
		"confidence", "bearing_deg", "distance_m", "temperature_c", "event_id", "image_url", "smoke", "fire", "hotspot"}},
	"checkpoint_passage": {Kind: "checkpoint_passage", Points: []string{"people", "vehicles", "plate", "voice_played"}},
}

// siteSeries lists what the configured sources can produce, for checking
// the alert rules against the site: Modbus devices and their points, the
// measurements of the MQTT subscriptions (devices learnt from traffic) and
// the gateway's own health series.
func (f *File) siteSeries() []alerting.Series {
	var out []alerting.Series
	for _, l := range f.Modbus.Links {
		for _, d := range l.Devices {
			pts := make([]string, 0, len(d.Points))
			for _, p := range d.Points {
				pts = append(pts, p.Name)
			}
			out = append(out, alerting.Series{Kind: d.Kind, Device: d.ID, Points: pts, Tags: d.Tags})
		}
	}
	for _, s := range f.MQTT.Subscriptions {
		if se, ok := mqttFormatSeries[s.Format]; ok {
			out = append(out, se)
		}
		if s.JSON != nil {
			pts := make([]string, 0, len(s.JSON.Fields))
			for name := range s.JSON.Fields {
				pts = append(pts, name)
			}
			slices.Sort(pts)
			out = append(out, alerting.Series{Kind: s.JSON.Measurement, Points: pts})
		}
	}
	out = append(out, mqttDeclaredSeries(f)...)
	out = append(out, f.forestSeries()...)
	out = append(out, alerting.Series{Kind: gateway.MeasurementGateway, Device: gateway.GatewayDevice, Points: []string{
		"spool_points", "spool_bytes", "spool_fill", "spool_oldest_age_s", gateway.FieldSpoolDropped, "dead_lettered", "written",
		"sink_failing", gateway.FieldSinkStalled, gateway.FieldMQTTDown, gateway.FieldStorageDamaged, gateway.FieldUntrackedDevices}})
	return out
}
