package dutydesk

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func sign(id string, ts int64, body string) string {
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s.%d.%s", id, ts, body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func body(id, typ, sev string) string {
	return fmt.Sprintf(`{"type":%q,"timestamp":"2026-11-22T09:00:02Z","data":{"id":%q,"rule":"combustible-gas","status":"firing","level":"high","severity":%q,"device":"GD-101","point":"ch4","value":30,"message":"GD-101 甲烷 30 %%LEL"}}`, typ, id, sev)
}

func post(t *testing.T, url, id string, ts int64, b, sig string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", sig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func start(t *testing.T, opts Options) *Server {
	t.Helper()
	if opts.Secret == "" {
		opts.Secret = secret
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestVerifyDedupRecord(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "deliveries.jsonl")
	s := start(t, Options{LogFile: logFile})
	now := time.Now().Unix()
	b := body("a1", "alert.firing", "yellow")
	tests := []struct {
		name string
		id   string
		ts   int64
		sig  string
		want int
	}{
		{"valid", "msg_1", now, sign("msg_1", now, b), 204},
		{"retry of the same id is deduped", "msg_1", now + 3, sign("msg_1", now+3, b), 200},
		{"bad signature", "msg_2", now, sign("msg_2", now, b+" "), 401},
		{"signed for another id", "msg_3", now, sign("msg_2", now, b), 401},
		{"stale timestamp", "msg_4", now - 600, sign("msg_4", now-600, b), 401},
		{"future timestamp", "msg_5", now + 600, sign("msg_5", now+600, b), 401},
		{"one of several signatures valid", "msg_6", now, "v1,AAAA " + sign("msg_6", now, b), 204},
		{"unknown version only", "msg_7", now, "v2," + strings.TrimPrefix(sign("msg_7", now, b), "v1,"), 401},
		{"no signature", "msg_8", now, "", 401},
	}
	for _, tc := range tests {
		if got := post(t, s.URL(), tc.id, tc.ts, b, tc.sig); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	ds := s.Deliveries()
	if len(ds) != 2 || ds[0].WebhookID != "msg_1" || ds[1].WebhookID != "msg_6" || ds[0].Alert.Severity != "yellow" || ds[0].Type != "alert.firing" {
		t.Fatalf("deliveries %+v", ds)
	}
	if st := s.Stats(); st.Requests != 9 || st.Delivered != 2 || st.Duplicates != 1 || st.BadSignature != 6 {
		t.Errorf("stats %+v", st)
	}
	s.Close()
	f, err := os.Open(logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	for sc := bufio.NewScanner(f); sc.Scan(); n++ {
		var d Delivery
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil || d.Alert.ID != "a1" {
			t.Errorf("log line %q: %v", sc.Text(), err)
		}
	}
	if n != 2 {
		t.Errorf("%d log lines", n)
	}
}

func TestFaultsAndWait(t *testing.T) {
	s := start(t, Options{})
	s.SetFault(Fault{FailFirst: 2, Status: 503, RetryAfter: "1"})
	now := time.Now().Unix()
	b := body("a1", "alert.firing", "red")
	for i, want := range []int{503, 503, 204} {
		if got := post(t, s.URL(), "msg_1", now, b, sign("msg_1", now, b)); got != want {
			t.Errorf("attempt %d: %d, want %d", i, got, want)
		}
	}
	s.SetFault(Fault{FailRatio: 1, Status: 500})
	if got := post(t, s.URL(), "msg_2", now, b, sign("msg_2", now, b)); got != 500 {
		t.Errorf("ratio 1: %d", got)
	}
	s.SetFault(Fault{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	posted := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, s.URL(), strings.NewReader(b))
		req.Header.Set("webhook-id", "msg_2")
		req.Header.Set("webhook-timestamp", strconv.FormatInt(now, 10))
		req.Header.Set("webhook-signature", sign("msg_2", now, b))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			posted <- 0
			return
		}
		resp.Body.Close()
		posted <- resp.StatusCode
	}()
	if err := s.Wait(ctx, func(ds []Delivery) bool { return len(ds) == 2 }); err != nil {
		t.Fatal(err)
	}
	if code := <-posted; code != 204 {
		t.Errorf("posted: %d", code)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel2()
	if err := s.Wait(short, func(ds []Delivery) bool { return len(ds) == 3 }); err == nil {
		t.Error("Wait returned for a condition that cannot hold")
	}
}

func TestRefuseForThenListenAgain(t *testing.T) {
	s := start(t, Options{})
	url := s.URL()
	if err := s.RefuseFor(300 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	_, err := http.Post(url, "application/json", strings.NewReader("{}"))
	// A connection caught in the closing listener's backlog is reset
	// rather than refused: either way the gateway gets no answer.
	if !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("while refusing: %v", err)
	}
	now := time.Now().Unix()
	b := body("a1", "alert.firing", "red")
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(b))
		req.Header.Set("webhook-id", "msg_1")
		req.Header.Set("webhook-timestamp", strconv.FormatInt(now, 10))
		req.Header.Set("webhook-signature", sign("msg_1", now, b))
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != 204 {
				t.Fatalf("after reopening: %d", resp.StatusCode)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not listening again: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s.URL() != url {
		t.Errorf("moved from %s to %s", url, s.URL())
	}
}

func TestPageAndAckRelay(t *testing.T) {
	var gotAuth, gotPath, gotBody string
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		gotAuth, gotPath, gotBody = r.Header.Get("Authorization"), r.URL.Path, string(b)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"a1","state":"active-acknowledged"}`)
	}))
	defer gw.Close()
	s := start(t, Options{GatewayAPI: gw.URL, GatewayToken: "gw-token"})
	base := "http://" + s.Addr()

	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "Acknowledge") || strings.Contains(string(page), "gw-token") {
		t.Fatalf("page %d", resp.StatusCode)
	}

	now := time.Now().Unix()
	for i, sev := range []string{"yellow", "red"} {
		b := body("a1", "alert.firing", sev)
		id := fmt.Sprintf("msg_%d", i)
		post(t, s.URL(), id, now, b, sign(id, now, b))
	}
	resp, err = http.Get(base + "/deliveries.json")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Deliveries []Delivery `json:"deliveries"`
		CanAck     bool       `json:"can_ack"`
	}
	json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if len(list.Deliveries) != 2 || list.Deliveries[0].Alert.Severity != "red" || !list.CanAck {
		t.Fatalf("newest first: %+v", list)
	}

	resp, err = http.Post(base+"/ack/a1", "application/json", strings.NewReader(`{"by":"张三"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || gotAuth != "Bearer gw-token" || gotPath != "/api/v1/alerts/a1/ack" || !strings.Contains(gotBody, "张三") {
		t.Errorf("relay: %d auth=%q path=%q body=%q", resp.StatusCode, gotAuth, gotPath, gotBody)
	}
}

func TestNewRejectsBadSecret(t *testing.T) {
	for _, s := range []string{"", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_***"} {
		if _, err := New(Options{Secret: s}); err == nil {
			t.Errorf("accepted %q", s)
		}
	}
}
