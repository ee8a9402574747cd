package dutydesk

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/alerting"
	"github.com/hazardgw/hazardgw/gateway"
)

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// The reference vector of the Standard Webhooks specification.
func TestSignStandardWebhooksVector(t *testing.T) {
	key, err := DecodeSecret(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	got := Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}
}

func TestDecodeSecret(t *testing.T) {
	for _, s := range []string{"", "whsec_", "whsec_not*base64!", "whsec_" + strings.Repeat("%", 8)} {
		if _, err := DecodeSecret(s); err == nil {
			t.Errorf("DecodeSecret(%q) accepted", s)
		} else if s != "" && strings.Contains(err.Error(), strings.TrimPrefix(s, "whsec_")) && len(s) > 6 {
			t.Errorf("error repeats the secret: %v", err)
		}
	}
	if _, err := DecodeSecret("whsec_" + base64.RawStdEncoding.EncodeToString([]byte("key"))); err != nil {
		t.Errorf("unpadded base64: %v", err)
	}
}

// TestCheckSecretLength: keys of 24 bytes and more sign; shorter ones are
// refused by CheckSecret and by New, without the secret in the error.
func TestCheckSecretLength(t *testing.T) {
	for _, n := range []int{1, 16, 23, 24, 32, 64, 100} {
		key := strings.Repeat("k", n)
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding} {
			secret := "whsec_" + enc.EncodeToString([]byte(key))
			err := CheckSecret(secret)
			_, newErr := New(alerting.NotifyConfig{Name: "desk", URL: "http://127.0.0.1:1/x", Secret: secret}, Options{}, nil)
			if n >= MinKeyLen {
				if err != nil || newErr != nil {
					t.Errorf("%d-byte key refused: %v / %v", n, err, newErr)
				}
				continue
			}
			if !errors.Is(err, ErrShortKey) || !errors.Is(newErr, ErrShortKey) {
				t.Errorf("%d-byte key: %v / %v, want ErrShortKey", n, err, newErr)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("the key is %d bytes", n)) {
				t.Errorf("message: %v", err)
			}
			for _, leak := range []string{secret, strings.TrimPrefix(secret, "whsec_")} {
				if strings.Contains(err.Error(), leak) || strings.Contains(newErr.Error(), leak) {
					t.Errorf("error repeats the secret: %v", err)
				}
			}
		}
	}
	if err := CheckSecret("whsec_!!"); err == nil || errors.Is(err, ErrShortKey) {
		t.Errorf("bad base64: %v, want a decode error", err)
	}
}

// attempt is one request as a test desk saw it.
type attempt struct {
	id, ts, sig string
	body        []byte
	verified    bool
}

// testDesk verifies signatures with its own code and answers from a script.
type testDesk struct {
	mu       sync.Mutex
	key      []byte
	answers  []int // status per attempt; 200 once exhausted
	header   http.Header
	attempts []attempt
}

func (d *testDesk) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	a := attempt{id: r.Header.Get("webhook-id"), ts: r.Header.Get("webhook-timestamp"), sig: r.Header.Get("webhook-signature"), body: body}
	mac := hmac.New(sha256.New, d.key)
	mac.Write([]byte(a.id + "." + a.ts + "." + string(body)))
	a.verified = a.sig == "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil))
	d.mu.Lock()
	n := len(d.attempts)
	d.attempts = append(d.attempts, a)
	code := http.StatusOK
	if n < len(d.answers) {
		code = d.answers[n]
	}
	for k, v := range d.header {
		w.Header()[k] = v
	}
	d.mu.Unlock()
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		code = http.StatusUnsupportedMediaType
	}
	w.WriteHeader(code)
}

func (d *testDesk) seen() []attempt {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]attempt(nil), d.attempts...)
}

func newDesk(t *testing.T, answers ...int) (*testDesk, *httptest.Server) {
	key, _ := DecodeSecret(testSecret)
	d := &testDesk{key: key, answers: answers}
	srv := httptest.NewServer(d)
	t.Cleanup(srv.Close)
	return d, srv
}

