package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestChangedSections(t *testing.T) {
	load := func(edit func(string) string) *File {
		t.Helper()
		src, err := os.ReadFile(filepath.Join("testdata", "check", "full", "config.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		f, err := loadBytes("config.yaml", []byte(edit(string(src))), mapLookup(testEnv(t, "")))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	same := func(s string) string { return s }
	running := load(same)
	for _, tc := range []struct {
		name string
		edit func(string) string
		want []string
	}{
		{"identical", same, nil},
		{"comments and layout only", func(s string) string { return "# a comment\n" + strings.ReplaceAll(s, "\n\n", "\n") }, nil},
		{"a secret", func(s string) string { return strings.Replace(s, "${HAZARDGW_API_TOKEN}", "other-token-0123", 1) }, []string{"gateway"}},
		{"site and mqtt", func(s string) string {
			return strings.Replace(strings.Replace(s, "id: qz-petro-01", "id: qz-petro-02", 1), "keep_alive: 30s", "keep_alive: 20s", 1)
		}, []string{"site", "mqtt"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := changedSections(running, load(tc.edit)); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("changed %v, want %v", got, tc.want)
			}
		})
	}
}

// TestCheckReloadNeverLogsSecrets: a changed secret is named by its
// section, never shown.
func TestCheckReloadNeverLogsSecrets(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("testdata", "check", "full", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, src, 0o600); err != nil {
		t.Fatal(err)
	}
	env := testEnv(t, "")
	running, err := LoadFile(path, mapLookup(env))
	if err != nil {
		t.Fatal(err)
	}
	env["HAZARDGW_API_TOKEN"] = "brand-new-t0ken-4567"
	var logs bytes.Buffer
	checkReload(path, running, mapLookup(env), slog.New(slog.NewTextHandler(&logs, nil)))
	if !strings.Contains(logs.String(), "sections=gateway") {
		t.Errorf("log:\n%s", logs.String())
	}
	for _, s := range append(secretsOf(env), testAPIToken) {
		if strings.Contains(logs.String(), s) {
			t.Errorf("secret %q in the log:\n%s", s, logs.String())
		}
	}
}
