package main

import "github.com/hazardgw/hazardgw/alerting"

// mqttDeclaredSeries lists the declared MQTT devices (mqtt.devices) for the
// site check: a declared device is known even before it speaks.
func mqttDeclaredSeries(f *File) []alerting.Series {
	_ = f // mqtt.devices is not configurable yet: nothing declared
	return nil
}
