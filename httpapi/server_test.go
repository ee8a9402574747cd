package httpapi

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
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

// TestWrongMethod: a known path asked with a method it does not serve gets
// 405 with an Allow header listing the ones it does, under /api/ (behind the
// token) and outside it; an unknown path stays 404.
func TestWrongMethod(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	s := &Server{
		Token:   "s3cret",
		Metrics: prometheus.NewRegistry(),
		Routes: map[string]http.Handler{
			"GET /api/v1/alerts":           ok,
			"POST /api/v1/alerts/{id}/ack": ok,
		},
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	for _, tc := range []struct {
		method, path, token string
		code                int
		allow               string
	}{
		{"POST", "/api/v1/devices", "s3cret", 405, "GET, HEAD"},
		{"DELETE", "/api/v1/alerts", "s3cret", 405, "GET, HEAD"},
		{"GET", "/api/v1/alerts/a1/ack", "s3cret", 405, "POST"},
		{"PUT", "/api/v1/alerts/a1/ack", "s3cret", 405, "POST"},
		{"POST", "/healthz", "", 405, "GET, HEAD"},
		{"POST", "/readyz", "", 405, "GET, HEAD"},
		{"DELETE", "/metrics", "", 405, "GET, HEAD"},
		{"POST", "/api/v1/devices", "", 401, ""}, // the token first: no hint what exists
		{"POST", "/api/v1/nope", "s3cret", 404, ""},
		{"GET", "/api/v1/alerts", "s3cret", 200, ""},
		{"HEAD", "/api/v1/alerts", "s3cret", 200, ""},
		{"POST", "/api/v1/alerts/a1/ack", "s3cret", 200, ""},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.code || resp.Header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d Allow %q, want %d Allow %q", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Allow"), tc.code, tc.allow)
		}
	}
}

// TestSite: /api/v1/site tells an API client the site's name, time zone
// and language, behind the token like the rest of /api/v1.
func TestSite(t *testing.T) {
	for _, tc := range []struct {
		site *SiteInfo
		want string
	}{
		{&SiteInfo{ID: "qz-petro-01", Name: "某石化储罐区", Timezone: "Asia/Shanghai", Language: "zh", MaxShelve: "8h0m0s"},
			`{"site":"qz-petro-01","name":"某石化储罐区","timezone":"Asia/Shanghai","language":"zh","max_shelve":"8h0m0s"}`},
		{nil, `{"site":"","name":"","timezone":"","language":""}`},
	} {
		srv := httptest.NewServer((&Server{Token: "s3cret", Site: tc.site}).Handler())
		for _, tok := range []string{"", "s3cret"} {
			req, _ := http.NewRequest("GET", srv.URL+"/api/v1/site", nil)
			if tok != "" {
				req.Header.Set("Authorization", "Bearer "+tok)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch {
			case tok == "" && resp.StatusCode != 401:
				t.Errorf("without token: %d %s", resp.StatusCode, b)
			case tok != "" && (resp.StatusCode != 200 || strings.TrimSpace(string(b)) != tc.want):
				t.Errorf("site %+v: %d %s, want %s", tc.site, resp.StatusCode, b, tc.want)
			}
		}
		srv.Close()
	}
}
