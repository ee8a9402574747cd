package geo

import (
	"errors"
	"math"
	"testing"
)

// The reference values below come from outside this package: published
// worked examples (Chris Veness, "Calculate distance, bearing and more
// between Latitude/Longitude points", movable-type.co.uk, which uses the
// same spherical model with R = 6371 km), and formulas written again here
// in another form (rotation of the position vector about the great
// circle's axis; the atan2 form of the initial bearing).

func dms(d, m, s float64) float64 { return d + m/60 + s/3600 }

// refDestination rotates p's position vector about the axis of the great
// circle leaving p at bearing (Rodrigues' rotation) by the angle distance/R.
func refDestination(p Point, bearing, distance float64) Point {
	φ, λ, θ := p.Lat*math.Pi/180, p.Lon*math.Pi/180, bearing*math.Pi/180
	a := [3]float64{math.Cos(φ) * math.Cos(λ), math.Cos(φ) * math.Sin(λ), math.Sin(φ)}
	// Local east and north unit vectors at p.
	e := [3]float64{-math.Sin(λ), math.Cos(λ), 0}
	n := [3]float64{-math.Sin(φ) * math.Cos(λ), -math.Sin(φ) * math.Sin(λ), math.Cos(φ)}
	var d [3]float64
	for i := range d {
		d[i] = n[i]*math.Cos(θ) + e[i]*math.Sin(θ)
	}
	δ := distance / 6371008.8
	var x [3]float64
	for i := range x {
		x[i] = a[i]*math.Cos(δ) + d[i]*math.Sin(δ)
	}
	return Point{Lat: math.Asin(x[2]) * 180 / math.Pi, Lon: math.Atan2(x[1], x[0]) * 180 / math.Pi}
}

// refBearing is the initial great-circle bearing from a to b, from the
// spherical law of the tangent in its atan2 form, written out separately.
func refBearing(a, b Point) float64 {
	φ1, φ2 := a.Lat*math.Pi/180, b.Lat*math.Pi/180
	dλ := (b.Lon - a.Lon) * math.Pi / 180
	t := math.Atan2(math.Sin(dλ)*math.Cos(φ2), math.Cos(φ1)*math.Sin(φ2)-math.Sin(φ1)*math.Cos(φ2)*math.Cos(dλ))
	return math.Mod(t*180/math.Pi+360, 360)
}

// refDistance is the spherical law of cosines (fine above a metre).
func refDistance(a, b Point) float64 {
	φ1, φ2 := a.Lat*math.Pi/180, b.Lat*math.Pi/180
	c := math.Sin(φ1)*math.Sin(φ2) + math.Cos(φ1)*math.Cos(φ2)*math.Cos((b.Lon-a.Lon)*math.Pi/180)
	return 6371008.8 * math.Acos(math.Max(-1, math.Min(1, c)))
}

func TestDestinationPublished(t *testing.T) {
	// Veness: from 53°19′14″N 001°43′47″W at 096°01′18″ for 124.8 km
	// lies 53°11′18″N 000°08′00″E (rounded to the arc second: ~30 m).
	start := Point{Lat: dms(53, 19, 14), Lon: -dms(1, 43, 47)}
	got := Destination(start, dms(96, 1, 18), 124800)
	want := Point{Lat: dms(53, 11, 18), Lon: dms(0, 8, 0)}
	if d := refDistance(got, want); d > 40 {
		t.Errorf("Destination = %+v, %.1f m from the published %+v", got, d, want)
	}
}

func TestDestinationAgainstRotation(t *testing.T) {
	for _, c := range []struct {
		p        Point
		bearing  float64
		distance float64
	}{
		{Point{25.07, 118.21}, 132.5, 1800},
		{Point{25.07, 118.21}, 0, 20000},
		{Point{25.07, 118.21}, 90, 20000},
		{Point{25.07, 118.21}, 269.9, 20000},
		{Point{-33.9, 151.2}, 200, 20000},
		{Point{64.1, -21.9}, 45, 20000},
		{Point{0, 179.95}, 90, 20000}, // crosses the antimeridian
		{Point{10, 10}, 10, 0},
	} {
		got := Destination(c.p, c.bearing, c.distance)
		want := refDestination(c.p, c.bearing, c.distance)
		if d := refDistance(got, want); d > 0.01 || !got.Valid() {
			t.Errorf("Destination(%+v, %v, %v) = %+v, %.3f m from %+v", c.p, c.bearing, c.distance, got, d, want)
		}
		if c.distance > 0 {
			if d := Distance(c.p, got); math.Abs(d-c.distance) > 0.01 {
				t.Errorf("Distance back = %.3f, want %v", d, c.distance)
			}
			if b := Bearing(c.p, got); math.Abs(math.Remainder(b-c.bearing, 360)) > 1e-6 {
				t.Errorf("Bearing back = %v, want %v", b, c.bearing)
			}
		}
	}
}

