package console

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func serve(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	for p, h := range Routes() {
		mux.Handle(p, h)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestRoutes: the page and its assets are served without a token, each
// with the strict Content-Security-Policy and a validator; anything else
// is 404.
func TestRoutes(t *testing.T) {
	srv := serve(t)
	for _, tc := range []struct {
		path, ctype, contains string
	}{
		{"/", "text/html; charset=utf-8", `<script src="/console/app.js" defer></script>`},
		{"/console/app.js", "text/javascript; charset=utf-8", `"use strict"`},
		{"/console/app.css", "text/css; charset=utf-8", ".alert"},
	} {
		resp, body := get(t, srv.URL+tc.path, nil)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != tc.ctype || !strings.Contains(body, tc.contains) {
			t.Errorf("GET %s: %d %q, body has %q: %v", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), tc.contains, strings.Contains(body, tc.contains))
		}
		for k, want := range map[string]string{
			"Content-Security-Policy": ContentSecurityPolicy, "X-Content-Type-Options": "nosniff",
			"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache",
		} {
			if got := resp.Header.Get(k); got != want {
				t.Errorf("GET %s: %s = %q, want %q", tc.path, k, got, want)
			}
		}
		etag := resp.Header.Get("ETag")
		if etag == "" {
			t.Errorf("GET %s: no ETag", tc.path)
			continue
		}
		if resp, _ := get(t, srv.URL+tc.path, map[string]string{"If-None-Match": etag}); resp.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s with its ETag: %d, want 304", tc.path, resp.StatusCode)
		}
	}
	for _, p := range []string{"/index.html", "/console/", "/console/nope.js", "/console/index.html", "/app.js", "/nope"} {
		if resp, _ := get(t, srv.URL+p, nil); resp.StatusCode != 404 {
			t.Errorf("GET %s: %d, want 404", p, resp.StatusCode)
		}
	}
	if !strings.Contains(ContentSecurityPolicy, "default-src 'self'") || strings.Contains(ContentSecurityPolicy, "unsafe") {
		t.Errorf("CSP %q", ContentSecurityPolicy)
	}
}

// TestNoInlineCodeNoHTMLFromData keeps the page working under its CSP and
// the API's text out of the HTML parser: no inline scripts, styles or event
// handlers in the page, and no HTML-parsing sinks in the script.
func TestNoInlineCodeNoHTMLFromData(t *testing.T) {
	a := assets()
	html, js := string(a["index.html"].body), string(a["app.js"].body)
	for _, re := range []string{`<script(?:\s[^>]*)?>[^<]`, `<style`, `\sstyle=`, `\son[a-z]+=`, `javascript:`, `https?://`} {
		if m := regexp.MustCompile(`(?i)` + re).FindString(html); m != "" {
			t.Errorf("index.html has %q (forbidden by the CSP or leaving the gateway)", m)
		}
	}
	for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "setAttribute(\"on", "http://", "https://"} {
		if strings.Contains(js, sink) {
			t.Errorf("app.js uses %s", sink)
		}
	}
	// Every asset the page links is served.
	for _, m := range regexp.MustCompile(`(?:src|href)="/console/([^"]+)"`).FindAllStringSubmatch(html, -1) {
		if a[m[1]] == nil {
			t.Errorf("index.html links /console/%s, which is not embedded", m[1])
		}
	}
	// The page stays small enough to read in one sitting.
	if n := strings.Count(js, "\n"); n > 500 {
		t.Errorf("app.js has %d lines; keep the console small", n)
	}
}
