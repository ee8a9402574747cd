package main

import (
	"path"
	"slices"

	"github.com/hazardgw/hazardgw/alerting"
	"github.com/hazardgw/hazardgw/gateway"
	"github.com/hazardgw/hazardgw/internal/conf"
)

// measurementPassage is the kind declared checkpoints are tracked as.
const measurementPassage = "checkpoint_passage"

// checkpointIDs lists the declared checkpoints: they are told the fire
// danger level.
func (f *File) checkpointIDs() []string {
	var ids []string
	for _, d := range f.MQTT.DeclaredDevices() {
		if d.Kind == measurementPassage {
			ids = append(ids, d.ID)
		}
	}
	return ids
}

// stationKind returns the kind of the fire danger station, "" if it is not
// a configured device.
func (f *File) stationKind() string {
	st := f.Forest.Danger.Station
	for _, l := range f.Modbus.Links {
		for _, d := range l.Devices {
			if d.ID == st {
				return d.Kind
			}
		}
	}
	for _, d := range f.MQTT.DeclaredDevices() {
		if d.ID == st {
			return d.Kind
		}
	}
	return ""
}

// checkForest checks forest.danger against the sources: the station is a
// configured Modbus device or a declared MQTT device, with the points
// named, and a stale rule watches it; voice warnings need checkpoints.
func (f *File) checkForest(p *conf.Problems) {
	fd := f.Forest.Danger
	if fd.Station == "" {
		return
	}
	want := []struct{ key, name string }{
		{"temperature", fd.Points.Temperature}, {"humidity", fd.Points.Humidity},
		{"wind", fd.Points.Wind}, {"rain", fd.Points.Rain},
	}
	kind := f.stationKind()
	if kind == "" {
		p.Addf("forest.danger.station", "%q is neither a Modbus device (modbus.links[].devices[].id) nor a declared MQTT device (mqtt.devices)", fd.Station)
		return
	}
	var points []string // what the station can report
	for _, l := range f.Modbus.Links {
		for _, d := range l.Devices {
			if d.ID == fd.Station {
				for _, pt := range d.Points {
					points = append(points, pt.Name)
				}
			}
		}
	}
	for _, s := range f.MQTT.Subscriptions {
		if s.JSON != nil && s.JSON.Measurement == kind {
			for name := range s.JSON.Fields {
				points = append(points, name)
			}
		}
	}
	for _, w := range want {
		if w.name != "" && !slices.Contains(points, w.name) {
			p.Addf(conf.Join("forest.danger.points", w.key), "station %s (%s) has no point %q", fd.Station, kind, w.name)
		}
	}
	watched := slices.ContainsFunc(f.Alerting.Rules, func(r alerting.RuleConfig) bool {
		return r.Stale != nil && glob(r.Match.Kind, kind) && glob(r.Match.Device, fd.Station)
	})
	if !watched {
		p.Warnf("forest.danger.station", "no stale rule watches station %s: while it is silent or bad the rating freezes and nobody is told", fd.Station)
	}
	if len(f.checkpointIDs()) == 0 {
		p.Warnf("forest.checkpoints", "no declared checkpoints (mqtt.devices of kind checkpoint): no voice warnings are sent")
	}
}

func glob(pattern, s string) bool {
	if pattern == "" {
		return true
	}
	ok, _ := path.Match(pattern, s)
	return ok
}

// forestSeries is the fire_danger series of the station, for the site
// check of the alert rules.
func (f *File) forestSeries() []alerting.Series {
	if !f.Forest.Enabled() {
		return nil
	}
	return []alerting.Series{{Kind: gateway.MeasurementFireDanger, Device: f.Forest.Danger.Station, Points: []string{
		gateway.FieldDangerIndex, gateway.FieldDangerLevel, gateway.FieldDangerA, gateway.FieldDangerB, gateway.FieldDangerC, gateway.FieldDangerE}}}
}

// dangerLabels names the rating's points in alarm messages.
func dangerLabels(lang string) map[string]string {
	if lang == "en" {
		return map[string]string{gateway.FieldDangerLevel: "fire danger level", gateway.FieldDangerIndex: "fire danger index"}
	}
	return map[string]string{gateway.FieldDangerLevel: "森林火险等级", gateway.FieldDangerIndex: "森林火险指数"}
}