func TestIntersectPublished(t *testing.T) {
	// Veness: 51.8853°N 0.2545°E at 108.547° and 49.0034°N 2.5735°E at
	// 32.435° meet at 50.9078°N 4.5084°E (4 decimals: ~11 m).
	got, err := Intersect(Point{51.8853, 0.2545}, 108.547, Point{49.0034, 2.5735}, 32.435, 0)
	if err != nil {
		t.Fatal(err)
	}
	if d := refDistance(got, Point{50.9078, 4.5084}); d > 20 {
		t.Errorf("Intersect = %+v, %.1f m from the published point", got, d)
	}
}

// TestIntersectFire puts a fire, works out the bearings two towers would
// see it at (independently), and asks Intersect where it is: within 10 m
// over distances up to 20 km; and Destination from each tower with the
// bearing and the distance lands there too.
func TestIntersectFire(t *testing.T) {
	for _, c := range []struct {
		name    string
		a, b    Point
		fireAt  float64 // bearing from a
		fireDst float64 // metres from a
	}{
		{"forest site", Point{25.07, 118.21}, Point{25.03, 118.15}, 160, 6000},
		{"20 km", Point{25.0, 118.0}, Point{25.1, 118.15}, 100, 20000},
		{"south of the equator", Point{-12.5, 131.0}, Point{-12.6, 130.9}, 250, 15000},
		{"far north", Point{62.0, 129.7}, Point{62.1, 129.5}, 300, 18000},
	} {
		t.Run(c.name, func(t *testing.T) {
			fire := refDestination(c.a, c.fireAt, c.fireDst)
			ba, bb := refBearing(c.a, fire), refBearing(c.b, fire)
			got, err := Intersect(c.a, ba, c.b, bb, 0)
			if err != nil {
				t.Fatal(err)
			}
			if d := refDistance(got, fire); d > 10 {
				t.Errorf("Intersect = %+v, %.2f m from the fire %+v", got, d, fire)
			}
			// The order of the towers does not matter.
			got2, err := Intersect(c.b, bb, c.a, ba, 0)
			if err != nil || refDistance(got2, fire) > 10 {
				t.Errorf("swapped: %+v, %v", got2, err)
			}
			for _, tower := range []Point{c.a, c.b} {
				p := Destination(tower, refBearing(tower, fire), refDistance(tower, fire))
				if d := refDistance(p, fire); d > 10 {
					t.Errorf("Destination from %+v: %.2f m from the fire", tower, d)
				}
			}
		})
	}
}

func TestIntersectRefuses(t *testing.T) {
	a, b := Point{25.0, 118.0}, Point{25.0, 118.05} // 5 km apart, b east of a
	for _, c := range []struct {
		name   string
		b1, b2 float64
		want   error
	}{
		{"parallel", 0, 0, ErrNearParallel},
		{"5° apart", 0, 355, ErrNearParallel},
		{"same line", 90, 90, ErrNearParallel},
		{"opposite along the line", 90, 270, ErrNearParallel},
		{"diverging", 300, 60, ErrNoCrossingAhead},
		{"meeting behind a", 300, 250, ErrNoCrossingAhead},
		{"meeting behind b", 110, 60, ErrNoCrossingAhead},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := Intersect(a, c.b1, b, c.b2, 10)
			if !errors.Is(err, c.want) {
				t.Fatalf("Intersect(%v, %v) = %+v, %v; want %v", c.b1, c.b2, p, err, c.want)
			}
		})
	}
	if _, err := Intersect(a, 0, a, 90, 0); !errors.Is(err, ErrSamePlace) {
		t.Errorf("same place: %v", err)
	}
	// Converging at 20°: accepted with a 10° minimum, refused with 30°.
	if _, err := Intersect(a, 10, b, 350, 10); err != nil {
		t.Errorf("20° crossing refused: %v", err)
	}
	if _, err := Intersect(a, 10, b, 350, 30); !errors.Is(err, ErrNearParallel) {
		t.Errorf("20° crossing under a 30° minimum: %v", err)
	}
}

func FuzzIntersect(f *testing.F) {
	f.Add(25.0, 118.0, 90.0, 25.1, 118.1, 180.0)
	f.Add(90.0, 0.0, 0.0, -90.0, 0.0, 0.0)
	f.Fuzz(func(t *testing.T, lat1, lon1, b1, lat2, lon2, b2 float64) {
		p1, p2 := Point{lat1, lon1}, Point{lat2, lon2}
		if !p1.Valid() || !p2.Valid() || math.IsNaN(b1) || math.IsNaN(b2) || math.IsInf(b1, 0) || math.IsInf(b2, 0) {
			return
		}
		p, err := Intersect(p1, b1, p2, b2, 0)
		if err == nil && (!p.Valid() || math.IsNaN(p.Lat) || math.IsNaN(p.Lon)) {
			t.Fatalf("Intersect gave %+v", p)
		}
		if d := Destination(p1, b1, 1000); !d.Valid() {
			t.Fatalf("Destination gave %+v", d)
		}
	})
}
