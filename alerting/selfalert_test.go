package alerting

import (
	"strings"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/gateway"
)

func health(now time.Time, fields ...gateway.Field) gateway.Point {
	return gateway.Point{Measurement: gateway.MeasurementGateway,
		Tags:   []gateway.Tag{{Key: "site", Value: "qz"}, {Key: "device", Value: gateway.GatewayDevice}},
		Fields: fields, Time: now}
}

func TestSelfAlerts(t *testing.T) {
	cases := []struct {
		rule, field string
		quiet, loud float64
		want        string
	}{
		{MQTTUnreachableRule, gateway.FieldMQTTDown, 20, 31, "MQTT 服务器"},
		{InfluxUnreachableRule, gateway.FieldSinkStalled, 200, 301, "InfluxDB"},
		{StorageDamagedRule, gateway.FieldStorageDamaged, 0, 1, "数据文件损坏"},
		{DeviceLimitRule, gateway.FieldUntrackedDevices, 0, 3, "max_devices"},
	}
	for _, c := range cases {
		t.Run(c.rule, func(t *testing.T) {
			s := newSyncEngine(t, "", nil, 0)
			s.feed(health(s.clock.Now(), gateway.Float(c.field, c.quiet)))
			eq(t, "quiet", s.notes(), nil)
			s.clock.Add(10 * time.Second)
			s.feed(health(s.clock.Now(), gateway.Float(c.field, c.loud)))
			s.clock.Add(10 * time.Second)
			s.feed(health(s.clock.Now(), gateway.Float(c.field, c.loud+10)))
			if n := s.notes(); len(n) != 1 || !strings.HasPrefix(n[0], "alert.firing") {
				t.Fatalf("notifications %q", n)
			}
			a, _ := s.e.Alerts(false)
			if len(a) != 1 || a[0].Rule != c.rule || !strings.Contains(a[0].Message, c.want) {
				t.Fatalf("alerts %+v", a)
			}
		})
	}
}

func TestSelfAlertDelaysFromOptions(t *testing.T) {
	e, err := New(Config{}, Options{Path: "x", MQTTAlertAfter: time.Minute, SinkAlertAfter: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if l := e.byName[MQTTUnreachableRule].levels[0].limit; l != 60 {
		t.Errorf("mqtt limit %v s", l)
	}
	if l := e.byName[InfluxUnreachableRule].levels[0].limit; l != 3600 {
		t.Errorf("influx limit %v s", l)
	}
}
