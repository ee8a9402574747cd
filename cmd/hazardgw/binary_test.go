package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// builds holds the binaries built for this test run, by package.
var builds struct {
	mu   sync.Mutex
	dir  string
	bins map[string]string
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builds.dir != "" {
		os.RemoveAll(builds.dir)
	}
	os.Exit(code)
}

// testBinary builds the real hazardgw once per test run, stamped with
// version 1.2.3-test and commit abc1234.
func testBinary(t *testing.T) string {
	t.Helper()
	return goBuild(t, "hazardgw", ".", "-ldflags", "-X main.version=1.2.3-test -X main.commit=abc1234")
}

// sitesimBinary builds the simulated site's command, cmd/sitesim, once per
// test run.
func sitesimBinary(t *testing.T) string {
	t.Helper()
	return goBuild(t, "sitesim", "../sitesim")
}

// goBuild builds the main package pkg (a directory) once per test run as
// name, with the extra go build flags, and returns the binary's path.
func goBuild(t *testing.T, name, pkg string, flags ...string) string {
	t.Helper()
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if bin, ok := builds.bins[name]; ok {
		return bin
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go tool not found: %v", err)
	}
	if builds.dir == "" {
		if builds.dir, err = os.MkdirTemp("", "hazardgw-bin-"); err != nil {
			t.Fatal(err)
		}
		builds.bins = map[string]string{}
	}
	bin := filepath.Join(builds.dir, name)
	args := append(append([]string{"build"}, flags...), "-o", bin, pkg)
	if out, err := exec.Command(gobin, args...).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	builds.bins[name] = bin
	return bin
}

// gwProc is a process started from a built binary (hazardgw, sitesim), its stderr
// (the log) collected.
type gwProc struct {
	t    *testing.T
	cmd  *exec.Cmd
	mu   sync.Mutex
	log  strings.Builder
	done chan struct{} // closed when the process has exited
	code int
}

func startBinary(t *testing.T, args ...string) *gwProc {
	t.Helper()
	return startProcess(t, testBinary(t), nil, args...)
}

// startProcess starts bin with args and, besides PATH, only the
// environment env ("NAME=value"); it is killed at the end of the test if
// still running.
func startProcess(t *testing.T, bin string, env []string, args ...string) *gwProc {
	t.Helper()
	p := &gwProc{t: t, cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Env = append([]string{"PATH=/usr/bin:/bin"}, env...)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.log.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
		io.Copy(io.Discard, stderr)
		p.code = exitCode(p.cmd.Wait())
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("log of pid %d:\n%s", p.cmd.Process.Pid, p.logText())
		}
	})
	return p
}

