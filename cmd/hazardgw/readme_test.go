package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/simulators/modbussim"
)

func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestReadmeConfigPasses: every YAML block of the README is a
// configuration that `check` accepts as written.
func TestReadmeConfigPasses(t *testing.T) {
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(readme(t), -1)
	if len(blocks) == 0 {
		t.Fatal("no yaml block in the README")
	}
	env := mapLookup(map[string]string{"HAZARDGW_API_TOKEN": testAPIToken})
	for i, b := range blocks {
		if _, err := loadBytes(fmt.Sprintf("README.md yaml block %d", i+1), []byte(b[1]), env); err != nil {
			t.Errorf("%v", err)
		}
	}
}

// TestReadmeMbpollRunsOnce runs each mbpoll command of the README (with
// UNIT, ADDRESS and HOST filled in) against the Modbus simulator: it must
// read and exit by itself, not poll until interrupted.
func TestReadmeMbpollRunsOnce(t *testing.T) {
	mbpoll, err := exec.LookPath("mbpoll")
	if err != nil {
		t.Fatal("mbpoll not found: scripts/setup.sh installs it")
	}
	spans := regexp.MustCompile("`(mbpoll [^`]+)`").FindAllStringSubmatch(readme(t), -1)
	if len(spans) == 0 {
		t.Fatal("no mbpoll command in the README")
	}
	sim := modbussim.New(modbussim.Options{})
	t.Cleanup(func() { sim.Close() })
	addr, err := sim.ListenTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Unit(1).UseProfile("gas_detector", "GD-101"); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(addr)
	for _, s := range spans {
		args := strings.Fields(s[1])[1:]
		for i, a := range args {
			switch a {
			case "UNIT":
				args[i] = "1"
			case "ADDRESS":
				args[i] = "0"
			case "HOST":
				args[i] = host
			}
		}
		args = append([]string{"-p", port}, args...)
		// A bound on a command that would otherwise poll for ever.
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		out, err := exec.CommandContext(ctx, mbpoll, args...).CombinedOutput()
		timedOut := ctx.Err() != nil
		cancel()
		if timedOut || err != nil || !strings.Contains(string(out), "[0]:") {
			t.Errorf("%s: timed out %v, %v\n%s", s[1], timedOut, err, out)
		}
	}
}
