package mqttsim

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"time"

	"go.yaml.in/yaml/v3"
)

// Script is the mqtt section of a sitesim scenario file: where the
// simulated cameras stand, and a scripted fire that some of them see. The
// gateway's configuration declares the same cameras with the same
// locations, so that it can place the fire.
//
//	mqtt:
//	  cameras:
//	    CAM-01: {lat: 25.07, lon: 118.21}
//	    CAM-02: {lat: 25.03, lon: 118.15}
//	  fire:
//	    at: {lat: 25.052, lon: 118.186}
//	    seen_by: [CAM-01, CAM-02]
//	    start: 30s
//	    flames: 48s
//	    end: 2m
//	    every: 3s
type Script struct {
	Cameras map[string]LatLon `yaml:"cameras"`
	Fire    *FireScript       `yaml:"fire"`
}

// LatLon is a WGS 84 position in degrees.
type LatLon struct {
	Lat float64 `yaml:"lat"`
	Lon float64 `yaml:"lon"`
}

// FireScript is a fire at a fixed point. From Start each camera of SeenBy
// reports it every Every (the cameras a fraction of Every apart, in the
// order listed) until End: smoke with a confidence rising from 0.60 by
// 0.05 a report, and from Flames on, fire. Each report carries the
// camera's bearing toward the fire, computed here from the locations; the
// first camera of SeenBy also ranges it (distance_m), the others give a
// bearing only. A fire script replaces the -fire-after episode.
type FireScript struct {
	At     LatLon        `yaml:"at"`
	SeenBy []string      `yaml:"seen_by"`
	Start  time.Duration `yaml:"start"`  // first smoke report, since sitesim started
	Flames time.Duration `yaml:"flames"` // fire reports from then on
	End    time.Duration `yaml:"end"`    // no report after this
	Every  time.Duration `yaml:"every"`  // each camera's report interval; default 3s
}

// DefaultFireEvery is a scripted fire's report interval per camera.
const DefaultFireEvery = 3 * time.Second

// Bounds of a fire script: it is planned in memory at start.
const (
	maxFireEnd     = 24 * time.Hour
	maxFireReports = 100000
)

// ParseScript reads the mqtt section of a scenario document (YAML or JSON);
// the other sections belong to the other simulators and are not looked at.
// A document without an mqtt section is an empty Script. Every problem of
// the section is reported together.
func ParseScript(scenario []byte) (Script, error) {
	var doc struct {
		MQTT yaml.Node `yaml:"mqtt"`
	}
	if err := yaml.Unmarshal(scenario, &doc); err != nil {
		return Script{}, fmt.Errorf("mqtt: %w", err)
	}
	var sc Script
	if doc.MQTT.Kind == 0 {
		return sc, nil
	}
	// Decode the section strictly: a misspelt key is an error, not a
	// silently missing fire.
	b, err := yaml.Marshal(&doc.MQTT)
	if err != nil {
		return Script{}, fmt.Errorf("mqtt: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&sc); err != nil && !errors.Is(err, io.EOF) {
		return Script{}, fmt.Errorf("mqtt: %w", err)
	}
	if err := sc.validate(); err != nil {
		return Script{}, err
	}
	if sc.Fire != nil && sc.Fire.Every == 0 {
		sc.Fire.Every = DefaultFireEvery
	}
	return sc, nil
}

func (p LatLon) valid() bool {
	return p.Lat >= -90 && p.Lat <= 90 && p.Lon >= -180 && p.Lon <= 180
}

func (sc Script) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	ids := make([]string, 0, len(sc.Cameras))
	for id := range sc.Cameras {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if id == "" {
			bad("mqtt.cameras: a camera id must not be empty")
		}
		if !sc.Cameras[id].valid() {
			bad("mqtt.cameras.%s: lat must be in -90..90 and lon in -180..180, got %v, %v", id, sc.Cameras[id].Lat, sc.Cameras[id].Lon)
		}
	}
	if f := sc.Fire; f != nil {
		if !f.At.valid() {
			bad("mqtt.fire.at: lat must be in -90..90 and lon in -180..180, got %v, %v", f.At.Lat, f.At.Lon)
		}
		if len(f.SeenBy) == 0 {
			bad("mqtt.fire.seen_by: at least one camera of mqtt.cameras")
		}
		for i, id := range f.SeenBy {
			if _, ok := sc.Cameras[id]; !ok {
				bad("mqtt.fire.seen_by[%d]: %q is not in mqtt.cameras (its location is needed for the bearing)", i, id)
			}
			if slices.Index(f.SeenBy, id) != i {
				bad("mqtt.fire.seen_by[%d]: %q listed twice", i, id)
			}
		}
		switch {
		case f.Start < 0:
			bad("mqtt.fire.start: must be >= 0, got %v", f.Start)
		case f.Flames < f.Start:
			bad("mqtt.fire.flames: must not be before start (%v), got %v", f.Start, f.Flames)
		case f.End <= f.Start:
			bad("mqtt.fire.end: must be after start (%v), got %v", f.Start, f.End)
		}
		every := f.Every
		if every == 0 {
			every = DefaultFireEvery
		}
		switch {
		case every < 100*time.Millisecond:
			bad("mqtt.fire.every: must be at least 100ms, got %v", f.Every)
		case f.End > maxFireEnd:
			bad("mqtt.fire.end: at most %v, got %v", maxFireEnd, f.End)
		case f.End > f.Start && int64((f.End-f.Start)/every+1)*int64(len(f.SeenBy)) > maxFireReports:
			bad("mqtt.fire: %v to %v every %v by %d cameras is more than %d reports", f.Start, f.End, every, len(f.SeenBy), maxFireReports)
		}
	}
	return errors.Join(errs...)
}

