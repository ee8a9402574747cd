package alerting_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	dutydeskgw "github.com/hazardgw/hazardgw/adapters/dutydesk"
	"github.com/hazardgw/hazardgw/alerting"
	"github.com/hazardgw/hazardgw/gateway"
	"github.com/hazardgw/hazardgw/internal/testenv"
	"github.com/hazardgw/hazardgw/simulators/dutydesk"
)

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func f(v float64) *float64 { return &v }

var rules = []alerting.RuleConfig{
	{Name: "combustible-gas", Match: alerting.Match{Kind: "gas_detector", Point: "ch4"},
		Thresholds: []alerting.Threshold{{Level: "high", Above: f(25), Severity: "yellow"}, {Level: "high-high", Above: f(50), Severity: "red"}},
		Deadband:   2},
	{Name: "forest-fire", Match: alerting.Match{Kind: "fire_detection"},
		Event: &alerting.Event{Types: []string{"smoke", "fire"}, MinConfidence: 0.7}, Severity: "red", AutoResolve: 10 * time.Minute},
}

// site runs an engine that notifies a real duty desk simulator through the
// real webhook notifier.
type site struct {
	desk   *dutydesk.Server
	engine *alerting.Engine
	stop   func()
}

func startSite(t *testing.T) *site { return startSiteLog(t, nil) }

func startSiteLog(t *testing.T, logger *slog.Logger) *site {
	t.Helper()
	desk, err := dutydesk.New(dutydesk.Options{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := desk.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { desk.Close() })
	nc := alerting.NotifyConfig{Name: "duty-desk", URL: desk.URL(), Secret: secret, Timeout: 2 * time.Second}
	n, err := dutydeskgw.New(nc, dutydeskgw.Options{MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}, logger)
	if err != nil {
		t.Fatal(err)
	}
	e, err := alerting.New(alerting.Config{Rules: rules, Notify: []alerting.NotifyConfig{nc}}, alerting.Options{
		Site: "qz", Path: filepath.Join(t.TempDir(), "alerts.db"), Notifiers: map[string]alerting.Notifier{"duty-desk": n},
		Logger: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx, nil) }()
	s := &site{desk: desk, engine: e}
	s.stop = func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(func() {
		select {
		case <-ctx.Done():
		default:
			s.stop()
		}
	})
	return s
}

func (s *site) wait(t *testing.T, n int) []dutydesk.Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := s.desk.Wait(ctx, func(ds []dutydesk.Delivery) bool { return len(ds) >= n }); err != nil {
		t.Fatalf("%v: have %s", err, summary(s.desk.Deliveries()))
	}
	return s.desk.Deliveries()
}

func summary(ds []dutydesk.Delivery) []string {
	var out []string
	for _, d := range ds {
		out = append(out, fmt.Sprintf("%s %s %s %s", d.Alert.Device, d.Type, d.Alert.Level, d.Alert.Severity))
	}
	return out
}

func camera(cam, typ string, conf float64) gateway.Point {
	return gateway.Point{Measurement: "fire_detection", Tags: []gateway.Tag{{Key: "camera", Value: cam}, {Key: "type", Value: typ}},
		Fields: []gateway.Field{gateway.Float("confidence", conf)}, Time: time.Now()}
}

func gas(dev string, v float64) gateway.Point {
	return gateway.Point{Measurement: "gas_detector", Tags: []gateway.Tag{{Key: "device", Value: dev}},
		Fields: []gateway.Field{gateway.Float("ch4", v)}, Time: time.Now()}
}

// TestCameraEventsToDesk feeds fire_detection points (as the MQTT source
// stores them) to the engine: fire at 0.9 raises a red alert at the desk,
// smoke at 0.5 raises none.
func TestCameraEventsToDesk(t *testing.T) {
	s := startSite(t)
	s.engine.Observe([]gateway.Point{camera("CAM-03", "smoke", 0.5)})
	s.engine.Observe([]gateway.Point{camera("CAM-07", "fire", 0.9)})
	ds := s.wait(t, 1)
	s.stop() // everything observed is evaluated and delivered or kept
	ds = s.desk.Deliveries()
	if got := summary(ds); !slices.Equal(got, []string{"CAM-07 alert.firing fire red"}) {
		t.Fatalf("deliveries %q", got)
	}
	if !strings.Contains(ds[0].Alert.Message, "明火") || ds[0].Alert.Value != 0.9 {
		t.Errorf("alert %+v", ds[0].Alert)
	}
	if st := s.desk.Stats(); st.BadSignature != 0 {
		t.Errorf("desk stats %+v", st)
	}
}

// TestDeskOutageThenErrors: the desk refuses connections, then answers
// 503 five times; every notification still arrives, once, in order.
func TestDeskOutageThenErrors(t *testing.T) {
	var logs testenv.Buffer
	s := startSiteLog(t, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err := s.desk.RefuseFor(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	s.desk.SetFault(dutydesk.Fault{FailFirst: 5, Status: 503})
	for _, v := range []float64{30, 55, 30, 0} {
		s.engine.Observe([]gateway.Point{gas("GD-101", v)})
	}
	s.engine.Observe([]gateway.Point{gas("GD-102", 60)})
	ds := s.wait(t, 5)
	want := map[string][]string{
		"GD-101": {"alert.firing high", "alert.changed high-high", "alert.changed high", "alert.resolved high"},
		"GD-102": {"alert.firing high-high"},
	}
	got := map[string][]string{}
	for _, d := range ds {
		got[d.Alert.Device] = append(got[d.Alert.Device], d.Type+" "+d.Alert.Level)
	}
	for dev, w := range want {
		if !slices.Equal(got[dev], w) {
			t.Errorf("%s: %q, want %q", dev, got[dev], w)
		}
	}
	if st := s.desk.Stats(); st.Faulted != 5 || st.BadSignature != 0 || st.Delivered != 5 {
		t.Errorf("desk stats %+v", st)
	}
	// The secret is in the engine's and the notifier's configuration:
	// it must not reach their logs, even at Debug.
	for _, leak := range []string{secret, strings.TrimPrefix(secret, "whsec_")} {
		if strings.Contains(logs.String(), leak) {
			t.Errorf("secret in the logs:\n%s", logs.String())
		}
	}
	if !strings.Contains(logs.String(), "duty desk not accepting notifications") {
		t.Errorf("outage not logged:\n%s", logs.String())
	}
}
