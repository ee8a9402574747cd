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

	"github.com/hazardgw/hazardgw/internal/testenv"
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
// configuration that `check` accepts as written. A block whose first line
// is indented is a fragment: a Modbus device (`- id: …`), checked as the
// only device of a minimal configuration.
func TestReadmeConfigPasses(t *testing.T) {
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(readme(t), -1)
	if len(blocks) == 0 {
		t.Fatal("no yaml block in the README")
	}
	env := mapLookup(map[string]string{"HAZARDGW_API_TOKEN": testAPIToken})
	fragments := 0
	for i, b := range blocks {
		src := b[1]
		if first := strings.TrimLeft(src, " "); len(first) < len(src) {
			if !strings.HasPrefix(first, "- id:") {
				t.Errorf("yaml block %d: a fragment that is not a Modbus device:\n%s", i+1, src)
				continue
			}
			fragments++
			indent := strings.Repeat(" ", len(src)-len(first))
			var dev strings.Builder
			for _, line := range strings.SplitAfter(strings.TrimRight(src, "\n"), "\n") {
				dev.WriteString("        " + strings.TrimPrefix(line, indent))
			}
			src = "site: {id: s1}\ninfluxdb: {url: \"http://127.0.0.1:8086\", bucket: b}\nmodbus:\n  links:\n" +
				"    - name: panel\n      url: tcp://127.0.0.1:502\n      devices:\n" + dev.String() + "\n"
		}
		if _, err := loadBytes(fmt.Sprintf("README.md yaml block %d", i+1), []byte(src), env); err != nil {
			t.Errorf("%v", err)
		}
	}
	if fragments == 0 {
		t.Error("no device fragment checked: the reading-quality example is one")
	}
}

// TestReadmeShellSnippets: every ```sh block of the README and of
// adapters/modbus/README.md is valid shell (bash -n), and every hazardgw
// command in them runs as written and exits 0: each -url points at the
// simulator instead (over TCP, or serving RTU on a pty), site.yaml is the
// README's first YAML block aimed at it, and `run` stops once the
// configuration is loaded.
func TestReadmeShellSnippets(t *testing.T) {
	text := readme(t)
	mb, err := os.ReadFile(filepath.Join("..", "..", "adapters", "modbus", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(text+string(mb), -1)
	if len(blocks) < 3 {
		t.Fatalf("%d sh blocks in the READMEs", len(blocks))
	}
	sim := modbussim.New(modbussim.Options{})
	t.Cleanup(func() { sim.Close() })
	addr, err := sim.ListenTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	for unit, profile := range map[uint8]string{1: "gas_detector", 3: "tank"} {
		if err := sim.Unit(unit).UseProfile(profile, fmt.Sprint("unit ", unit)); err != nil {
			t.Fatal(err)
		}
	}
	pty, simEnd := testenv.PtyPair(t)
	if err := sim.ServeRTU(simEnd); err != nil {
		t.Fatal(err)
	}
	yamls := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindStringSubmatch(text)
	if yamls == nil {
		t.Fatal("no yaml block in the README")
	}
	const exampleTCP = "tcp://192.168.1.50:502"
	if !strings.Contains(yamls[1], exampleTCP) {
		t.Fatalf("the README's first YAML block no longer polls %s", exampleTCP)
	}
	site := filepath.Join(t.TempDir(), "site.yaml")
	if err := os.WriteFile(site, []byte(strings.ReplaceAll(yamls[1], exampleTCP, "tcp://"+addr)), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HAZARDGW_API_TOKEN": testAPIToken}
	ran := map[string]bool{}
	for _, b := range blocks {
		cmd := exec.Command("bash", "-n")
		cmd.Stdin = strings.NewReader(b[1])
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("bash -n: %v\n%s\nin:\n%s", err, out, b[1])
		}
		for _, line := range strings.Split(b[1], "\n") {
			if i := strings.Index(line, " #"); i >= 0 {
				line = line[:i]
			}
			args := strings.Fields(line)
			if len(args) < 2 || args[0] != "hazardgw" {
				continue
			}
			args = args[1:]
			for i, a := range args {
				switch {
				case a == "site.yaml":
					args[i] = site
				case i > 0 && args[i-1] == "-url" && strings.HasPrefix(a, "tcp://"):
					args[i] = "tcp://" + addr
				case i > 0 && args[i-1] == "-url" && strings.HasPrefix(a, "rtu://"):
					args[i] = "rtu://" + pty
				}
			}
			code, out, errOut := runCLI(t, env, nil, args...)
			if code != exitOK || out == "" && args[0] != "run" {
				t.Errorf("%s: exit %d, stdout:\n%sstderr:\n%s", strings.TrimSpace(line), code, out, errOut)
			}
			ran[args[0]] = true
		}
	}
	for _, c := range []string{"check", "run", "version", "probe", "read"} {
		if !ran[c] {
			t.Errorf("the README shows no `hazardgw %s` command", c)
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
