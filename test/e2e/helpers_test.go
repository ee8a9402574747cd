package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/internal/testenv"
	"github.com/hazardgw/hazardgw/simulators/dutydesk"
	"github.com/hazardgw/hazardgw/simulators/modbussim"
	"github.com/hazardgw/hazardgw/simulators/mqttsim"
)

// newDesk starts a duty desk on a free loopback port that verifies
// signatures made with deskSecret; it closes when the test ends.
func newDesk(t testing.TB) *dutydesk.Server {
	t.Helper()
	return newDeskWith(t, dutydesk.Options{Secret: deskSecret})
}

// newDeskWith is newDesk with other options (a delivery log, say).
func newDeskWith(t testing.TB, o dutydesk.Options) *dutydesk.Server {
	t.Helper()
	d, err := dutydesk.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// newModbusSim starts a simulated Modbus TCP server on a free loopback
// port, calling onServe (when not nil) for every request it serves; it
// closes when the test ends.
func newModbusSim(t testing.TB, onServe func(modbussim.Served)) (sim *modbussim.Server, addr string) {
	t.Helper()
	sim = modbussim.New(modbussim.Options{})
	t.Cleanup(func() { sim.Close() })
	if onServe != nil {
		sim.OnServe(onServe)
	}
	addr, err := sim.ListenTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return sim, addr
}

// newInflux starts an InfluxDB 1.8 with database db.
func newInflux(t testing.TB, db string, opts ...testenv.InfluxOption) *testenv.Influx {
	t.Helper()
	influx := testenv.InfluxDB(t, opts...)
	influx.CreateDB(db)
	return influx
}

// newPublisher connects a simulated site's MQTT devices (cameras,
// checkpoints, stations) to broker; when the test ends it waits for the
// broker to acknowledge what was published, then disconnects.
func newPublisher(t testing.TB, ctx context.Context, broker *testenv.Broker, site, clientID string) *mqttsim.Publisher {
	t.Helper()
	pub, err := mqttsim.NewPublisher(ctx, mqttsim.PublisherOptions{URL: broker.URL(), Site: site, ClientID: clientID})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Close(10 * time.Second) })
	return pub
}

// mqttSite is what a gateway reading MQTT talks to in a test: InfluxDB
// with one database, Mosquitto, and a duty desk verifying deskSecret. The
// test writes the gateway's config with writeConfig and starts it with
// start.
type mqttSite struct {
	t      testing.TB
	id     string // the site's id, in the topics
	db     string
	influx *testenv.Influx
	broker *testenv.Broker
	desk   *dutydesk.Server
	dir    string // the config file and data_dir
	port   int    // the gateway's HTTP API
	api    string // http://127.0.0.1:port
	config string
}

func newMQTTSite(t testing.TB, id, db string) *mqttSite {
	t.Helper()
	dir := t.TempDir()
	port := testenv.FreePort(t)
	return &mqttSite{t: t, id: id, db: db, influx: newInflux(t, db), broker: testenv.Mosquitto(t), desk: newDesk(t),
		dir: dir, port: port, api: fmt.Sprintf("http://127.0.0.1:%d", port), config: filepath.Join(dir, "hazardgw.yaml")}
}

// writeConfig writes the gateway's config: the site (its id, then site,
// the rest of a YAML flow mapping: "name: 林区, language: zh"), the HTTP
// API on port with token test-token, data_dir, the InfluxDB database
// (flushed every 200 ms) and the broker, subscribed to as clientID. rest,
// formatted with args, carries on inside mqtt: (devices, subscriptions)
// and adds the other sections.
func (s *mqttSite) writeConfig(site, clientID, rest string, args ...any) {
	s.t.Helper()
	b := fmt.Appendf(nil, `site: {id: %s, %s}
gateway:
  http: {listen: "127.0.0.1:%d", token: test-token}
  data_dir: %s
influxdb: {url: %s, bucket: %s/autogen, flush_interval: 200ms}
mqtt:
  url: %s
  client_id: %s
`, s.id, site, s.port, filepath.Join(s.dir, "data"), s.influx.URL(), s.db, s.broker.URL(), clientID)
	if err := os.WriteFile(s.config, fmt.Appendf(b, rest, args...), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// start starts the gateway with the duty desk's secret, and the site's
// simulated MQTT devices as clientID (see newPublisher); ctx ends
// timeout after the gateway started, or when the test does.
func (s *mqttSite) start(timeout time.Duration, clientID string) (*gatewayProc, context.Context, *mqttsim.Publisher) {
	s.t.Helper()
	g := startGateway(s.t, s.config, "DUTY_DESK_SECRET="+deskSecret)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	s.t.Cleanup(cancel)
	return g, ctx, newPublisher(s.t, ctx, s.broker, s.id, clientID)
}

// wait waits until the duty desk's deliveries satisfy cond, failing the
// test with what it received if that takes longer than timeout.
func (s *mqttSite) wait(timeout time.Duration, what string, cond func([]dutydesk.Delivery) bool) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := s.desk.Wait(ctx, cond); err != nil {
		var got []string
		for _, d := range s.desk.Deliveries() {
			got = append(got, d.Type+" "+d.Alert.Rule+" "+d.Alert.Device+" "+d.Alert.Level)
		}
		s.t.Fatalf("%s: %v; received:\n%s", what, err, strings.Join(got, "\n"))
	}
}

// count is how many deliveries of type typ the desk has of rule (and of
// device, unless it is "").
func (s *mqttSite) count(rule, device, typ string) int {
	n := 0
	for _, d := range s.desk.Deliveries() {
		if d.Alert.Rule == rule && (device == "" || d.Alert.Device == device) && d.Type == typ {
			n++
		}
	}
	return n
}

// call does a request to the gateway's API with token test-token.
func (s *mqttSite) call(method, path, body string) (int, []byte) {
	s.t.Helper()
	return callAPI(s.t, method, s.api+path, "test-token", body)
}

// callAPI does an HTTP request with a bearer token (none when token is
// "") and returns the answer's status and body.
func callAPI(t testing.TB, method, url, token, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// flushed fails the test if publishing failed (err), and otherwise waits
// until the broker has acknowledged everything pub published.
func flushed(t testing.TB, ctx context.Context, pub *mqttsim.Publisher, err error) {
	t.Helper()
	if err == nil {
		err = pub.Flush(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// cutConfig removes the site's config from the first from up to, not
// including, the first to after it (a device, a rule).
func (s *alertSite) cutConfig(from, to string) {
	s.t.Helper()
	b, err := os.ReadFile(s.config)
	if err != nil {
		s.t.Fatal(err)
	}
	i, j := strings.Index(string(b), from), strings.Index(string(b), to)
	if i < 0 || j < i {
		s.t.Fatalf("config has no %q followed by %q:\n%s", from, to, b)
	}
	if err := os.WriteFile(s.config, append(b[:i:i], b[j:]...), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// sighup asks the gateway to reload its config file.
func (g *gatewayProc) sighup() {
	g.t.Helper()
	if err := g.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		g.t.Fatal(err)
	}
}

// waitReloaded waits until the gateway says it restarts on a reloaded
// configuration.
func (g *gatewayProc) waitReloaded() {
	g.t.Helper()
	testenv.Eventually(g.t, 60*time.Second, func() bool {
		return strings.Contains(g.out.String(), "restarting on the reloaded configuration")
	}, "reload")
}
