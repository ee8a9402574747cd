package geo_test

import (
	"fmt"

	"github.com/hazardgw/hazardgw/geo"
)

func ExampleDestination() {
	tower := geo.Point{Lat: 25.07, Lon: 118.21}
	fire := geo.Destination(tower, 132.5, 1800) // the camera: 132.5° from true north, 1.8 km
	fmt.Printf("%.4f %.4f\n", fire.Lat, fire.Lon)
	// Output: 25.0591 118.2232
}

func ExampleIntersect() {
	east, west := geo.Point{Lat: 25.07, Lon: 118.21}, geo.Point{Lat: 25.03, Lon: 118.15}
	fire, err := geo.Intersect(east, 200, west, 96.5, geo.DefaultMinCrossing)
	fmt.Printf("%.4f %.4f %v\n", fire.Lat, fire.Lon, err)
	_, err = geo.Intersect(east, 90, west, 92, geo.DefaultMinCrossing)
	fmt.Println(err)
	// Output:
	// 25.0256 118.1922 <nil>
	// lines of sight nearly parallel: they cross at 2.0°, under 10°
}
