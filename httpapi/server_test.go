package httpapi

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestEndpoints(t *testing.T) {
	ready := error(nil)
	s := &Server{
		Token:  "s3cret",
		Checks: []Check{{Name: "spool", Func: func() error { return ready }}},
		Devices: []DeviceLister{
			func() []any { return []any{map[string]string{"id": "GD-101"}} },
			func() []any { return []any{map[string]string{"id": "CAM-07"}} },
		},
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	get := func(path, token string) (int, string) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz", ""); code != 200 {
		t.Errorf("/healthz = %d", code)
	}
	if code, _ := get("/readyz", ""); code != 200 {
		t.Errorf("/readyz = %d", code)
	}
	ready = errors.New("not writable")
	if code, body := get("/readyz", ""); code != 503 || !strings.Contains(body, "spool: not writable") {
		t.Errorf("/readyz = %d %s", code, body)
	}
	for _, tok := range []string{"", "wrong", "s3cre"} {
		if code, body := get("/api/v1/devices", tok); code != 401 || strings.Contains(body, "s3cret") {
			t.Errorf("token %q: %d %s", tok, code, body)
		}
	}
	code, body := get("/api/v1/devices", "s3cret")
	if code != 200 || !strings.Contains(body, `"GD-101"`) || !strings.Contains(body, `"CAM-07"`) {
		t.Errorf("devices = %d %s", code, body)
	}
	if code, _ := get("/api/v1/nope", "s3cret"); code != 404 {
		t.Errorf("unknown api = %d", code)
	}
	if code, _ := get("/api/v1/nope", ""); code != 401 {
		t.Errorf("unknown api without token = %d", code)
	}
}

func TestEmptyTokenRefusesEveryone(t *testing.T) {
	s := &Server{}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/api/v1/devices", nil)
	req.Header.Set("Authorization", "Bearer ")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("status %d", resp.StatusCode)
	}
}
