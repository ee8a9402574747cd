package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/internal/testenv"
)

// TestDemo is the acceptance test of `make demo`: it runs scripts/demo.sh
// itself on free ports, waits for the gas leak's red alert at the duty desk,
// acknowledges it on the duty desk page in a headless Chromium as an officer
// would, sees the gateway report it acknowledged, and stops the demo with
// SIGINT as Ctrl-C would, leaving nothing listening.
func TestDemo(t *testing.T) {
	chromium := chromiumBinary(t) // before anything starts: a missing browser fails at once
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	const token = "e2e-demo-token"
	ports := map[string]int{}
	names := []string{"API", "DESK", "SITESIM", "MODBUS", "MQTT", "INFLUX", "INFLUX_RPC"}
	for i, port := range testenv.FreePorts(t, len(names)) {
		ports[names[i]] = port
	}
	env := []string{"DEMO_DIR=" + t.TempDir(), "DEMO_BIN=" + t.TempDir(), "HAZARDGW_API_TOKEN=" + token}
	for name, port := range ports {
		env = append(env, fmt.Sprintf("DEMO_%s_PORT=%d", name, port))
	}
	demo := startDemo(t, root, env)
	desk := fmt.Sprintf("http://127.0.0.1:%d", ports["DESK"])
	api := fmt.Sprintf("http://127.0.0.1:%d", ports["API"])

	// Building both binaries and starting InfluxDB come first; the site's
	// timeline starts with sitesim, which serves the desk.
	demoWait(t, demo, 150*time.Second, "the duty desk to answer", func() bool {
		resp, err := http.Get(desk + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	var red demoDeskAlert
	demoWait(t, demo, 2*time.Minute, "the red combustible-gas alert at the duty desk", func() bool {
		for _, d := range demoDeskDeliveries(t, desk) {
			if d.Alert.Rule == "combustible-gas" && d.Alert.Device == "GD-101" && d.Alert.Severity == "red" {
				red = d.Alert
				return true
			}
		}
		return false
	})
	t.Logf("red alert %s at the duty desk: %s", red.ID, red.Message)

	// The officer's page: type a name, click Acknowledge on the red gas card.
	cdp := startChromium(t, chromium, desk+"/")
	const officer = "e2e-officer"
	const clickJS = `(() => {
  const by = document.getElementById("by");
  if (!by) return "loading";
  by.value = %q;
  const card = [...document.querySelectorAll("#list .alert.red")].find(c => {
    const m = c.querySelector(".meta");
    return m && m.textContent.includes("GD-101") && m.textContent.includes("ch4");
  });
  if (!card) return "no red gas card";
  if (card.textContent.includes("已确认")) return "acknowledged";
  const b = card.querySelector("button");
  if (!b) return "no button";
  if (!b.disabled) b.click();
  return "clicked";
})()`
	var last string
	demoWait(t, demo, 60*time.Second, "the page to show the red gas alert acknowledged", func() bool {
		last = cdp.eval(t, fmt.Sprintf(clickJS, officer))
		return last == "acknowledged"
	})

	// The gateway agrees.
	var got demoAPIAlert
	demoWait(t, demo, 30*time.Second, "the gateway to report the alert acknowledged", func() bool {
		for _, a := range demoGatewayAlerts(t, api, token) {
			if a.ID == red.ID {
				got = a
				return a.Acknowledged
			}
		}
		return false
	})
	if got.AcknowledgedBy != officer {
		t.Errorf("gateway says acknowledged by %q; the page sent %q", got.AcknowledgedBy, officer)
	}
	cdp.close()

	// Ctrl-C: everything stops, and nothing listens any more.
	demo.interrupt(t, 60*time.Second)
	for name, port := range ports {
		if c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second); err == nil {
			c.Close()
			t.Errorf("port %d (DEMO_%s_PORT) still accepts connections after the demo stopped", port, name)
		}
	}
}

// chromiumBinary finds Debian's chromium, failing the test when it is missing.
func chromiumBinary(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("HAZARDGW_CHROMIUM"), "chromium", "/usr/bin/chromium"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium not found (apt-get install chromium; scripts/setup.sh installs it), or set HAZARDGW_CHROMIUM")
	return ""
}

// demoProc is scripts/demo.sh running in its own process group.
type demoProc struct {
	cmd    *exec.Cmd
	out    *syncBuffer
	dir    string
	exited chan struct{}
	err    error
}

func startDemo(t *testing.T, root string, env []string) *demoProc {
	t.Helper()
	cmd := exec.Command("bash", filepath.Join(root, "scripts", "demo.sh"))
	cmd.Dir = root
	// The demo's own settings only: no INFLUX_URL (it starts its InfluxDB), no stray DEMO_*.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DEMO_") && !strings.HasPrefix(kv, "INFLUX_URL=") && !strings.HasPrefix(kv, "INFLUX_TOKEN=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	d := &demoProc{cmd: cmd, out: &syncBuffer{}, exited: make(chan struct{})}
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "DEMO_DIR="); ok {
			d.dir = v
		}
	}
	cmd.Stdout, cmd.Stderr = d.out, d.out
	// Its own group, as under a shell, so that it alone gets our signals.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.err = cmd.Wait(); close(d.exited) }()
	t.Cleanup(func() {
		select {
		case <-d.exited:
		default:
			// A failed test: the script stops its children (each in a
			// session of its own) on SIGINT; SIGKILL only if it hangs.
			_ = cmd.Process.Signal(os.Interrupt)
			select {
			case <-d.exited:
			case <-time.After(45 * time.Second):
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-d.exited
			}
		}
		if t.Failed() {
			t.Logf("scripts/demo.sh output:\n%s", tail(d.out.String(), 60))
			for _, name := range []string{"hazardgw", "sitesim", "influxd"} {
				if b, err := os.ReadFile(filepath.Join(d.dir, name+".log")); err == nil {
					t.Logf("%s.log:\n%s", name, tail(string(b), 30))
				}
			}
		}
	})
	return d
}

