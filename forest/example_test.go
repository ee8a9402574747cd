package forest_test

import (
	"context"
	"fmt"
	"time"

	"github.com/hazardgw/hazardgw/forest"
	"github.com/hazardgw/hazardgw/gateway"
)

// A station reading observed from the pipeline is rated and written back
// as a fire_danger point.
func Example() {
	loc, _ := time.LoadLocation("Asia/Shanghai")
	d, err := forest.New(forest.Config{Danger: forest.DangerConfig{
		Station:        "WS-01",
		Points:         forest.Points{Temperature: "air_temp_c", Humidity: "rh_pct", Wind: "wind_ms", Rain: "rain_mm"},
		InitialDryDays: 6,
	}}, forest.Options{Site: "bs-forest-01", Location: loc})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := d.Open(); err != nil {
		fmt.Println(err)
		return
	}
	at := time.Date(2026, 11, 22, 14, 0, 0, 0, loc)
	d.Observe([]gateway.Point{{Measurement: "weather_station",
		Tags: []gateway.Tag{{Key: "site", Value: "bs-forest-01"}, {Key: "device", Value: "WS-01"}},
		Fields: []gateway.Field{gateway.Float("air_temp_c", 26.3), gateway.Float("rh_pct", 23), gateway.Float("wind_ms", 6.1),
			gateway.Float("rain_mm", 0)},
		Time: at}})

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		done <- d.Run(ctx, gateway.AcceptFunc(func(_ context.Context, pts []gateway.Point) error {
			for _, p := range pts {
				fmt.Print(p.Measurement)
				for _, f := range p.Fields {
					fmt.Printf(" %s=%d", f.Key, f.I)
				}
				fmt.Println()
			}
			cancel()
			return nil
		}))
	}()
	<-done
	// Output:
	// fire_danger index=90 level=4 a=20 b=20 c=30 e=20
}
