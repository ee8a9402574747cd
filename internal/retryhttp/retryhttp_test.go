package retryhttp

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

func TestWithDefaults(t *testing.T) {
	def := Options{MinBackoff: time.Second, MaxBackoff: time.Minute, MaxRetryAfter: 5 * time.Minute}
	got := Options{}.WithDefaults(def)
	if got.MinBackoff != time.Second || got.MaxBackoff != time.Minute || got.MaxRetryAfter != 5*time.Minute || got.Now == nil {
		t.Errorf("zero options: %+v", got)
	}
	fixed := time.Unix(7, 0)
	got = Options{MinBackoff: time.Millisecond, MaxBackoff: -1, Now: func() time.Time { return fixed }}.WithDefaults(def)
	if got.MinBackoff != time.Millisecond || got.MaxBackoff != time.Minute || !got.Now().Equal(fixed) {
		t.Errorf("set options: %+v", got)
	}
}

func TestConfigWithDefaults(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	def := Config{Options: Options{MinBackoff: time.Second, MaxBackoff: time.Minute}, Timeout: 5 * time.Second}
	got := Config{LogPrefix: "x: "}.WithDefaults(def)
	if got.MinBackoff != time.Second || got.MaxBackoff != time.Minute || got.Now == nil || got.Timeout != 5*time.Second || got.Logger == nil || got.LogPrefix != "x: " {
		t.Errorf("zero config: %+v", got)
	}
	got = Config{Options: Options{MinBackoff: time.Millisecond}, Timeout: -1, Logger: logger}.WithDefaults(def)
	if got.MinBackoff != time.Millisecond || got.MaxBackoff != time.Minute || got.Timeout != 5*time.Second || got.Logger != logger {
		t.Errorf("set config: %+v", got)
	}
	got = Config{Timeout: time.Millisecond}.WithDefaults(Config{Timeout: time.Second, Logger: logger})
	if got.Timeout != time.Millisecond || got.Logger != logger {
		t.Errorf("set timeout, default logger: %+v", got)
	}
}

