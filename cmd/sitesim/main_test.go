package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// logSink collects sitesim's log output and lets a test wait for a line.
type logSink struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newLogSink() *logSink { return &logSink{changed: make(chan struct{}, 1)} }

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	select {
	case l.changed <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// await returns the first submatch of re in the log, waiting for it.
func (l *logSink) await(t *testing.T, re *regexp.Regexp) string {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		if m := re.FindStringSubmatch(l.String()); m != nil {
			return m[1]
		}
		select {
		case <-l.changed:
		case <-timeout:
			t.Fatalf("no %v in the log:\n%s", re, l.String())
		}
	}
}

var (
	modbusAddr = regexp.MustCompile(`msg="modbus tcp listening".* addr=(\S+)`)
	httpAddr   = regexp.MustCompile(`msg="control api listening".* addr=(\S+)`)
)

func TestRunServesAndStopsOnCancel(t *testing.T) {
	logs := newLogSink()
	ctx, cancel := context.WithCancel(context.Background())
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, []string{"-modbus-listen", "127.0.0.1:0", "-http", "127.0.0.1:0", "-log-level", "debug"}, logs)
	}()
	mb := logs.await(t, modbusAddr)
	api := logs.await(t, httpAddr)

	// Unit 1 of the default site is a gas detector: o2 in input register 0.
	conn, err := net.Dial("tcp", mb)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := []byte{0, 1, 0, 0, 0, 6, 1, 0x04, 0, 0, 0, 1}
	if _, err := conn.Write(req); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp := make([]byte, 11)
	if _, err := io.ReadFull(conn, resp); err != nil {
		t.Fatalf("read: %v", err)
	}
	if o2 := float64(binary.BigEndian.Uint16(resp[9:])) * 0.01; resp[7] != 0x04 || o2 < 20 || o2 > 21.5 {
		t.Fatalf("reply % X (o2 %v)", resp, o2)
	}

	for _, path := range []string{"/healthz", "/api/units"} {
		r, err := http.Get("http://" + api + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, r.StatusCode, body)
		}
	}

	cancel()
	if code := <-exit; code != 0 {
		t.Fatalf("exit %d\n%s", code, logs.String())
	}
	if _, err := net.Dial("tcp", mb); err == nil {
		t.Error("modbus still listening after exit")
	}
}

func TestRunStartupErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("modbus: {listeners: {tcp: {units: [{unit: 1, profile: toaster}, {unit: 0, profile: tank}]}}}"), 0o600); err != nil {
		t.Fatal(err)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"unknown flag", []string{"-bogus"}, 2, []string{"bogus"}},
		{"stray argument", []string{"extra"}, 2, []string{"unexpected arguments"}},
		{"bad log level", []string{"-log-level", "loud"}, 2, []string{"log-level"}},
		{"missing scenario", []string{"-scenario", filepath.Join(dir, "none.yaml")}, 1, []string{"read scenario"}},
		{"bad scenario, every problem", []string{"-scenario", bad}, 1, []string{"toaster", "units[1].unit"}},
		{"port in use", []string{"-modbus-listen", busy.Addr().String(), "-http", ""}, 1, []string{"listen modbus tcp"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := newLogSink()
			if code := run(context.Background(), tt.args, logs); code != tt.code {
				t.Fatalf("exit %d, want %d\n%s", code, tt.code, logs.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(logs.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, logs.String())
				}
			}
		})
	}
}
