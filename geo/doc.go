// Package geo is the small amount of geodesy a fire-lookout network needs:
// where a fire is, from a camera's position, the bearing it sees the fire
// at and, when it measures it, the distance; or from two cameras' bearings.
//
// The earth is taken as a sphere of the mean radius R = 6 371 008.8 m
// (IUGG). Bearings are degrees clockwise from true north, positions WGS 84
// latitude and longitude in degrees. Over the 1–30 km a lookout camera
// sees, the sphere is off the ellipsoid by at most about 0.5 % of the
// distance — tens of metres, well inside what a camera's bearing (±0.5°,
// 90 m at 10 km) can tell.
//
// Every function is pure and safe for concurrent use.
//
// # Example
//
//	tower := geo.Point{Lat: 25.07, Lon: 118.21}
//	fire := geo.Destination(tower, 132.5, 1800) // camera says: 132.5°, 1.8 km
//	fix, err := geo.Intersect(tower, 200, geo.Point{Lat: 25.03, Lon: 118.15}, 96.5, geo.DefaultMinCrossing)
//	if err != nil { ... } // the bearings are near-parallel, or do not meet in front of both cameras
package geo
