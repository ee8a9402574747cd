package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// The log redactor learns the receivers' credentials: a robot's token in
// its URL, its secret, Feishu's hook token, an http receiver's bearer
// token, from wherever ${VAR} put them.
func TestSecretsOfReceivers(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("testdata", "check", "receivers-valid", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := loadBytes("config.yaml", src, mapLookup(nil))
	if err != nil {
		t.Fatal(err)
	}
	got := f.Secrets()
	for _, want := range []string{"t0ken-dingtalk", "SECabc", "k3y-wecom", "h00k-feishu", "anything", "Bearer abc-sms-token", "abc-sms-token"} {
		if !slices.Contains(got, want) {
			t.Errorf("Secrets() %q lacks %q", got, want)
		}
	}
}
