package alerting

import (
	"strings"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/gateway"
)

func gatewayHealth(now time.Time, dropped float64) gateway.Point {
	return gateway.Point{Measurement: gateway.MeasurementGateway,
		Tags:   []gateway.Tag{{Key: "site", Value: "qz"}, {Key: "device", Value: gateway.GatewayDevice}},
		Fields: []gateway.Field{gateway.Float("spool_points", 100), gateway.Float(gateway.FieldSpoolDropped, dropped)}, Time: now}
}

// When the spool is full, the oldest points are dropped, counted,
// and an alert fires — without any rule in the configuration.
func TestSpoolFullAlarmIsBuiltIn(t *testing.T) {
	s := newSyncEngine(t, "", nil, 0)
	s.feed(gatewayHealth(s.clock.Now(), 0))
	eq(t, "no drops", s.notes(), nil)
	s.feed(gatewayHealth(s.clock.Now(), 120))
	eq(t, "drops", s.notes(), []string{"alert.firing data-loss orange"})
	// Still dropping, then quiet: resolves only after a quiet minute.
	s.clock.Add(10 * time.Second)
	s.feed(gatewayHealth(s.clock.Now(), 40))
	s.clock.Add(10 * time.Second)
	s.feed(gatewayHealth(s.clock.Now(), 0))
	eq(t, "quiet 0 s", s.notes(), []string{"alert.firing data-loss orange"})
	for range 7 {
		s.clock.Add(10 * time.Second)
		s.feed(gatewayHealth(s.clock.Now(), 0))
	}
	eq(t, "quiet 70 s", s.notes(), []string{"alert.firing data-loss orange", "alert.resolved data-loss orange"})
	a, err := s.e.Alerts(true)
	if err != nil || len(a) != 1 || a[0].Rule != SpoolFullRule || !strings.Contains(a[0].Message, "缓存已满") {
		t.Fatalf("alerts %+v", a)
	}
}
