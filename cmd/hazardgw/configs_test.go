package main

import (
	"path/filepath"
	"testing"
)

// TestShippedConfigsAreValid checks every file in configs/ the way
// `hazardgw check` does, with an empty environment: examples must be valid
// as shipped (secrets come from ${VAR:-default} there).
func TestShippedConfigsAreValid(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "configs", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no files in configs/")
	}
	noEnv := func(string) (string, bool) { return "", false }
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if _, err := LoadFile(f, noEnv); err != nil {
				t.Errorf("%v", err)
			}
		})
	}
}
