package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/adapters/modbus"
)

// fakeRun records whether the gateway was started.
type fakeRun struct {
	calls atomic.Int32
	fn    func(ctx context.Context, cfg *File, logger *slog.Logger) error
}

func (f *fakeRun) run(ctx context.Context, cfg *File, logger *slog.Logger) error {
	f.calls.Add(1)
	if f.fn == nil {
		return nil
	}
	return f.fn(ctx, cfg, logger)
}

func runCLI(t *testing.T, env map[string]string, run runFunc, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	if run == nil {
		run = (&fakeRun{}).run
	}
	code = cli(context.Background(), args, &out, &errb, mapLookup(env), run)
	return code, out.String(), errb.String()
}

func TestCLIUsage(t *testing.T) {
	valid := filepath.Join("testdata", "check", "full", "config.yaml")
	tests := []struct {
		name     string
		args     []string
		code     int
		contains string // in stdout+stderr
	}{
		{"no command", nil, exitUsage, "usage:"},
		{"unknown command", []string{"serve"}, exitUsage, `unknown command "serve"`},
		{"help", []string{"help"}, exitOK, "hazardgw check -config FILE"},
		{"check without config", []string{"check"}, exitUsage, "-config FILE is required"},
		{"check with extra argument", []string{"check", "-config", valid, "extra"}, exitUsage, `unexpected argument "extra"`},
		{"check with unknown flag", []string{"check", "-conf", valid}, exitUsage, "flag provided but not defined: -conf"},
		{"check -h", []string{"check", "-h"}, exitOK, "usage: hazardgw check -config FILE"},
		{"run without config", []string{"run"}, exitUsage, "-config FILE is required"},
		{"version", []string{"version"}, exitOK, "hazardgw dev (commit unknown, go"},
		{"version with argument", []string{"version", "x"}, exitUsage, `unexpected argument "x"`},
		{"--version", []string{"--version"}, exitOK, "hazardgw dev (commit unknown, go"},
		{"-version", []string{"-version"}, exitOK, "hazardgw dev (commit unknown, go"},
		{"--version with argument", []string{"--version", "x"}, exitUsage, `hazardgw --version: unexpected argument "x"`},
		{"check missing file", []string{"check", "-config", "testdata/nope.yaml"}, exitFailure, "hazardgw: read config: open testdata/nope.yaml: no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, nil, nil, tt.args...)
			if code != tt.code || !strings.Contains(out+errOut, tt.contains) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d containing %q", code, out, errOut, tt.code, tt.contains)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	env := testEnv(t, "")
	path := filepath.Join("testdata", "check", "full", "config.yaml")
	code, out, errOut := runCLI(t, env, nil, "check", "-config", path)
	want := path + ": OK: site qz-petro-01: 2 Modbus links, 3 devices, 9 points, 3 MQTT subscriptions, 7 alert rules, 1 notify receiver\n"
	if code != exitOK || out != want || errOut != "" {
		t.Errorf("exit %d, stdout %q, stderr %q; want 0 and %q", code, out, errOut, want)
	}

	path = filepath.Join("testdata", "check", "six-mistakes", "config.yaml")
	code, out, errOut = runCLI(t, env, nil, "check", "-config", path)
	if code != exitFailure || out != "" || strings.Count(errOut, "\n") != 6 || !strings.HasPrefix(errOut, path+":23: ") {
		t.Errorf("exit %d, stdout %q, stderr:\n%s", code, out, errOut)
	}
}

func TestRunInvalidConfigStartsNothing(t *testing.T) {
	f := &fakeRun{}
	path := filepath.Join("testdata", "check", "six-mistakes", "config.yaml")
	code, _, errOut := runCLI(t, testEnv(t, ""), f.run, "run", "-config", path)
	if code != exitFailure || f.calls.Load() != 0 {
		t.Errorf("exit %d, gateway started %d times; want 1 and never", code, f.calls.Load())
	}
	if !strings.Contains(errOut, path+":54: alerting.notify[0].secret: ") {
		t.Errorf("stderr:\n%s", errOut)
	}
}

// TestRunStopsOnSIGTERM sends a real SIGTERM to the test process while the
// (fake) gateway runs: the context must end, and the exit code be 0.
func TestRunStopsOnSIGTERM(t *testing.T) {
	started := make(chan struct{})
	f := &fakeRun{fn: func(ctx context.Context, cfg *File, logger *slog.Logger) error {
		close(started)
		<-ctx.Done()
		logger.Info("drained")
		return nil
	}}
	done := make(chan struct{})
	var code int
	var out, errOut bytes.Buffer
	go func() {
		defer close(done)
		path := filepath.Join("testdata", "check", "full", "config.yaml")
		code = cli(context.Background(), []string{"run", "-config", path}, &out, &errOut, mapLookup(testEnv(t, "")), f.run)
	}()
	select {
	case <-started:
	case <-done:
		t.Fatalf("run returned early: %d\n%s", code, errOut.String())
	}
	// The handler is installed before the gateway starts.
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after SIGTERM")
	}
	if code != exitOK {
		t.Errorf("exit %d; stderr:\n%s", code, errOut.String())
	}
	// gateway.log.format is json in the full example.
	for _, msg := range []string{`"msg":"starting"`, `"version":"dev"`, `"site":"qz-petro-01"`, `"msg":"drained"`, `"msg":"stopped"`} {
		if !strings.Contains(errOut.String(), msg) {
			t.Errorf("log lacks %s:\n%s", msg, errOut.String())
		}
	}
}

type leakyStringer struct{ s string }

func (l leakyStringer) String() string { return "conn " + l.s }

// TestRunRedactsSecrets: whatever a component logs or returns, the
// configuration's secrets do not reach the log (STYLE convention 5).
func TestRunRedactsSecrets(t *testing.T) {
	secrets := []string{testAPIToken, testInfluxToken, testDutySecret, testDutyKey}
	f := &fakeRun{fn: func(ctx context.Context, cfg *File, logger *slog.Logger) error {
		l := logger.With("token", cfg.InfluxDB.Token)
		l.Warn("careless "+cfg.Gateway.HTTP.Token, "err", fmt.Errorf("dial: key %s", testDutyKey),
			"cfg", cfg.Alerting.Notify[0], "s", leakyStringer{cfg.InfluxDB.Token},
			slog.Group("g", "secret", cfg.Alerting.Notify[0].Secret))
		slog.Info("default logger " + testAPIToken)
		return errors.New("influx: 401 for token " + testInfluxToken)
	}}
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join("testdata", "check", "full", "config.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "config.yaml")
			src = bytes.Replace(src, []byte("format: json"), []byte("format: "+format), 1)
			if err := os.WriteFile(path, src, 0o600); err != nil {
				t.Fatal(err)
			}
			code, out, errOut := runCLI(t, testEnv(t, ""), f.run, "run", "-config", path)
			if code != exitFailure {
				t.Errorf("exit %d, want 1", code)
			}
			if !strings.Contains(errOut, "careless [redacted]") || !strings.Contains(errOut, "401 for token [redacted]") {
				t.Errorf("log lacks the redacted lines:\n%s", errOut)
			}
			for _, s := range secrets {
				if strings.Contains(out+errOut, s) {
					t.Errorf("secret %q in output:\n%s", s, errOut)
				}
			}
		})
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, nil)))
}

