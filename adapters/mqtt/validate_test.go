package mqtt

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/internal/conf"
)

func fp(f float64) *float64 { return &f }

func TestValidateDevices(t *testing.T) {
	tests := []struct {
		name    string
		devices []Device
		max     int
		subs    []Subscription // default: testConfig's
		want    []string       // "path: message fragment"; none: valid
		warn    []string
	}{
		{name: "spec example", devices: []Device{
			{ID: "CAM-01", Kind: "camera", Label: "东山瞭望塔1号摄像机", Stale: 10 * time.Minute, Location: &Location{Lat: fp(25.07), Lon: fp(118.21), ElevationM: fp(820)}},
			{ID: "KK-03", Kind: "checkpoint", Label: "九仙山入口智能语音卡口", Stale: 30 * time.Minute},
		}},
		{name: "bad ids", devices: []Device{{ID: "CAM 01", Kind: "camera"}, {ID: "", Kind: "camera"}, {ID: "A", Kind: "camera"}, {ID: "A", Kind: "checkpoint"}},
			want: []string{`mqtt.devices[0].id: invalid id "CAM 01"`, `mqtt.devices[1].id: required`, `mqtt.devices[3].id: duplicate device id "A" (first at mqtt.devices[2].id)`}},
		{name: "kinds", devices: []Device{{ID: "A", Kind: ""}, {ID: "B", Kind: "fire-cam"}, {ID: "C", Kind: "device_status"}, {ID: "D", Kind: "hazardgw"}},
			want: []string{`mqtt.devices[0].kind: required`, `mqtt.devices[1].kind: invalid name`, `mqtt.devices[2].kind: "device_status" is a measurement of the gateway itself`, `mqtt.devices[3].kind: "hazardgw" is a measurement`}},
		{name: "kind nothing delivers", devices: []Device{{ID: "W", Kind: "weather_station"}},
			warn: []string{`mqtt.devices[0].kind: no subscription delivers weather_station messages`}},
		{name: "kind delivered by heartbeats", devices: []Device{{ID: "W", Kind: "weather_station"}},
			subs: []Subscription{{Topic: "d/{device}", Format: FormatDeviceStatus}}},
		{name: "stale and label", devices: []Device{{ID: "A", Kind: "camera", Stale: -time.Second, Label: "a\nb"}},
			want: []string{`mqtt.devices[0].label: must be printable`, `mqtt.devices[0].stale: must not be negative`}},
		{name: "locations", devices: []Device{
			{ID: "A", Kind: "camera", Location: &Location{}},
			{ID: "B", Kind: "camera", Location: &Location{Lat: fp(91), Lon: fp(-181)}},
			{ID: "C", Kind: "camera", Location: &Location{Lat: fp(math.NaN()), Lon: fp(0), ElevationM: fp(20000)}},
		}, want: []string{
			`mqtt.devices[0].location.lat: required`, `mqtt.devices[0].location.lon: required`,
			`mqtt.devices[1].location.lat: must be within ±90 degrees (got 91)`, `mqtt.devices[1].location.lon: must be within ±180 degrees (got -181)`,
			`mqtt.devices[2].location.lat: must be a finite number`, `mqtt.devices[2].location.elevation_m: must be within -500..9000 m`,
		}},
		{name: "max_devices", max: -1, want: []string{`mqtt.max_devices: must be 1..100000, or 0 for the default 1000 (got -1)`}},
		{name: "max_devices too large", max: MaxMaxDevices + 1, want: []string{`mqtt.max_devices: must be 1..100000`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Devices, cfg.MaxDevices = tc.devices, tc.max
			if tc.subs != nil {
				cfg.Subscriptions = tc.subs
			}
			var p conf.Problems
			cfg.Validate("mqtt", &p)
			check := func(what string, got []conf.Problem, want []string) {
				t.Helper()
				var lines []string
				for _, pr := range got {
					lines = append(lines, pr.Path+": "+pr.Msg)
				}
				if len(lines) != len(want) {
					t.Fatalf("%s:\n%s\nwant %d: %q", what, strings.Join(lines, "\n"), len(want), want)
				}
				for i := range want {
					if !strings.HasPrefix(lines[i], want[i]) {
						t.Errorf("%s %d: %s\nwant %s…", what, i, lines[i], want[i])
					}
				}
			}
			check("problems", p.List, tc.want)
			check("warnings", p.Warnings, tc.warn)
			// New applies the same rules.
			_, err := New(cfg, "qz", nil, nil)
			if (err != nil) != (len(tc.want) > 0) {
				t.Errorf("New: %v", err)
			}
		})
	}
}

func TestValidateDeviceStatusFormat(t *testing.T) {
	cfg := testConfig()
	cfg.Subscriptions = append(cfg.Subscriptions,
		Subscription{Topic: "site/{site}/device/{device}/status", Format: FormatDeviceStatus},
		Subscription{Topic: "x/{device}", Format: FormatDeviceStatus, JSON: &JSONMapping{Measurement: "m"}})
	var p conf.Problems
	cfg.Validate("mqtt", &p)
	if len(p.List) != 1 || p.List[0].Path != "mqtt.subscriptions[3].json" {
		t.Errorf("problems: %+v", p.List)
	}
}

func TestValidateDevicesNeedURL(t *testing.T) {
	cfg := Config{Devices: []Device{{ID: "A", Kind: "camera"}}}
	var p conf.Problems
	cfg.Validate("mqtt", &p)
	if len(p.List) != 1 || p.List[0].Path != "mqtt.url" {
		t.Errorf("problems: %+v", p.List)
	}
}