// interrupt sends SIGINT, as Ctrl-C does, and wants exit 0 within timeout.
func (d *demoProc) interrupt(t *testing.T, timeout time.Duration) {
	t.Helper()
	if err := d.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatalf("interrupt the demo: %v", err)
	}
	select {
	case <-d.exited:
		if d.err != nil {
			t.Fatalf("demo exited with %v after SIGINT; want 0", d.err)
		}
	case <-time.After(timeout):
		t.Fatalf("demo did not stop within %v of SIGINT", timeout)
	}
	// The script waits for its children (each in a session of its own);
	// the caller checks that their ports are closed.
	if err := syscall.Kill(-d.cmd.Process.Pid, 0); err == nil {
		t.Errorf("processes of the demo's group still run after it exited")
	}
}

// demoWait polls cond every 500 ms, failing at once when the demo exits.
func demoWait(t *testing.T, d *demoProc, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		select {
		case <-d.exited:
			t.Fatalf("demo exited (%v) while waiting for %s", d.err, what)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, timeout)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

type demoDeskAlert struct {
	ID       string `json:"id"`
	Rule     string `json:"rule"`
	Device   string `json:"device"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
}

func demoDeskDeliveries(t *testing.T, desk string) []struct{ Alert demoDeskAlert } {
	t.Helper()
	var v struct {
		Deliveries []struct{ Alert demoDeskAlert }
	}
	demoGetJSON(t, desk+"/deliveries.json", "", &v)
	return v.Deliveries
}

type demoAPIAlert struct {
	ID             string `json:"id"`
	Acknowledged   bool   `json:"acknowledged"`
	AcknowledgedBy string `json:"acknowledged_by"`
}

func demoGatewayAlerts(t *testing.T, api, token string) []demoAPIAlert {
	t.Helper()
	var v []demoAPIAlert
	demoGetJSON(t, api+"/api/v1/alerts?state=all", token, &v)
	return v
}

// demoGetJSON decodes a 200 answer into v; other answers leave v as it is.
func demoGetJSON(t *testing.T, url, token string, v any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// cdpClient drives a headless Chromium over the DevTools protocol on a pipe
// (--remote-debugging-pipe: commands on the browser's fd 3, answers and
// events on its fd 4, each message ending in a NUL byte), attached to the
// page it opened.
type cdpClient struct {
	cmd     *exec.Cmd
	w       io.WriteCloser
	msgs    chan cdpMessage
	stop    chan struct{} // closed by close: the reader gives up
	done    chan struct{} // closed when the reader has returned
	exited  chan struct{}
	once    sync.Once
	id      int
	session string
}

type cdpMessage struct {
	ID     int             `json:"id"`
	Method string          `json:"method"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

func startChromium(t *testing.T, bin, url string) *cdpClient {
	t.Helper()
	cmdR, cmdW, err := os.Pipe() // we write commands, the browser reads fd 3
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe() // the browser writes fd 4, we read
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir="+t.TempDir(), "--remote-debugging-pipe", url)
	cmd.ExtraFiles = []*os.File{cmdR, outW}
	log := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	cmdR.Close()
	outW.Close()
	c := &cdpClient{cmd: cmd, w: cmdW, msgs: make(chan cdpMessage, 64), stop: make(chan struct{}),
		done: make(chan struct{}), exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(c.exited) }()
	go c.read(outR)
	t.Cleanup(func() {
		c.close()
		if t.Failed() {
			t.Logf("chromium output:\n%s", tail(log.String(), 30))
		}
	})

	// Attach to the page the browser opened.
	var targets struct {
		TargetInfos []struct {
			TargetID string `json:"targetId"`
			Type     string `json:"type"`
		} `json:"targetInfos"`
	}
	var page string
	deadline := time.Now().Add(30 * time.Second)
	for page == "" {
		c.call(t, "", "Target.getTargets", nil, &targets)
		for _, ti := range targets.TargetInfos {
			if ti.Type == "page" {
				page = ti.TargetID
			}
		}
		if page == "" {
			if time.Now().After(deadline) {
				t.Fatal("chromium opened no page within 30 s")
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	c.call(t, "", "Target.attachToTarget", map[string]any{"targetId": page, "flatten": true}, &attached)
	c.session = attached.SessionID
	return c
}

func (c *cdpClient) read(r io.ReadCloser) {
	defer close(c.done)
	defer close(c.msgs)
	defer r.Close()
	br := bufio.NewReader(r)
	for {
		b, err := br.ReadBytes(0)
		if err != nil {
			return
		}
		var m cdpMessage
		if json.Unmarshal(b[:len(b)-1], &m) != nil || m.ID == 0 {
			continue // events: not needed
		}
		select {
		case c.msgs <- m:
		case <-c.stop:
			return
		}
	}
}

// call sends one command (to the browser, or to the attached page when
// session is set) and decodes its result into out.
func (c *cdpClient) call(t *testing.T, session, method string, params, out any) {
	t.Helper()
	c.id++
	msg := map[string]any{"id": c.id, "method": method}
	if params != nil {
		msg["params"] = params
	}
	if session != "" {
		msg["sessionId"] = session
	}
	b, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.w.Write(append(b, 0)); err != nil {
		t.Fatalf("cdp %s: %v", method, err)
	}
	timeout := time.After(30 * time.Second)
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				t.Fatalf("cdp %s: chromium closed the pipe", method)
			}
			if m.ID != c.id {
				continue
			}
			if m.Error != nil {
				t.Fatalf("cdp %s: %s", method, m.Error.Message)
			}
			if out != nil {
				if err := json.Unmarshal(m.Result, out); err != nil {
					t.Fatalf("cdp %s: %v", method, err)
				}
			}
			return
		case <-timeout:
			t.Fatalf("cdp %s: no answer within 30 s", method)
		}
	}
}

// eval evaluates a JavaScript expression in the page and returns its value
// as a string.
func (c *cdpClient) eval(t *testing.T, expr string) string {
	t.Helper()
	var res struct {
		Result struct {
			Value any `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	c.call(t, c.session, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &res)
	if res.ExceptionDetails != nil {
		t.Fatalf("javascript: %s", res.ExceptionDetails.Text)
	}
	return fmt.Sprint(res.Result.Value)
}

// close stops the browser and waits for it and the reader; it may be called twice.
func (c *cdpClient) close() {
	c.once.Do(func() {
		close(c.stop)
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.exited:
		case <-time.After(10 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.exited
		}
		c.w.Close()
		<-c.done
	})
}
