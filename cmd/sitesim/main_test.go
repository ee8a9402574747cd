package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
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
	badFire := filepath.Join(dir, "bad-fire.yaml")
	if err := os.WriteFile(badFire, []byte("mqtt: {cameras: {CAM-01: {lat: 25, lon: 118}}, fire: {at: {lat: 25, lon: 118.1}, seen_by: [CAM-09], end: 1m}}"), 0o600); err != nil {
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
		{"bad mqtt section", []string{"-scenario", badFire}, 1, []string{"bad-fire.yaml", `mqtt.fire.seen_by[0]: "CAM-09"`}},
		{"timeline not writable", []string{"-timeline", filepath.Join(dir, "no", "such", "dir", "t.log")}, 1, []string{"open timeline"}},
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

var deskAddr = regexp.MustCompile(`msg="duty desk listening".* addr=(\S+)`)

// TestTimeline runs sitesim with a scenario whose mqtt section scripts a
// fire and with the duty desk: the timeline file gets what the cameras see
// and what the desk receives, one line each, in seconds since start.
func TestTimeline(t *testing.T) {
	dir := t.TempDir()
	scenario := filepath.Join(dir, "fire.yaml")
	if err := os.WriteFile(scenario, []byte(`modbus: {listeners: {tcp: {units: [{unit: 1, profile: tank}]}}}
mqtt:
  cameras: {CAM-01: {lat: 25.07, lon: 118.21}, CAM-02: {lat: 25.03, lon: 118.15}}
  fire: {at: {lat: 25.075, lon: 118.17}, seen_by: [CAM-01, CAM-02], start: 0s, flames: 300ms, end: 600ms, every: 200ms}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	tlPath := filepath.Join(dir, "timeline.log")
	logs := newLogSink()
	ctx, cancel := context.WithCancel(context.Background())
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, []string{"-scenario", scenario, "-modbus-listen", "127.0.0.1:0", "-http", "127.0.0.1:0",
			"-mqtt-embedded", "127.0.0.1:0", "-cameras", "0", "-checkpoints", "0",
			"-dutydesk-listen", "127.0.0.1:0", "-dutydesk-secret", secret, "-timeline", tlPath}, logs)
	}()
	desk := logs.await(t, deskAddr)
	api := logs.await(t, httpAddr)

	// A notification as the gateway signs it (Standard Webhooks).
	body := `{"type":"alert.firing","timestamp":"2026-11-22T09:00:02Z","data":{"id":"a1","rule":"forest-fire","status":"firing",` +
		`"level":"smoke","severity":"red","device":"CAM-01","message":"东山瞭望塔1号摄像机 检测到烟雾，北纬 25.0750° 东经 118.1700°"}}`
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("msg_1." + ts + "." + body))
	req, _ := http.NewRequest(http.MethodPost, "http://"+desk+"/api/alerts", strings.NewReader(body))
	req.Header.Set("webhook-id", "msg_1")
	req.Header.Set("webhook-timestamp", ts)
	req.Header.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("desk answered %d", resp.StatusCode)
	}

	want := []*regexp.Regexp{
		regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d  \+  \ds  CAM-01 sees smoke at bearing 277\.9°, 4\.1 km \(scripted fire at 25\.0750, 118\.1700\)$`),
		regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d  \+ +\d+s  CAM-02 sees flames at bearing 21\.9° \(scripted fire at 25\.0750, 118\.1700\)$`),
		regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d  \+ +\d+s  desk   alert\.firing +forest-fire CAM-01 smoke red: 东山瞭望塔1号摄像机 检测到烟雾，北纬 25\.0750° 东经 118\.1700°$`),
	}
	deadline := time.Now().Add(20 * time.Second)
	var got string
	for {
		b, _ := os.ReadFile(tlPath)
		got = string(b)
		missing := 0
		for _, re := range want {
			if !re.MatchString(got) {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("timeline lacks %d lines of %v:\n%s", missing, want, got)
		}
		time.Sleep(100 * time.Millisecond)
	}

	r, err := http.Get("http://" + api + "/api/mqtt/checkpoints")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 200 || strings.TrimSpace(string(b)) != "[]" {
		t.Errorf("GET /api/mqtt/checkpoints: %d %s", r.StatusCode, b)
	}
	cancel()
	if code := <-exit; code != 0 {
		t.Fatalf("exit %d\n%s", code, logs.String())
	}
}
