package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/internal/testenv"
	"github.com/hazardgw/hazardgw/simulators/dutydesk"
	"github.com/hazardgw/hazardgw/simulators/modbussim"
	"github.com/hazardgw/hazardgw/simulators/mqttsim"
)

// The duty desk's Standard Webhooks secret; the gateway gets it through
// ${DUTY_DESK_SECRET}, as a site would.
const deskSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// alertSite is a simulated site for alarm tests: gas detectors on the
// Modbus simulator, a real InfluxDB, the duty desk simulator, and the
// gateway's config. Detector n is unit n, device GD-10n, ch4 in holding
// registers 0-1 (float32 ABCD, %LEL).
type alertSite struct {
	t      testing.TB
	influx *testenv.Influx
	sim    *modbussim.Server
	desk   *dutydesk.Server
	api    string // http://127.0.0.1:port
	config string
}

type siteOpts struct {
	devices  int
	interval time.Duration
	repeat   time.Duration // notify.repeat_interval
	offDelay time.Duration
	spool    string // gateway.spool_max_bytes; default 1GiB
	// quality gives each detector a range of [0, 100] on ch4, a fault bit
	// (holding 2 bit 0, point fault) with a detector-fault rule, and a
	// calibration switch (holding 2 bit 1, point calibrating) as its
	// maintenance point.
	quality bool
	onDelay time.Duration // combustible-gas on_delay
	// chatter is combustible-gas's chatter setting (e.g. "{count: 1000,
	// window: 1s}"); empty: the default.
	chatter string
	// deskNotify is added to the duty-desk receiver (indented YAML lines,
	// e.g. group_by); moreNotify adds receivers after it.
	deskNotify, moreNotify string
}

// chatterLine is a rule's chatter line for c, or nothing.
func chatterLine(c string) string {
	if c == "" {
		return ""
	}
	return "      chatter: " + c + "\n"
}

