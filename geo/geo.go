package geo

import (
	"errors"
	"fmt"
	"math"
)

// EarthRadius is the mean radius of the earth (IUGG R1), in metres.
const EarthRadius = 6371008.8

// DefaultMinCrossing is the smallest angle, in degrees, at which two lines
// of sight may cross for Intersect to trust where they meet: below it a
// bearing error of a fraction of a degree moves the point by kilometres.
const DefaultMinCrossing = 10.0

// Point is a position: latitude and longitude in degrees (WGS 84).
type Point struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// Valid reports whether p is a position: finite, latitude within ±90 and
// longitude within ±180.
func (p Point) Valid() bool {
	return p.Lat >= -90 && p.Lat <= 90 && p.Lon >= -180 && p.Lon <= 180
}

func rad(deg float64) float64 { return deg * math.Pi / 180 }
func deg(rad float64) float64 { return rad * 180 / math.Pi }

// normLon wraps a longitude into [-180, 180).
func normLon(lon float64) float64 {
	lon = math.Mod(lon+180, 360)
	if lon < 0 {
		lon += 360
	}
	return lon - 180
}

// Destination is the point reached from p by travelling distance metres
// along the great circle that leaves p at bearing degrees from true north.
func Destination(p Point, bearing, distance float64) Point {
	φ1, λ1, θ := rad(p.Lat), rad(p.Lon), rad(bearing)
	δ := distance / EarthRadius
	sinφ2 := math.Sin(φ1)*math.Cos(δ) + math.Cos(φ1)*math.Sin(δ)*math.Cos(θ)
	φ2 := math.Asin(math.Max(-1, math.Min(1, sinφ2)))
	y := math.Sin(θ) * math.Sin(δ) * math.Cos(φ1)
	x := math.Cos(δ) - math.Sin(φ1)*sinφ2
	λ2 := λ1 + math.Atan2(y, x)
	return Point{Lat: deg(φ2), Lon: normLon(deg(λ2))}
}

// Distance is the great-circle distance between a and b in metres
// (haversine, accurate down to millimetres).
func Distance(a, b Point) float64 {
	φ1, φ2 := rad(a.Lat), rad(b.Lat)
	dφ, dλ := φ2-φ1, rad(b.Lon-a.Lon)
	h := math.Sin(dφ/2)*math.Sin(dφ/2) + math.Cos(φ1)*math.Cos(φ2)*math.Sin(dλ/2)*math.Sin(dλ/2)
	return 2 * EarthRadius * math.Asin(math.Sqrt(math.Min(1, h)))
}

// Bearing is the initial bearing, degrees from true north in [0, 360),
// of the great circle from a to b.
func Bearing(a, b Point) float64 {
	φ1, φ2, dλ := rad(a.Lat), rad(b.Lat), rad(b.Lon-a.Lon)
	y := math.Sin(dλ) * math.Cos(φ2)
	x := math.Cos(φ1)*math.Sin(φ2) - math.Sin(φ1)*math.Cos(φ2)*math.Cos(dλ)
	b0 := math.Mod(deg(math.Atan2(y, x))+360, 360)
	if b0 >= 360 {
		b0 = 0
	}
	return b0
}

// Errors of Intersect; the returned error wraps one of them and says by
// how much.
var (
	// ErrNearParallel: the two lines of sight cross at less than the
	// minimum angle (or are the same line).
	ErrNearParallel = errors.New("lines of sight nearly parallel")
	// ErrNoCrossingAhead: the lines of sight do not meet in front of both
	// cameras (they diverge).
	ErrNoCrossingAhead = errors.New("lines of sight do not meet in front of both cameras")
	// ErrSamePlace: the two observers stand at the same place.
	ErrSamePlace = errors.New("observers at the same place")
)

type vec [3]float64

func (a vec) dot(b vec) float64 { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }
func (a vec) cross(b vec) vec {
	return vec{a[1]*b[2] - a[2]*b[1], a[2]*b[0] - a[0]*b[2], a[0]*b[1] - a[1]*b[0]}
}
func (a vec) norm() float64       { return math.Sqrt(a.dot(a)) }
func (a vec) scale(k float64) vec { return vec{a[0] * k, a[1] * k, a[2] * k} }
func (a vec) add(b vec) vec       { return vec{a[0] + b[0], a[1] + b[1], a[2] + b[2]} }
func (a vec) unit() vec           { return a.scale(1 / a.norm()) }

// nvector is p as a unit vector from the earth's centre.
func nvector(p Point) vec {
	φ, λ := rad(p.Lat), rad(p.Lon)
	return vec{math.Cos(φ) * math.Cos(λ), math.Cos(φ) * math.Sin(λ), math.Sin(φ)}
}

func fromNvector(v vec) Point {
	return Point{Lat: deg(math.Atan2(v[2], math.Hypot(v[0], v[1]))), Lon: normLon(deg(math.Atan2(v[1], v[0])))}
}

// heading is the unit vector tangent to the sphere at a, pointing at
// bearing degrees from north.
func heading(a vec, bearing float64) vec {
	north := vec{0, 0, 1}
	east := north.cross(a)
	if east.norm() < 1e-12 { // at a pole every direction is south: take the meridian of longitude 0
		east = vec{0, 1, 0}
	}
	east = east.unit()
	northT := a.cross(east)
	θ := rad(bearing)
	return northT.scale(math.Cos(θ)).add(east.scale(math.Sin(θ)))
}

// Intersect is where the line of sight from p1 at bearing b1 meets the
// one from p2 at bearing b2 (degrees from true north): of the two points
// where their great circles cross, the one in front of both observers.
//
// It refuses, with an error wrapping ErrNearParallel, lines that cross at
// less than minCrossing degrees (DefaultMinCrossing when ≤ 0); with
// ErrNoCrossingAhead, lines that meet only behind one of the observers
// (they diverge) or on the far side of the earth; and with ErrSamePlace, observers less than a metre apart.
func Intersect(p1 Point, b1 float64, p2 Point, b2 float64, minCrossing float64) (Point, error) {
	if minCrossing <= 0 {
		minCrossing = DefaultMinCrossing
	}
	if Distance(p1, p2) < 1 {
		return Point{}, ErrSamePlace
	}
	a1, a2 := nvector(p1), nvector(p2)
	d1, d2 := heading(a1, b1), heading(a2, b2)
	c1, c2 := a1.cross(d1), a2.cross(d2) // normals of the two great circles (unit: a ⟂ d)
	// The circles cross at the angle between their normals.
	crossing := deg(math.Acos(math.Min(1, math.Abs(c1.dot(c2)))))
	if crossing < minCrossing {
		return Point{}, fmt.Errorf("%w: they cross at %.1f°, under %.0f°", ErrNearParallel, crossing, minCrossing)
	}
	i := c1.cross(c2).unit()
	// A point x of a circle is ahead of its observer when it lies less
	// than 180° along the heading (x·d > 0); it is on the observer's side
	// of the earth when less than 90° away (x·a > 0). Without the second
	// test, two lines that diverge would "meet" at the antipode of where
	// they cross behind the observers.
	ahead := func(x vec) bool { return x.dot(d1) > 0 && x.dot(d2) > 0 && x.dot(a1) > 0 && x.dot(a2) > 0 }
	switch neg := i.scale(-1); {
	case ahead(i):
	case ahead(neg):
		i = neg
	default:
		return Point{}, fmt.Errorf("%w (bearings %.1f° and %.1f°)", ErrNoCrossingAhead, b1, b2)
	}
	return fromNvector(i), nil
}
