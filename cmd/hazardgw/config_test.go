package main

import (
	"encoding/base64"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hazardgw/hazardgw/internal/conf"
)

var update = flag.Bool("update", false, "rewrite the expected.err files of testdata/check from the actual output")

// Secrets of the test environment; no test output may contain them.
var (
	testAPIToken    = "api-token-5ecret-0123"
	testInfluxToken = "influx-token-5ecret-4567"
	testDutyKey     = "duty-desk-hmac-key-5ecret"
	testDutySecret  = "whsec_" + base64.StdEncoding.EncodeToString([]byte(testDutyKey))
)

// testEnv is the environment of every golden case; a case's `env` file
// adds NAME=VALUE lines and removes variables listed as !NAME.
func testEnv(t *testing.T, dir string) map[string]string {
	env := map[string]string{
		"HAZARDGW_API_TOKEN": testAPIToken,
		"INFLUX_TOKEN":       testInfluxToken,
		"DUTY_DESK_SECRET":   testDutySecret,
	}
	b, err := os.ReadFile(filepath.Join(dir, "env"))
	if errors.Is(err, os.ErrNotExist) {
		return env
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if name, ok := strings.CutPrefix(line, "!"); ok {
			delete(env, name)
		} else if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	return env
}

func mapLookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

// secretsOf lists the secret values a case's output must not contain.
func secretsOf(env map[string]string) []string {
	s := []string{testAPIToken, testInfluxToken, testDutyKey, testDutySecret}
	for k, v := range env {
		if strings.Contains(k, "TOKEN") || strings.Contains(k, "SECRET") || strings.Contains(k, "PASSWORD") {
			s = append(s, v)
		}
	}
	return s
}

type golden struct {
	name, dir string
	valid     bool   // the case has a `valid` file
	want      string // valid: the summary after "config.yaml: OK: "; else expected.err
}

func goldenCases(t *testing.T) []golden {
	dirs, err := filepath.Glob("testdata/check/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	var cs []golden
	for _, dir := range dirs {
		c := golden{name: filepath.Base(dir), dir: dir}
		if b, err := os.ReadFile(filepath.Join(dir, "valid")); err == nil {
			c.valid, c.want = true, strings.TrimSpace(string(b))
		} else if b, err := os.ReadFile(filepath.Join(dir, "expected.err")); err == nil || *update {
			c.want = string(b)
		} else {
			t.Fatalf("%s: neither valid nor expected.err", dir)
		}
		cs = append(cs, c)
	}
	return cs
}

// TestCheckGolden loads every testdata/check/<case>/config.yaml and compares
// the result with the case's `valid` summary or its expected.err lines.
func TestCheckGolden(t *testing.T) {
	for _, c := range goldenCases(t) {
		t.Run(c.name, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join(c.dir, "config.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			env := testEnv(t, c.dir)
			f, err := loadBytes("config.yaml", src, mapLookup(env))
			if c.valid {
				if err != nil {
					t.Fatalf("want valid, got:\n%v", err)
				}
				if got := f.Summary(); got != c.want {
					t.Errorf("summary:\n%s\nwant:\n%s", got, c.want)
				}
				// Warnings leave the file valid; a case lists them in
				// expected.warn, and a case without one has none.
				got := ""
				if len(f.Warnings()) > 0 {
					got = strings.Join(f.Warnings(), "\n") + "\n"
				}
				wpath := filepath.Join(c.dir, "expected.warn")
				if *update && got != "" {
					if err := os.WriteFile(wpath, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, _ := os.ReadFile(wpath)
				if got != string(want) {
					t.Errorf("warnings:\n%s\nwant:\n%s", got, want)
				}
				return
			}
			if err == nil {
				t.Fatal("want problems, got a valid file")
			}
			var ce *conf.Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %T, want *conf.Error", err)
			}
			got := err.Error() + "\n"
			for _, s := range secretsOf(env) {
				if strings.Contains(got, s) {
					t.Errorf("output contains the secret %q", s)
				}
			}
			if *update {
				if err := os.WriteFile(filepath.Join(c.dir, "expected.err"), []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != c.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, c.want)
			}
		})
	}
}
