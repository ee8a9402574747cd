// Package e2e runs the built hazardgw binary against the simulated site and
// real services (InfluxDB 1.8, Mosquitto), checking the product's promises from
// outside the process: nothing lost, nothing doubled, values exactly right.
package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/internal/testenv"
)

var (
	buildMu  sync.Mutex
	binDir   string
	builtBin = map[bool]string{}
)

// hazardgwBin builds cmd/hazardgw once per test binary and returns its path:
// with the race detector for tests, without it for benchmarks.
func hazardgwBin(t testing.TB, race bool) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := builtBin[race]; ok {
		return p
	}
	if binDir == "" {
		dir, err := os.MkdirTemp("", "hazardgw-e2e-bin")
		if err != nil {
			t.Fatal(err)
		}
		binDir = dir
	}
	out := filepath.Join(binDir, fmt.Sprintf("hazardgw-race-%v", race))
	args := []string{"build", "-o", out}
	if race {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "github.com/hazardgw/hazardgw/cmd/hazardgw")...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build hazardgw: %v\n%s", err, b)
	}
	builtBin[race] = out
	return out
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// gatewayProc is a running hazardgw process.
type gatewayProc struct {
	t      testing.TB
	cmd    *exec.Cmd
	out    *testenv.Buffer
	exited chan struct{} // closed when the process has exited; then err is set
	err    error
}

// startGateway runs `hazardgw run -config path` and waits until its
// /readyz answers 200. Its log is printed if the test fails.
func startGateway(t testing.TB, config string, env ...string) *gatewayProc {
	t.Helper()
	return startGatewayBin(t, hazardgwBin(t, true), config, env...)
}

func startGatewayBin(t testing.TB, bin, config string, env ...string) *gatewayProc {
	t.Helper()
	cmd := exec.Command(bin, "run", "-config", config)
	cmd.Env = append(os.Environ(), env...)
	out := &testenv.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	g := &gatewayProc{t: t, cmd: cmd, out: out, exited: make(chan struct{})}
	go func() { g.err = cmd.Wait(); close(g.exited) }()
	t.Cleanup(func() {
		select {
		case <-g.exited:
		default:
			cmd.Process.Kill()
			<-g.exited
		}
		if t.Failed() {
			t.Logf("hazardgw log:\n%s", tail(out.String(), 60))
		}
	})
	g.waitReady(config)
	return g
}

// waitReady polls /readyz on the listen address in the config until 200,
// failing at once if the process exits.
func (g *gatewayProc) waitReady(config string) {
	g.t.Helper()
	b, err := os.ReadFile(config)
	if err != nil {
		g.t.Fatal(err)
	}
	m := regexp.MustCompile(`listen: "?([0-9.]+:[0-9]+)`).FindSubmatch(b)
	if m == nil {
		g.t.Fatalf("no http listen address in %s", config)
	}
	url := "http://" + string(m[1]) + "/readyz"
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-g.exited:
			g.t.Fatalf("hazardgw exited during start: %v\n%s", g.err, tail(g.out.String(), 30))
		default:
		}
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("hazardgw not ready within 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (g *gatewayProc) stop(timeout time.Duration) {
	g.t.Helper()
	g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.exited:
		if g.err != nil {
			g.t.Fatalf("hazardgw exited with %v after SIGTERM; want exit 0", g.err)
		}
	case <-time.After(timeout):
		g.cmd.Process.Kill()
		g.t.Fatalf("hazardgw did not stop within %v of SIGTERM", timeout)
	}
}

// kill9 kills the process without warning, like a power cut of the process.
func (g *gatewayProc) kill9() {
	g.cmd.Process.Signal(syscall.SIGKILL)
	<-g.exited
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
