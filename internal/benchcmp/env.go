package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// env lets this program start Mosquitto and InfluxDB with internal/testenv,
// which takes a testing.TB: it provides the few methods testenv calls
// (Helper, Cleanup, TempDir, Logf, Errorf, Fatalf, Failed). Any other method
// would call the nil embedded interface and panic; testenv calls none.
type env struct {
	testing.TB // nil: only to satisfy the interface's unexported method

	dir string // temporary directories go here

	mu       sync.Mutex
	cleanups []func()
	failed   bool
	n        int
}

// fatal is what env.Fatalf panics with; main recovers it after the cleanups.
type fatal struct{ msg string }

func newEnv(dir string) *env { return &env{dir: dir} }

func (e *env) Helper() {}

func (e *env) Cleanup(f func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cleanups = append(e.cleanups, f)
}

func (e *env) TempDir() string {
	e.mu.Lock()
	e.n++
	n := e.n
	e.mu.Unlock()
	d := filepath.Join(e.dir, fmt.Sprintf("tmp%03d", n))
	if err := os.MkdirAll(d, 0o755); err != nil {
		e.Fatalf("create temporary directory: %v", err)
	}
	return d
}

func (e *env) Logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "benchcmp: "+format+"\n", args...)
}

func (e *env) Errorf(format string, args ...any) {
	e.mu.Lock()
	e.failed = true
	e.mu.Unlock()
	e.Logf(format, args...)
}

func (e *env) Fatalf(format string, args ...any) {
	e.Errorf(format, args...)
	panic(fatal{fmt.Sprintf(format, args...)})
}

func (e *env) Failed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.failed
}

// close runs the cleanups, last registered first.
func (e *env) close() {
	e.mu.Lock()
	cs := e.cleanups
	e.cleanups = nil
	e.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i]()
	}
}