func newNotifier(t *testing.T, url string, logger *slog.Logger, clock func() time.Time) *Notifier {
	t.Helper()
	n, err := New(alerting.NotifyConfig{Name: "desk", URL: url, Secret: testSecret, Timeout: 2 * time.Second},
		Options{MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, Now: clock}, logger)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

var msg = alerting.Message{ID: "msg_0123456789abcdef0123_1", Type: alerting.TypeFiring, Body: []byte(`{"type":"alert.firing","data":{"id":"x"}}`)}

func TestNotifyDelivers(t *testing.T) {
	d, srv := newDesk(t, http.StatusNoContent)
	if err := newNotifier(t, srv.URL, nil, nil).Notify(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	got := d.seen()
	if len(got) != 1 || !got[0].verified || got[0].id != msg.ID || !bytes.Equal(got[0].body, msg.Body) {
		t.Fatalf("attempts %+v", got)
	}
	if ts, _ := strconv.ParseInt(got[0].ts, 10, 64); time.Since(time.Unix(ts, 0)).Abs() > time.Minute {
		t.Errorf("timestamp %s", got[0].ts)
	}
}

func TestNotifyRetriesWithSameIDAndFreshSignature(t *testing.T) {
	d, srv := newDesk(t, 503, 500, 429, 502, http.StatusOK)
	var mu sync.Mutex
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { // each attempt a minute later
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Minute)
		return now
	}
	if err := newNotifier(t, srv.URL, nil, clock).Notify(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	got := d.seen()
	if len(got) != 5 {
		t.Fatalf("%d attempts", len(got))
	}
	stamps := map[string]bool{}
	for i, a := range got {
		if a.id != msg.ID || !a.verified {
			t.Errorf("attempt %d: id %s verified %v", i, a.id, a.verified)
		}
		stamps[a.ts] = true
	}
	if len(stamps) != 5 {
		t.Errorf("timestamps not refreshed per attempt: %v", stamps)
	}
}

func TestNotifyPermanentAnswers(t *testing.T) {
	for _, code := range []int{400, 401, 403, 404, 410, 422} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			d, srv := newDesk(t, code)
			err := newNotifier(t, srv.URL, nil, nil).Notify(context.Background(), msg)
			var se *StatusError
			if !gateway.IsPermanent(err) || !errors.As(err, &se) || se.Code != code {
				t.Fatalf("err %v", err)
			}
			if n := len(d.seen()); n != 1 {
				t.Errorf("%d attempts of a permanent failure", n)
			}
		})
	}
}

func TestNotifyRetriesNetworkErrorsUntilContextEnds(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String() + "/hook"
	ln.Close() // connection refused from now on
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err = newNotifier(t, url, nil, nil).Notify(ctx, msg)
	if err == nil || gateway.IsPermanent(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v", err)
	}
}

func TestNotifyFirstRefusedThenServed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	done := make(chan error, 1)
	go func() { done <- newNotifier(t, "http://"+addr+"/hook", nil, nil).Notify(context.Background(), msg) }()
	d := &testDesk{}
	d.key, _ = DecodeSecret(testSecret)
	// Let a few attempts be refused, then answer on the same port.
	time.Sleep(50 * time.Millisecond) // the scenario's timeline, not synchronisation
	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("port %s taken by another process meanwhile (rerun): %v", addr, err)
	}
	srv := &http.Server{Handler: d}
	go srv.Serve(ln2)
	defer srv.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("not delivered after the desk came back")
	}
	if got := d.seen(); len(got) != 1 || !got[0].verified {
		t.Fatalf("attempts %+v", got)
	}
}

// TestSecretNeverInLogsOrErrors runs through every failure the notifier
// logs or returns, with logging at Debug, and checks that neither the
// secret, nor the key, nor a token in the URL's query shows up.
func TestSecretNeverInLogsOrErrors(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	key, _ := DecodeSecret(testSecret)
	forbidden := []string{testSecret, strings.TrimPrefix(testSecret, "whsec_"), string(key), "t0ken-in-query"}
	var errs []error

	_, srv := newDesk(t, 503, 503, 400)
	n := newNotifier(t, srv.URL+"/hook?token=t0ken-in-query", logger, nil)
	errs = append(errs, n.Notify(context.Background(), msg))

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	refused := "http://" + ln.Addr().String() + "/hook?token=t0ken-in-query"
	ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	errs = append(errs, newNotifier(t, refused, logger, nil).Notify(ctx, msg))
	cancel()

	for _, bad := range []string{testSecret + "!", "whsec_", "nope" + testSecret} {
		_, err := New(alerting.NotifyConfig{Name: "x", URL: srv.URL, Secret: bad}, Options{}, logger)
		errs = append(errs, err)
	}
	for _, err := range errs {
		if err == nil {
			t.Fatal("expected an error")
		}
		fmt.Fprintln(&logs, "ERR:", err)
	}
	for _, f := range forbidden {
		if strings.Contains(logs.String(), f) {
			t.Errorf("%q leaked:\n%s", f, logs.String())
		}
	}
	if !strings.Contains(logs.String(), "duty desk not accepting notifications") {
		t.Errorf("failure not logged:\n%s", logs.String())
	}
}

// After network errors, the first HTTP answers back off from MinBackoff
// again rather than from where the outage left the exponent.
func TestBackoffRestartsWhenTheDeskAnswers(t *testing.T) {
	n := newNotifier(t, "http://127.0.0.1:1/hook", nil, nil)
	c := &call{}
	ctx := context.WithValue(context.Background(), callKey{}, c)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://127.0.0.1:1/hook", nil)
	for range 20 {
		n.checkRetry(ctx, nil, errors.New("connection refused"))
	}
	if d := n.backoff(time.Millisecond, time.Second, 20, nil); d < 500*time.Millisecond {
		t.Errorf("after 20 refusals: %v, want the cap", d)
	}
	resp := &http.Response{StatusCode: 503, Header: http.Header{}, Request: req}
	n.checkRetry(ctx, resp, nil)
	if d := n.backoff(time.Millisecond, time.Second, 21, resp); d > time.Millisecond {
		t.Errorf("first 503 after refusals: %v, want at most MinBackoff", d)
	}
	n.checkRetry(ctx, resp, nil)
	if d := n.backoff(time.Millisecond, time.Second, 22, resp); d > 2*time.Millisecond {
		t.Errorf("second 503: %v", d)
	}
}