func (p *gwProc) logText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// waitLog waits until the log contains s (count times), or fails.
func (p *gwProc) waitLog(s string, count int) {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(p.logText(), s) < count {
		select {
		case <-p.done:
			if strings.Count(p.logText(), s) >= count {
				return
			}
			p.t.Fatalf("hazardgw exited (%d) before logging %q", p.code, s)
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("timed out waiting for %q in the log", s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// wait waits for the process to exit and returns its exit code.
func (p *gwProc) wait() int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(30 * time.Second):
		p.t.Fatal("hazardgw did not exit")
	}
	return -1
}

func (p *gwProc) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// binaryConfig writes a small valid configuration for the binary: a Modbus
// device and InfluxDB on closed ports (points stay in the spool), the HTTP
// server on a free port, the spool in dataDir.
func binaryConfig(t *testing.T, dir, dataDir string) (path, text string) {
	t.Helper()
	text = fmt.Sprintf(`site: {id: test-site}
gateway:
  data_dir: %s
  shutdown_timeout: 200ms
  http: {listen: "127.0.0.1:0"}
influxdb: {url: "http://%s", bucket: hazard/autogen}
modbus:
  links:
    - name: plc
      url: tcp://%s
      timeout: 200ms
      devices:
        - id: GD-101
          unit_id: 1
          kind: gas_detector
          points:
            - {name: ch4, area: holding, address: 0, type: float32, unit: "%%LEL"}
alerting:
  rules:
    - name: gas
      match: {kind: gas_detector, point: ch4}
      thresholds: [{level: high, above: 25, severity: yellow}]
`, dataDir, closedAddr(t), closedAddr(t))
	path = filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, text
}

// TestBinarySecondInstance: a second gateway on the data_dir of a running
// one exits at once with 1 and says who holds it; the first keeps running.
func TestBinarySecondInstance(t *testing.T) {
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	cfg, _ := binaryConfig(t, dir, dataDir)
	first := startBinary(t, "run", "-config", cfg)
	first.waitLog("hazardgw started", 1)

	second := startBinary(t, "run", "-config", cfg)
	if code := second.wait(); code != exitFailure {
		t.Errorf("second gateway exited %d, want %d", code, exitFailure)
	}
	want := fmt.Sprintf("data dir %s is in use by another hazardgw process (pid %d)", dataDir, first.cmd.Process.Pid)
	if log := second.logText(); !strings.Contains(log, want) || !strings.Contains(log, "cannot start") || strings.Contains(log, "hazardgw started") {
		t.Errorf("second gateway's log lacks %q under \"cannot start\":\n%s", want, log)
	}

	select {
	case <-first.done:
		t.Fatalf("the first gateway stopped (%d)", first.code)
	default:
	}
	first.signal(syscall.SIGTERM)
	if code := first.wait(); code != exitOK {
		t.Errorf("first gateway exited %d after SIGTERM", code)
	}
}

// TestBinarySIGHUP: SIGHUP never stops the gateway. It checks the file
// again: unchanged, invalid (every problem logged), changed (the sections
// named, at Warn, with "restart"); then SIGTERM still drains and exits 0.
func TestBinarySIGHUP(t *testing.T) {
	dir := t.TempDir()
	cfg, text := binaryConfig(t, dir, filepath.Join(dir, "data"))
	gw := startBinary(t, "run", "-config", cfg)
	gw.waitLog("hazardgw started", 1)
	write := func(s string) {
		if err := os.WriteFile(cfg, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	gw.signal(syscall.SIGHUP)
	gw.waitLog("config unchanged", 1)

	// Two mistakes: both are logged, and the gateway runs on.
	write(strings.Replace(strings.Replace(text, "kind: gas_detector", "kind: Gas-Detector", 1), "above: 25", "above: x", 1))
	gw.signal(syscall.SIGHUP)
	gw.waitLog("configuration not reloaded; the running one stays", 1)
	log := gw.logText()
	for _, want := range []string{"modbus.links[0].devices[0].kind: invalid name", `alerting.rules[0].thresholds[0].above: invalid number \"x\"`} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks the problem %q", want)
		}
	}

	// A valid change of two sections: applied by draining and starting
	// again on it, in the same process.
	changed := strings.Replace(strings.Replace(text, "      timeout: 200ms", "      timeout: 300ms", 1), "above: 25", "above: 20", 1)
	write(changed)
	gw.signal(syscall.SIGHUP)
	gw.waitLog("config changed; reloading", 1)
	gw.waitLog("restarting on the reloaded configuration", 1)
	gw.waitLog("hazardgw started", 2)
	log = gw.logText()
	line := log[strings.LastIndex(log[:strings.Index(log, "config changed;")], "\n")+1:]
	line = line[:strings.IndexByte(line, '\n')]
	if !strings.Contains(line, "level=WARN") || !strings.Contains(line, "sections=modbus,alerting") {
		t.Errorf("change line: %s", line)
	}

	// The file now in force again: unchanged.
	gw.signal(syscall.SIGHUP)
	gw.waitLog("config unchanged", 2)
	// Back to the first file: reloaded again.
	write(text)
	gw.signal(syscall.SIGHUP)
	gw.waitLog("restarting on the reloaded configuration", 2)
	gw.waitLog("hazardgw started", 3)

	select {
	case <-gw.done:
		t.Fatalf("gateway exited (%d) after SIGHUP", gw.code)
	default:
	}
	gw.signal(syscall.SIGTERM)
	if code := gw.wait(); code != exitOK {
		t.Errorf("exit %d after SIGTERM", code)
	}
	if !strings.Contains(gw.logText(), "msg=stopped") {
		t.Errorf("no clean stop in the log")
	}
}