func newAlertSite(t testing.TB, o siteOpts) *alertSite {
	t.Helper()
	dir := t.TempDir()
	s := &alertSite{t: t, influx: newInflux(t, "hazard")}
	var addr string
	s.sim, addr = newModbusSim(t, nil)
	for u := 1; u <= o.devices; u++ {
		s.set(u, 0)
	}
	s.desk = newDeskWith(t, dutydesk.Options{Secret: deskSecret, LogFile: filepath.Join(dir, "deliveries.jsonl")})
	port := testenv.FreePort(t)
	s.api = fmt.Sprintf("http://127.0.0.1:%d", port)

	if o.spool == "" {
		o.spool = "1GiB"
	}
	var b strings.Builder
	fmt.Fprintf(&b, `site: {id: e2e-site, name: 测试站, language: zh}
gateway:
  http: {listen: "127.0.0.1:%d", token: test-token}
  data_dir: %s
  spool_max_bytes: %s
  shutdown_timeout: 10s
influxdb:
  url: %s
  bucket: hazard/autogen
  batch_size: 500
  flush_interval: 200ms
modbus:
  links:
    - name: gas-panel
      url: tcp://%s
      timeout: 300ms
      devices:
`, port, filepath.Join(dir, "data"), o.spool, s.influx.URL(), addr)
	for u := 1; u <= o.devices; u++ {
		fmt.Fprintf(&b, `        - id: GD-10%d
          label: %d号储罐区可燃气体探测器
          unit_id: %d
          kind: gas_detector
          interval: %s
          tags: {area: tank-farm-A}
`, u, u, u, o.interval)
		if o.quality {
			b.WriteString(`          fault_point: fault
          maintenance_point: calibrating
          points:
            - {name: ch4, area: holding, address: 0, type: float32, order: ABCD, unit: "%LEL", range: [0, 100], label: 甲烷}
            - {name: fault, area: holding, address: 2, type: bool, bit: 0}
            - {name: calibrating, area: holding, address: 2, type: bool, bit: 1}
`)
		} else {
			b.WriteString(`          points:
            - {name: ch4, area: holding, address: 0, type: float32, order: ABCD, unit: "%LEL"}
`)
		}
	}
	fmt.Fprintf(&b, `alerting:
  rules:
    - name: combustible-gas
      match: {kind: gas_detector, point: ch4}
      thresholds:
        - {level: high, above: 25, severity: yellow}
        - {level: high-high, above: 50, severity: red}
      deadband: 2
      off_delay: %s
      on_delay: %s
%s    - name: device-offline
      match: {device: "*"}
      stale: {after: 3}
      severity: orange
`, o.offDelay, o.onDelay, chatterLine(o.chatter))
	if o.quality {
		b.WriteString(`    - name: detector-fault
      match: {kind: gas_detector, point: fault}
      state: {value: true, level: fault}
      severity: red
`)
	}
	fmt.Fprintf(&b, `  notify:
    - name: duty-desk
      url: %s
      secret: ${DUTY_DESK_SECRET}
      timeout: 2s
      repeat_interval: %s
%s%s`, s.desk.URL(), o.repeat, o.deskNotify, o.moreNotify)
	s.config = filepath.Join(dir, "hazardgw.yaml")
	if err := os.WriteFile(s.config, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *alertSite) start() *gatewayProc {
	s.t.Helper()
	return startGateway(s.t, s.config, "DUTY_DESK_SECRET="+deskSecret)
}

// set writes detector unit's ch4 reading into the simulator.
// addReceivers appends receiver entries (YAML list items under notify,
// indented four spaces) to the site's configuration.
func (s *alertSite) addReceivers(entries string) {
	s.t.Helper()
	f, err := os.OpenFile(s.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		s.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(entries); err != nil {
		s.t.Fatal(err)
	}
}

func (s *alertSite) set(unit int, v float64) {
	s.t.Helper()
	if err := s.sim.Unit(uint8(unit)).SetValue(modbussim.Holding, 0, "float32", "ABCD", 1, 0, v); err != nil {
		s.t.Fatal(err)
	}
}

// history lists what the desk received for one device and rule, as
// "type level severity", in order of receipt.
func (s *alertSite) history(device, rule string, withReminders bool) []string {
	var out []string
	for _, d := range s.desk.Deliveries() {
		if d.Alert.Device != device || d.Alert.Rule != rule || !withReminders && d.Type == "alert.reminder" {
			continue
		}
		out = append(out, d.Type+" "+d.Alert.Level+" "+d.Alert.Severity)
	}
	return out
}

func (s *alertSite) waitDesk(timeout time.Duration, what string, cond func(ds []dutydesk.Delivery) bool) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := s.desk.Wait(ctx, cond); err != nil {
		s.t.Fatalf("duty desk: %s: %v; received:\n%s", what, err, strings.Join(s.received(), "\n"))
	}
}

func (s *alertSite) received() []string {
	var out []string
	for _, d := range s.desk.Deliveries() {
		out = append(out, fmt.Sprintf("%s %s %s/%s %s %s %s", d.ReceivedAt.Format("15:04:05.000"), d.WebhookID, d.Alert.Rule,
			d.Alert.Device, d.Type, d.Alert.Level, d.Alert.Severity))
	}
	return out
}

func has(device, rule, typ string) func([]dutydesk.Delivery) bool {
	return func(ds []dutydesk.Delivery) bool {
		return slices.ContainsFunc(ds, func(d dutydesk.Delivery) bool {
			return d.Alert.Device == device && d.Alert.Rule == rule && d.Type == typ
		})
	}
}

// call does an API request; token "" sends none.
func (s *alertSite) call(method, path, token, body string) (int, []byte) {
	s.t.Helper()
	return callAPI(s.t, method, s.api+path, token, body)
}

type apiAlert struct {
	ID, Rule, Device, Level, Severity, State, Status string
	Acknowledged                                     bool
}

func (s *alertSite) alerts(state string) []apiAlert {
	s.t.Helper()
	code, body := s.call("GET", "/api/v1/alerts?state="+state, "test-token", "")
	var list []apiAlert
	if code != 200 || json.Unmarshal(body, &list) != nil {
		s.t.Fatalf("GET alerts: %d %s", code, body)
	}
	return list
}

func (s *alertSite) findAlert(device, rule string) (apiAlert, bool) {
	for _, a := range s.alerts("all") {
		if a.Device == device && a.Rule == rule {
			return a, true
		}
	}
	return apiAlert{}, false
}

// gasLevel is the status and level of dev's combustible-gas alert, as
// the API shows it ("firing high-high").
func (s *alertSite) gasLevel(dev string) string {
	a, _ := s.findAlert(dev, "combustible-gas")
	return a.Status + " " + a.Level
}

// raiseTwoEscalateOne drives GD-101 to high and GD-102 to high-high, then
// GD-101 on to high-high, each step committed before the next.
func (s *alertSite) raiseTwoEscalateOne() {
	s.t.Helper()
	s.set(1, 30)
	s.set(2, 55)
	testenv.Eventually(s.t, 20*time.Second, func() bool {
		return s.gasLevel("GD-101") == "firing high" && s.gasLevel("GD-102") == "firing high-high"
	}, "both alerts committed")
	s.set(1, 55)
	testenv.Eventually(s.t, 20*time.Second, func() bool { return s.gasLevel("GD-101") == "firing high-high" }, "GD-101 escalated")
}

// TestAlertGasRampDeadbandAckAndReminders drives GD-101 from 0 to 60 %LEL
// and back to 0 while GD-102 wobbles ±1 around the first-level set point,
// then acknowledges GD-102's alert through the API.
func TestAlertGasRampDeadbandAckAndReminders(t *testing.T) {
	const repeat = 2 * time.Second
	s := newAlertSite(t, siteOpts{devices: 2, interval: 500 * time.Millisecond, repeat: repeat})
	s.start()

	if code, _ := s.call("GET", "/api/v1/alerts", "", ""); code != http.StatusUnauthorized {
		t.Errorf("GET alerts without token: %d, want 401", code)
	}
	if code, _ := s.call("POST", "/api/v1/alerts/x/ack", "wrong-token", `{"by":"x"}`); code != http.StatusUnauthorized {
		t.Errorf("ack with a wrong token: %d, want 401", code)
	}
	if list := s.alerts("active"); len(list) != 0 {
		t.Fatalf("alerts before any breach: %+v", list)
	}

	// GD-102 wobbles 24 ↔ 26 around 25 with deadband 2 while GD-101 ramps.
	ctx, stopWobble := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(350 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			v := 24.0
			if i%2 == 0 {
				v = 26
			}
			if err := s.sim.Unit(2).SetValue(modbussim.Holding, 0, "float32", "ABCD", 1, 0, v); err != nil {
				t.Error(err)
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	})
	// The ramp is the scenario's timeline: 0, 2, … 60 %LEL, 250 ms apart.
	for v := 0.0; v <= 60; v += 2 {
		s.set(1, v)
		time.Sleep(250 * time.Millisecond)
	}
	s.waitDesk(30*time.Second, "GD-101 second-level alarm", has("GD-101", "combustible-gas", "alert.changed"))
	s.set(1, 0)
	s.waitDesk(30*time.Second, "GD-101 resolved", has("GD-101", "combustible-gas", "alert.resolved"))
	stopWobble()
	wg.Wait()
	s.set(2, 30) // GD-102 stays at its first level

	if got, want := s.history("GD-101", "combustible-gas", false), []string{
		"alert.firing high yellow", "alert.changed high-high red", "alert.resolved high-high red",
	}; !slices.Equal(got, want) {
		t.Errorf("GD-101: %q, want %q", got, want)
	}
	if got := s.history("GD-102", "combustible-gas", false); !slices.Equal(got, []string{"alert.firing high yellow"}) {
		t.Errorf("GD-102 wobbling ±1 around the set point with deadband 2: %q, want one firing", got)
	}
	for _, d := range s.desk.Deliveries() {
		if d.Alert.Device == "GD-101" && d.Type == "alert.changed" && d.Alert.Message != "" &&
			!strings.HasPrefix(d.Alert.Message, "【测试站】1号储罐区可燃气体探测器 甲烷 ") {
			t.Errorf("message for the duty officer: %q", d.Alert.Message)
		}
	}

	// Reminders while GD-102's alert is active and unacknowledged.
	s.waitDesk(30*time.Second, "a reminder for GD-102", has("GD-102", "combustible-gas", "alert.reminder"))
	a, ok := s.findAlert("GD-102", "combustible-gas")
	if !ok || a.State != "active-unacknowledged" {
		t.Fatalf("GD-102 alert %+v", a)
	}
	for _, tc := range []struct {
		id, body string
		code     int
	}{
		{a.ID, `{"by":`, 400},
		{"0123456789abcdef0123", `{"by":"张三"}`, 404},
		{a.ID, `{"by":"张三","comment":"已派人现场确认"}`, 200},
		{a.ID, `{"by":"李四"}`, 200}, // idempotent
	} {
		if code, body := s.call("POST", "/api/v1/alerts/"+tc.id+"/ack", "test-token", tc.body); code != tc.code {
			t.Errorf("ack %s %s: %d %s, want %d", tc.id, tc.body, code, body, tc.code)
		}
	}
	s.waitDesk(30*time.Second, "GD-102 acknowledged", has("GD-102", "combustible-gas", "alert.acknowledged"))
	reminders := len(s.history("GD-102", "combustible-gas", true)) - len(s.history("GD-102", "combustible-gas", false))
	// An expectation over a time window (as in Alertmanager's acceptance
	// tests): three repeat intervals without a reminder.
	time.Sleep(3 * repeat)
	all := s.history("GD-102", "combustible-gas", true)
	if got := len(all) - len(s.history("GD-102", "combustible-gas", false)); got != reminders {
		t.Errorf("reminders went on after the acknowledgement: %d before, %d after: %q", reminders, got, all)
	}
	if got := s.history("GD-102", "combustible-gas", false); !slices.Equal(got, []string{"alert.firing high yellow", "alert.acknowledged high yellow"}) {
		t.Errorf("GD-102 after ack: %q", got)
	}
	if a, _ := s.findAlert("GD-102", "combustible-gas"); a.State != "active-acknowledged" || !a.Acknowledged {
		t.Errorf("GD-102 alert after ack %+v", a)
	}

	// Every delivery was validly signed, and the transitions are in InfluxDB.
	if st := s.desk.Stats(); st.BadSignature != 0 || st.Delivered != len(s.desk.Deliveries()) {
		t.Errorf("desk stats %+v", st)
	}
	testenv.Eventually(t, 30*time.Second, func() bool {
		return s.influx.Count("hazard", "alert", `"device"='GD-101' AND "rule"='combustible-gas'`) == 3
	}, "GD-101's three alert transitions in InfluxDB")
	res, err := s.influx.Query("hazard", `SELECT status, level, severity, threshold, id FROM alert WHERE "device"='GD-101' ORDER BY time`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rowsOf(res) {
		got = append(got, fmt.Sprintf("%v %v %v %v", r.Value("status"), r.Value("level"), r.Value("severity"), r.Value("threshold")))
	}
	if want := []string{"firing high yellow 25", "changed high-high red 50", "resolved high-high red 50"}; !slices.Equal(got, want) {
		t.Errorf("alert points %q, want %q", got, want)
	}
}

// TestAlertDeviceOfflineAndBack: a detector that stops answering raises
// the offline alert; when it answers again the alert resolves.
func TestAlertDeviceOfflineAndBack(t *testing.T) {
	s := newAlertSite(t, siteOpts{devices: 1, interval: 500 * time.Millisecond})
	s.set(1, 30) // a first-level alarm that the outage must neither clear nor repeat
	s.start()
	s.waitDesk(30*time.Second, "gas alarm", has("GD-101", "combustible-gas", "alert.firing"))
	if err := s.sim.Unit(1).SetFault(modbussim.Fault{Mode: modbussim.NoReply}); err != nil {
		t.Fatal(err)
	}
	s.waitDesk(30*time.Second, "offline alert", has("GD-101", "device-offline", "alert.firing"))
	if err := s.sim.Unit(1).SetFault(modbussim.Fault{}); err != nil {
		t.Fatal(err)
	}
	s.waitDesk(30*time.Second, "offline resolved", has("GD-101", "device-offline", "alert.resolved"))
	if got := s.history("GD-101", "device-offline", false); !slices.Equal(got, []string{"alert.firing offline orange", "alert.resolved offline orange"}) {
		t.Errorf("offline alert: %q", got)
	}
	if got := s.history("GD-101", "combustible-gas", false); !slices.Equal(got, []string{"alert.firing high yellow"}) {
		t.Errorf("the gas alarm across the outage: %q", got)
	}
}

// TestAlertDeliveryAcrossDeskOutageAndKill9: the desk refuses connections
// for 60 s and then answers 503 five times; meanwhile alerts fire, change
// and resolve, and the gateway is killed with SIGKILL and restarted with
// notifications pending. Every notification arrives, once, in order, and
// the alerts active at the kill are not fired again.
func TestAlertDeliveryAcrossDeskOutageAndKill9(t *testing.T) {
	refuse := 60 * time.Second
	if testing.Short() {
		refuse = 20 * time.Second
	}
	s := newAlertSite(t, siteOpts{devices: 2, interval: 500 * time.Millisecond})
	gw := s.start()
	if err := s.desk.RefuseFor(refuse); err != nil {
		t.Fatal(err)
	}
	s.desk.SetFault(dutydesk.Fault{FailFirst: 5, Status: http.StatusServiceUnavailable})
	outageEnds := time.Now().Add(refuse)

	s.raiseTwoEscalateOne()
	gw.kill9()
	if n := len(s.desk.Deliveries()); n != 0 {
		t.Fatalf("the desk was refusing, yet it has %d deliveries", n)
	}

	s.start() // still breached: the restart must not fire them again
	s.set(2, 0)
	testenv.Eventually(t, 20*time.Second, func() bool { return s.gasLevel("GD-102") == "resolved high-high" }, "GD-102 resolved")
	if time.Now().After(outageEnds) {
		t.Fatalf("the scenario took longer than the desk's %v outage", refuse)
	}

	s.waitDesk(refuse+60*time.Second, "every notification", func(ds []dutydesk.Delivery) bool { return len(ds) >= 4 })
	// Anything fired again would be a new notification: an expectation
	// over a time window of a few polls.
	time.Sleep(2 * time.Second)
	if got, want := s.history("GD-101", "combustible-gas", true), []string{"alert.firing high yellow", "alert.changed high-high red"}; !slices.Equal(got, want) {
		t.Errorf("GD-101: %q, want %q", got, want)
	}
	if got, want := s.history("GD-102", "combustible-gas", true), []string{"alert.firing high-high red", "alert.resolved high-high red"}; !slices.Equal(got, want) {
		t.Errorf("GD-102: %q, want %q", got, want)
	}
	if st := s.desk.Stats(); st.Faulted != 5 || st.BadSignature != 0 || st.Delivered != 4 {
		t.Errorf("desk stats %+v", st)
	}
	if t.Failed() {
		t.Logf("received:\n%s", strings.Join(s.received(), "\n"))
	}
}

// BenchmarkAlarmLatency measures the time from a register change in the
// simulator to the duty desk's receipt of the notification, at a 500 ms
// poll interval, through the real (race-built) gateway: each iteration
// raises one alarm (0 → 60 %LEL) and resolves it (→ 0), two samples.
// The rule's chatter detection is set out of reach (a thousand firings in
// a second): an alarm raised again and again on purpose would otherwise be
// reported chattering from the third, and the benchmark measures the
// firing notification. Run with e.g. -bench AlarmLatency -benchtime 40x;
// it reports p50/p99.
func BenchmarkAlarmLatency(b *testing.B) {
	s := newAlertSite(b, siteOpts{devices: 1, interval: 500 * time.Millisecond, chatter: "{count: 1000, window: 1s}"})
	s.start()
	var lat []time.Duration
	n := 0
	for b.Loop() {
		for _, v := range []float64{60, 0} {
			typ := "alert.firing"
			if v == 0 {
				typ = "alert.resolved"
			}
			// Change at a random phase of the poll cycle: right after a
			// receipt would always be just after a poll (phase lock).
			time.Sleep(rand.N(500 * time.Millisecond))
			before := len(s.desk.Deliveries())
			changed := time.Now()
			if err := s.sim.Unit(1).SetValue(modbussim.Holding, 0, "float32", "ABCD", 1, 0, v); err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := s.desk.Wait(ctx, func(ds []dutydesk.Delivery) bool {
				return len(ds) > before && ds[len(ds)-1].Type == typ
			})
			cancel()
			if err != nil {
				b.Fatal(err)
			}
			ds := s.desk.Deliveries()
			lat = append(lat, ds[len(ds)-1].ReceivedAt.Sub(changed))
			n++
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(lat)))) - 1
		return float64(lat[max(i, 0)]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1])/float64(time.Millisecond), "max-ms")
	b.ReportMetric(float64(n), "alarms")
}