func TestBackoff(t *testing.T) {
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	resp := func(code int, kv ...string) *http.Response {
		h := http.Header{}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return &http.Response{StatusCode: code, Header: h}
	}
	const lo, hi, maxRA = 250 * time.Millisecond, 10 * time.Second, 5 * time.Minute
	feishu := []string{"Retry-After", "X-Ogw-Ratelimit-Reset"}
	tests := []struct {
		name    string
		attempt int
		resp    *http.Response
		jitter  float64
		headers []string
		want    time.Duration
	}{
		{"first retry, no jitter", 0, nil, 0, nil, 125 * time.Millisecond},
		{"first retry, half jitter", 0, nil, 0.5, nil, 187500 * time.Microsecond},
		{"exponential", 3, resp(503), 0, nil, time.Second},
		{"capped", 10, resp(500), 0, nil, 5 * time.Second},
		{"huge attempt stays capped", 1000, nil, 0, nil, 5 * time.Second},
		{"Retry-After seconds on 503", 0, resp(503, "Retry-After", "7"), 0.5, nil, 7 * time.Second},
		{"Retry-After seconds on 429", 5, resp(429, "Retry-After", "2"), 0.5, nil, 2 * time.Second},
		{"Retry-After ignored on 400", 0, resp(400, "Retry-After", "7"), 0, nil, 125 * time.Millisecond},
		{"Retry-After date", 0, resp(503, "Retry-After", now.Add(90*time.Second).Format(http.TimeFormat)), 0.5, nil, 90 * time.Second},
		{"Retry-After in the past", 0, resp(503, "Retry-After", now.Add(-time.Hour).Format(http.TimeFormat)), 0.5, nil, 0},
		{"Retry-After capped", 0, resp(503, "Retry-After", "86400"), 0.5, nil, maxRA},
		{"Retry-After overflowing seconds capped", 0, resp(503, "Retry-After", "99999999999999999"), 0, nil, maxRA},
		{"Retry-After negative falls back", 0, resp(503, "Retry-After", "-3"), 0, nil, 125 * time.Millisecond},
		{"Retry-After garbage falls back", 0, resp(503, "Retry-After", "soon"), 0, nil, 125 * time.Millisecond},
		{"other header not read by default", 0, resp(429, "X-Ogw-Ratelimit-Reset", "9"), 0, nil, 125 * time.Millisecond},
		{"other header when asked", 0, resp(429, "X-Ogw-Ratelimit-Reset", "9"), 0, feishu, 9 * time.Second},
		{"first header wins", 0, resp(429, "Retry-After", "3", "X-Ogw-Ratelimit-Reset", "9"), 0, feishu, 3 * time.Second},
		{"garbage first header, second read", 0, resp(429, "Retry-After", "soon", "X-Ogw-Ratelimit-Reset", "9"), 0, feishu, 9 * time.Second},
		{"date only in Retry-After", 0, resp(429, "X-Ogw-Ratelimit-Reset", now.Add(time.Minute).Format(http.TimeFormat)), 0, feishu, 125 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Backoff(lo, hi, maxRA, tc.attempt, tc.resp, now, tc.jitter, tc.headers...); got != tc.want {
				t.Errorf("Backoff = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRetryable(t *testing.T) {
	for code, want := range map[int]bool{200: false, 204: false, 301: false, 400: false, 404: false, 408: false,
		429: true, 500: true, 501: true, 502: true, 503: true, 504: true} {
		if got := Retryable(&http.Response{StatusCode: code}, nil); got != want {
			t.Errorf("Retryable(%d) = %v", code, got)
		}
	}
	if !Retryable(nil, errors.New("connection reset")) {
		t.Error("network error not retryable")
	}
}

func TestReason(t *testing.T) {
	secretURL := "https://oapi.dingtalk.com/robot/send?access_token=SECRET"
	tests := []struct {
		name string
		resp *http.Response
		err  error
		want string
	}{
		{"status", &http.Response{StatusCode: 503}, nil, "HTTP 503"},
		{"nothing", nil, nil, "no answer"},
		{"url error loses the URL", nil, &url.Error{Op: "Post", URL: secretURL, Err: errors.New("connection refused")}, "connection refused"},
		{"plain error", nil, errors.New("boom"), "boom"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Reason(tc.resp, tc.err); got != tc.want {
				t.Errorf("Reason = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFailures(t *testing.T) {
	var f Failures
	if n, ended := f.Clear(); ended || n != 0 {
		t.Fatalf("Clear with no outage = %d, %v", n, ended)
	}
	if !f.Add() {
		t.Error("first failure did not begin an outage")
	}
	if f.Add() || f.Add() {
		t.Error("later failures began an outage again")
	}
	if n, ended := f.Clear(); !ended || n != 3 {
		t.Errorf("Clear = %d, %v; want 3, true", n, ended)
	}
	if n, ended := f.Clear(); ended || n != 0 {
		t.Errorf("second Clear = %d, %v", n, ended)
	}
	if !f.Add() {
		t.Error("a new outage did not begin")
	}
}

// A client retries 503s until the server
// takes the request, and its debug logs carry neither the URL nor the
// secret in it.
func TestNewRetriesUntilDelivered(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var prepared atomic.Int32
	c := New(Config{
		Options:   Options{MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond, MaxRetryAfter: time.Second},
		Timeout:   10 * time.Second,
		Logger:    logger,
		LogPrefix: "test client: ",
		Scrub:     strings.NewReplacer("SECRET", "***").Replace,
		CheckRetry: func(ctx context.Context, resp *http.Response, err error) (bool, error) {
			return Retryable(resp, err), ctx.Err()
		},
		Backoff: func(lo, hi time.Duration, attempt int, resp *http.Response) time.Duration {
			return Backoff(lo, hi, time.Second, attempt, resp, time.Now(), 0)
		},
		PrepareRetry: func(*http.Request) error { prepared.Add(1); return nil },
	})
	if c.RetryMax < 1000 {
		t.Errorf("RetryMax = %d: a notification must be retried until delivered", c.RetryMax)
	}
	req, err := retryablehttp.NewRequest(http.MethodPost, srv.URL+"/hook?token=SECRET", []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || hits.Load() != 3 || prepared.Load() != 2 {
		t.Errorf("status %d after %d hits, %d re-preparations; want 204 after 3, 2", resp.StatusCode, hits.Load(), prepared.Load())
	}
	if !strings.Contains(logs.String(), "test client: ") {
		t.Errorf("no debug logs with the prefix: %s", logs.String())
	}
	if strings.Contains(logs.String(), "SECRET") || strings.Contains(logs.String(), "/hook") {
		t.Errorf("logs carry the URL: %s", logs.String())
	}
}

// After the last attempt the client hands back the answer itself, not an
// error of its own, so the adapter classifies it.
func TestNewPassesFinalAnswerThrough(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
	}))
	defer srv.Close()
	c := New(Config{
		Options: Options{MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond},
		Timeout: 10 * time.Second,
		CheckRetry: func(ctx context.Context, resp *http.Response, err error) (bool, error) {
			return Retryable(resp, err), nil
		},
		Backoff: retryablehttp.DefaultBackoff,
	})
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("status %d, want 400", resp.StatusCode)
	}
}
