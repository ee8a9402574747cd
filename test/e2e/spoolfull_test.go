package e2e

import (
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/alerting"
	"github.com/hazardgw/hazardgw/gateway"
)

// TestAlertSpoolFullWhileInfluxIsDown: with InfluxDB down and a small spool,
// polling fills it; the oldest points are dropped, and the duty desk gets
// the built-in data-loss alarm, signed, without any rule in the config.
func TestAlertSpoolFullWhileInfluxIsDown(t *testing.T) {
	s := newAlertSite(t, siteOpts{devices: 4, interval: 10 * time.Millisecond, offDelay: time.Second, spool: "1MiB"})
	s.influx.Stop()
	gw := s.start()
	s.waitDesk(2*time.Minute, "the spool-full alarm", has(gateway.GatewayDevice, alerting.SpoolFullRule, "alert.firing"))
	a, ok := s.findAlert(gateway.GatewayDevice, alerting.SpoolFullRule)
	if !ok || a.Severity != "orange" {
		t.Fatalf("spool-full alert %+v (found %v)", a, ok)
	}
	gw.stop(30 * time.Second)
}