// TestAlertCameraFireViaMQTT publishes camera events to Mosquitto: fire
// at confidence 0.9 raises a red alert at the duty desk, smoke at 0.5
// raises none.
func TestAlertCameraFireViaMQTT(t *testing.T) {
	s := newMQTTSite(t, "forest-01", "hazard")
	influx, desk := s.influx, s.desk
	s.writeConfig("name: 林区, language: zh", "hazardgw-e2e-alerts", `  subscriptions:
    - {topic: "site/{site}/camera/{camera}/event", format: camera_event, qos: 1}
alerting:
  rules:
    - name: forest-fire
      match: {kind: fire_detection}
      event: {types: [smoke, fire], min_confidence: 0.7}
      severity: red
      auto_resolve: 10m
  notify:
    - {name: duty-desk, url: %q, secret: "${DUTY_DESK_SECRET}", timeout: 2s}
`, desk.URL())
	_, ctx, pub := s.start(60*time.Second, "e2e-cameras")
	for _, ev := range []mqttsim.CameraEvent{
		{EventID: "CAM-03-000001", CameraID: "CAM-03", TS: time.Now(), Type: mqttsim.Smoke, Confidence: 0.5},
		{EventID: "CAM-07-000001", CameraID: "CAM-07", TS: time.Now(), Type: mqttsim.Fire, Confidence: 0.9, BearingDeg: mqttsim.Ptr(132.5)},
	} {
		if err := pub.PublishCamera(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := desk.Wait(ctx, func(ds []dutydesk.Delivery) bool { return len(ds) >= 1 }); err != nil {
		t.Fatal(err)
	}
	// The smoke event was published first: once both are in InfluxDB, the
	// engine has seen both.
	// Once both events are in InfluxDB the engine has long evaluated both
	// (it sees points when they are committed, before the forwarder).
	testenv.Eventually(t, 30*time.Second, func() bool { return influx.Count("hazard", "fire_detection", "") == 2 }, "both events stored")
	req, _ := http.NewRequest("GET", s.api+"/api/v1/alerts", nil)
	req.Header.Set("Authorization", "Bearer test-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var open []apiAlert
	json.NewDecoder(resp.Body).Decode(&open)
	resp.Body.Close()
	if len(open) != 1 || open[0].Device != "CAM-07" {
		t.Errorf("open alerts %+v, want CAM-07's only", open)
	}
	testenv.Eventually(t, 30*time.Second, func() bool { return influx.Count("hazard", "alert", "") == 1 }, "the alert point stored")
	ds := desk.Deliveries()
	if len(ds) != 1 || ds[0].Type != "alert.firing" || ds[0].Alert.Device != "CAM-07" || ds[0].Alert.Severity != "red" ||
		ds[0].Alert.Level != "fire" || ds[0].Alert.Value != 0.9 || !strings.Contains(ds[0].Alert.Message, "明火") {
		t.Fatalf("deliveries %+v", ds)
	}
}

// listenAddr is the gateway's http.listen address in a config file.
func listenAddr(t testing.TB, config string) string {
	t.Helper()
	b, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`listen: "?([0-9.]+:[0-9]+)`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no listen address in %s", config)
	}
	return string(m[1])
}