// earthRadius is the mean earth radius in metres (IUGG).
const earthRadius = 6371008.8

func rad(deg float64) float64 { return deg * math.Pi / 180 }

// BearingTo is the initial great-circle bearing from p to q, degrees
// clockwise from true north in [0, 360).
func BearingTo(p, q LatLon) float64 {
	φ1, φ2, Δλ := rad(p.Lat), rad(q.Lat), rad(q.Lon-p.Lon)
	y := math.Sin(Δλ) * math.Cos(φ2)
	x := math.Cos(φ1)*math.Sin(φ2) - math.Sin(φ1)*math.Cos(φ2)*math.Cos(Δλ)
	b := math.Mod(math.Atan2(y, x)*180/math.Pi+360, 360)
	if b >= 360 { // -0.0…01 + 360 rounds to 360
		b = 0
	}
	return b
}

// DistanceTo is the great-circle (haversine) distance from p to q in metres.
func DistanceTo(p, q LatLon) float64 {
	φ1, φ2 := rad(p.Lat), rad(q.Lat)
	dφ, dλ := φ2-φ1, rad(q.Lon-p.Lon)
	a := math.Sin(dφ/2)*math.Sin(dφ/2) + math.Cos(φ1)*math.Cos(φ2)*math.Sin(dλ/2)*math.Sin(dλ/2)
	return 2 * earthRadius * math.Asin(math.Sqrt(min(1, a)))
}

// fireReport is one scripted camera report.
type fireReport struct {
	at         time.Duration // since the site started
	camera     string
	typ        string
	confidence float64
	bearing    float64
	distance   *float64 // the ranging camera only
	temp       *float64 // fire only
}

// plan lists the reports of the fire script in time order (the cameras
// of one round in SeenBy order). Bearings are rounded to 0.1° and distances
// to 10 m, as a lookout camera reports them.
func (sc Script) plan() []fireReport {
	f := sc.Fire
	if f == nil {
		return nil
	}
	var out []fireReport
	n := time.Duration(len(f.SeenBy))
	for k, id := range f.SeenBy {
		cam := sc.Cameras[id]
		bearing := round(BearingTo(cam, f.At), 1)
		if bearing >= 360 {
			bearing = 0
		}
		var dist *float64
		if k == 0 {
			dist = Ptr(math.Round(DistanceTo(cam, f.At)/10) * 10)
		}
		smoke, fire := 0, 0
		for at := f.Start + time.Duration(k)*f.Every/n; at <= f.End; at += f.Every {
			r := fireReport{at: at, camera: id, bearing: bearing, distance: dist}
			if at < f.Flames {
				r.typ, r.confidence = Smoke, round(min(0.60+0.05*float64(smoke), 0.95), 2)
				smoke++
			} else {
				r.typ, r.confidence = Fire, round(min(0.90+0.01*float64(fire), 0.99), 2)
				r.temp = Ptr(float64(min(300+20*fire, 800)))
				fire++
			}
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].at < out[j].at })
	return out
}