// TestBinary builds the real hazardgw and runs `version` and `check` on
// every golden case, in the case's folder, with the case's environment.
func TestBinary(t *testing.T) {
	bin := testBinary(t)

	wantVersion := fmt.Sprintf("hazardgw 1.2.3-test (commit abc1234, %s, %s/%s)\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	for _, arg := range []string{"version", "--version"} {
		out, err := exec.Command(bin, arg).Output()
		if err != nil || string(out) != wantVersion {
			t.Errorf("%s: %v %q, want %q", arg, err, out, wantVersion)
		}
	}
	if err := exec.Command(bin).Run(); exitCode(err) != exitUsage {
		t.Errorf("no arguments: %v, want exit 2", err)
	}

	for _, c := range goldenCases(t) {
		t.Run(c.name, func(t *testing.T) {
			env := testEnv(t, c.dir)
			cmd := exec.Command(bin, "check", "-config", "config.yaml")
			cmd.Dir = c.dir
			cmd.Env = []string{"PATH=/usr/bin:/bin"}
			for k, v := range env {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			code := exitCode(cmd.Run())
			if c.valid {
				want := "config.yaml: OK: " + c.want + "\n"
				warn, _ := os.ReadFile(filepath.Join(c.dir, "expected.warn")) // warnings go to stderr, exit 0
				if code != exitOK || stdout.String() != want || stderr.String() != string(warn) {
					t.Errorf("exit %d, stdout %q, stderr %q; want 0, %q, stderr %q", code, stdout.String(), stderr.String(), want, warn)
				}
				return
			}
			if code != exitFailure || stdout.Len() != 0 || stderr.String() != c.want {
				t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit 1, stderr:\n%s", code, stdout.String(), stderr.String(), c.want)
			}
			for _, s := range secretsOf(env) {
				if strings.Contains(stdout.String()+stderr.String(), s) {
					t.Errorf("secret %q in output", s)
				}
			}
		})
	}
}

func exitCode(err error) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	return -1
}

func FuzzLoad(f *testing.F) {
	dirs, _ := filepath.Glob("testdata/check/*")
	for _, d := range dirs {
		if b, err := os.ReadFile(filepath.Join(d, "config.yaml")); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("site: {id: ${X}}\nmodbus: {links: [{name: a, url: 'rtu://', serial: {}, devices: [{id: d, points: [{bit: -1}]}]}]}\n"))
	f.Add([]byte("alerting: {rules: [{name: r, thresholds: [{}], rate: {}, stale: {}, event: {}, state: {}}], notify: [{secret: whsec_}]}\n"))
	f.Add([]byte("mqtt: {url: 'wss://[::1]:x', subscriptions: [{topic: '#/{a}/{a}', qos: 2, json: {fields: {'': {}}}}]}\n"))
	lookup := mapLookup(map[string]string{"X": "x", "HAZARDGW_API_TOKEN": "t", "INFLUX_TOKEN": "t", "DUTY_DESK_SECRET": testDutySecret})
	f.Fuzz(func(t *testing.T, src []byte) {
		cfg, err := loadBytes("f.yaml", src, lookup)
		if err != nil {
			if cfg != nil {
				t.Fatal("a File with an error")
			}
			if !strings.HasPrefix(err.Error(), "f.yaml") {
				t.Fatalf("error not in FILE:LINE form: %v", err)
			}
			return
		}
		_ = cfg.Summary()
		_ = cfg.Secrets()
		// What check accepts, the Modbus source can poll.
		if _, err := modbus.New(cfg.Modbus, cfg.Site.ID, nil); err != nil {
			t.Fatalf("valid, but modbus.New: %v", err)
		}
	})
}
