package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/hazardgw/hazardgw/simulators/modbussim"
	"github.com/hazardgw/hazardgw/simulators/mqttsim"
)

// addrHandler is a slog handler that passes records on to the test log and
// catches the HTTP address from runGateway's "hazardgw started" line.
type addrHandler struct {
	slog.Handler
	addr chan string
}

func (h addrHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "hazardgw started" {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "http" {
				select {
				case h.addr <- a.Value.String():
				default:
				}
			}
			return true
		})
	}
	if !h.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h addrHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h addrHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return addrHandler{h.Handler.WithAttrs(as), h.addr}
}
func (h addrHandler) WithGroup(n string) slog.Handler {
	return addrHandler{h.Handler.WithGroup(n), h.addr}
}

type logWriter struct {
	mu sync.Mutex
	t  *testing.T
	on bool
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.on {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// startGateway runs the real runGateway against an in-process Modbus
// simulator and MQTT broker (InfluxDB is a closed port: the points stay in
// the spool) and returns its HTTP base URL and data dir.
func startGateway(t *testing.T) (base, dataDir string) {
	t.Helper()
	sim := modbussim.New(modbussim.Options{})
	t.Cleanup(func() { sim.Close() })
	mbAddr, err := sim.ListenTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Unit(1).UseProfile("gas_detector", "GD-101"); err != nil {
		t.Fatal(err)
	}
	broker, err := mqttsim.NewBroker("127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { broker.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	influxAddr := ln.Addr().String()
	ln.Close()

	dir := t.TempDir()
	dataDir = filepath.Join(dir, "data")
	cfgText := fmt.Sprintf(`
site: {id: test-site}
gateway:
  data_dir: %s
  shutdown_timeout: 500ms
  http: {listen: "127.0.0.1:0", token: t0ken}
influxdb: {url: "http://%s", bucket: hazard/autogen}
modbus:
  links:
    - name: site-tcp
      url: tcp://%s
      timeout: 500ms
      devices:
        - id: GD-101
          unit_id: 1
          kind: gas_detector
          interval: 100ms
          points:
            - {name: ch4, area: holding, address: 0, type: float32, unit: "%%LEL"}
mqtt:
  url: %s
  client_id: hazardgw-test
  subscriptions:
    - {topic: "site/{site}/camera/{camera}/event", format: camera_event, qos: 1}
alerting:
  rules:
    - name: combustible-gas
      match: {kind: gas_detector, point: ch4}
      thresholds: [{level: high, above: 25, severity: yellow}]
    - name: device-offline
      match: {device: "*"}
      stale: {after: 3}
      severity: orange
  notify:
    - {name: desk, url: "http://%s/alerts", secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
`, dataDir, influxAddr, mbAddr, broker.URL(), influxAddr)
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadFile(path, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	lw := &logWriter{t: t, on: true}
	addr := make(chan string, 1)
	logger := slog.New(addrHandler{slog.NewTextHandler(lw, &slog.HandlerOptions{Level: slog.LevelWarn + 4}), addr})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runGateway(ctx, cfg, logger) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("runGateway: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("runGateway did not return")
		}
		lw.mu.Lock()
		lw.on = false
		lw.mu.Unlock()
	})
	select {
	case a := <-addr:
		return "http://" + a, dataDir
	case err := <-done:
		t.Fatalf("runGateway returned early: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("gateway did not start")
	}
	return "", ""
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMetricsLint scrapes /metrics of the gateway as runGateway wires it
// (every collector of the registry, Modbus, MQTT, alerting, pipeline,
// process and Go) and runs promlint over the whole exposition.
func TestMetricsLint(t *testing.T) {
	base, _ := startGateway(t)
	var body string
	waitUntil(t, "a polled device in /metrics", func() bool {
		var code int
		code, body = get(t, base+"/metrics")
		return code == http.StatusOK && strings.Contains(body, `hazardgw_modbus_device_online{device="GD-101",kind="gas_detector",link="site-tcp"} 1`)
	})
	for _, name := range []string{
		"hazardgw_points_accepted_total", "hazardgw_spool_points", "hazardgw_alerts_open",
		"hazardgw_mqtt_connected", "hazardgw_modbus_polls_total", "hazardgw_modbus_device_rtt_seconds",
		"go_goroutines", "process_open_fds",
	} {
		if !strings.Contains(body, "\n"+name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	if want := fmt.Sprintf("\nhazardgw_build_info{goversion=%q,version=%q} 1\n", runtime.Version(), version); !strings.Contains(body, want) {
		t.Errorf("/metrics lacks %q", want)
	}
	problems, err := promlint.New(strings.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// TestReadyzWhenSpoolUnwritable makes the real spool directory immutable
// (chattr +i): unlike chmod, which root ignores, the immutable flag makes
// creating a file in it (the spool's write probe, a new segment, the
// cursor) fail with EPERM, for root too. /readyz must then answer
// 503 with the reason, and 200 again once the flag is gone.
func TestReadyzWhenSpoolUnwritable(t *testing.T) {
	if _, err := exec.LookPath("chattr"); err != nil {
		t.Fatal("chattr not found: install e2fsprogs (the readiness test needs it)")
	}
	base, dataDir := startGateway(t)
	if code, body := get(t, base+"/readyz"); code != http.StatusOK {
		t.Fatalf("readyz %d %s before the fault", code, body)
	}
	spoolFile := filepath.Join(dataDir, "spool") // the segment log directory: +i refuses new files in it
	if out, err := exec.Command("chattr", "+i", spoolFile).CombinedOutput(); err != nil {
		// Needs CAP_LINUX_IMMUTABLE and a file system with the flag (ext4, xfs, btrfs).
		t.Fatalf("chattr +i failed (needs root with CAP_LINUX_IMMUTABLE and ext4/xfs/btrfs under TMPDIR): %v %s", err, out)
	}
	cleared := false
	clear := func() {
		if !cleared {
			cleared = true
			if out, err := exec.Command("chattr", "-i", spoolFile).CombinedOutput(); err != nil {
				t.Errorf("chattr -i: %v %s", err, out)
			}
		}
	}
	t.Cleanup(clear) // before the gateway stops and TempDir is removed (cleanups run LIFO)
	code, body := get(t, base+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"spool: `) {
		t.Errorf("readyz with an immutable spool: %d %s, want 503 with a spool reason", code, body)
	}
	if !strings.HasPrefix(strings.TrimSpace(body), "{") {
		t.Errorf("readyz body is not JSON: %s", body)
	}
	clear()
	waitUntil(t, "readyz 200 after the fault", func() bool {
		code, _ := get(t, base+"/readyz")
		return code == http.StatusOK
	})
	if code, _ := get(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("healthz %d", code)
	}
}

// TestAPIMethodsAndBodies asks the gateway as runGateway wires it with
// wrong methods and malformed acknowledgement bodies.
func TestAPIMethodsAndBodies(t *testing.T) {
	base, _ := startGateway(t)
	for _, tc := range []struct {
		method, path, body string
		code               int
		allow              string
	}{
		{"POST", "/healthz", "", 405, "GET, HEAD"},
		{"PUT", "/metrics", "", 405, "GET, HEAD"},
		{"POST", "/api/v1/devices", "", 405, "GET, HEAD"},
		{"DELETE", "/api/v1/alerts", "", 405, "GET, HEAD"},
		{"GET", "/api/v1/alerts/a1/ack", "", 405, "POST"},
		{"POST", "/api/v1/alerts/a1/ack", `{"by":"张三"}`, 404, ""},
		{"POST", "/api/v1/alerts/a1/ack", `{"by":"张三"}garbage`, 400, ""},
		{"POST", "/api/v1/alerts/a1/ack", `{"by":"张三","comment":"` + strings.Repeat("长", 30<<10) + `"}`, 413, ""},
	} {
		req, _ := http.NewRequest(tc.method, base+tc.path, strings.NewReader(tc.body))
		req.Header.Set("Authorization", "Bearer t0ken")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || resp.Header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d Allow %q %s, want %d Allow %q", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Allow"), b, tc.code, tc.allow)
		}
	}
}
