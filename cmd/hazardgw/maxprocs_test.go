package main

import (
	"log/slog"
	"runtime"
	"testing"
)

func TestApplyMaxProcs(t *testing.T) {
	defer runtime.SetDefaultGOMAXPROCS()
	runtime.SetDefaultGOMAXPROCS()
	def := runtime.GOMAXPROCS(0)
	cases := []struct {
		name   string
		env    map[string]string
		mqtt   bool
		before int // GOMAXPROCS before the call
		want   int
	}{
		{name: "Modbus only: one", before: def, want: 1},
		{name: "with MQTT: the default", mqtt: true, before: 1, want: def},
		{name: "GOMAXPROCS in the environment is kept", env: map[string]string{"GOMAXPROCS": "3"}, before: 3, want: 3},
		{name: "… with MQTT too", env: map[string]string{"GOMAXPROCS": "1"}, mqtt: true, before: 1, want: 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			runtime.GOMAXPROCS(c.before)
			applyMaxProcs(func(k string) (string, bool) { v, ok := c.env[k]; return v, ok }, c.mqtt, slog.New(slog.DiscardHandler))
			if got := runtime.GOMAXPROCS(0); got != c.want {
				t.Fatalf("GOMAXPROCS %d, want %d", got, c.want)
			}
		})
	}
}
