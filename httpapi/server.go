// Package httpapi serves the gateway's HTTP endpoints: /healthz, /readyz,
// /metrics, and the bearer-token protected /api/v1/* (devices, site, and the
// routes other packages add, such as alerts). Handlers read state through
// small interfaces owned here, so the package imports no adapter.
//
// A Server is configured before Handler is called and is read-only after;
// the providers it calls must be safe for concurrent use.
package httpapi

import (
	"crypto/subtle"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// A Check reports whether one part of the gateway is ready; a non-nil error
// is the reason it is not. Checks must be quick and must not block.
type Check struct {
	Name string
	Func func() error
}

// DeviceLister lists one source's devices with their last values for
// /api/v1/devices; each element is encoded as JSON as is.
type DeviceLister func() []any

// Server holds the endpoints' dependencies.
type Server struct {
	Token   string // bearer token for /api/v1/*; empty means the API refuses everyone
	Checks  []Check
	Devices []DeviceLister
	Logger  *slog.Logger
	// Metrics is served at /metrics (open, like /healthz); nil serves none.
	Metrics prometheus.Gatherer
	// Extra routes (method + path patterns, as for http.ServeMux) added by
	// other parts of the gateway; those under /api/ get the token check.
	Routes map[string]http.Handler
	// Site is served at GET /api/v1/site; nil serves an empty object.
	Site *SiteInfo
}

// SiteInfo describes the site to API clients such as the duty console,
// which shows the site's name and its local time and speaks its language.
type SiteInfo struct {
	ID       string `json:"site"`
	Name     string `json:"name"`
	Timezone string `json:"timezone"` // IANA name
	Language string `json:"language"` // zh or en
	// MaxShelve is the longest an alert may be shelved for, as a Go
	// duration ("8h0m0s"); empty when unknown.
	MaxShelve string `json:"max_shelve,omitempty"`
}

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	if s.Metrics != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(s.Metrics, promhttp.HandlerOpts{}))
	}
	mux.Handle("GET /api/v1/devices", s.auth(http.HandlerFunc(s.devices)))
	mux.Handle("GET /api/v1/site", s.auth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := SiteInfo{}
		if s.Site != nil {
			info = *s.Site
		}
		writeJSON(w, http.StatusOK, info)
	})))
	for pattern, h := range s.Routes {
		if strings.Contains(pattern, "/api/") {
			h = s.auth(h)
		}
		mux.Handle(pattern, h)
	}
	// The catch-all under /api/ would answer every method of a known path
	// (ServeMux prefers a matching pattern to its own 405), so it asks the
	// mux which methods the path has before saying 404.
	mux.Handle(apiCatchAll, s.auth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if allow := allowedMethods(mux, r); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed; use "+strings.Join(allow, " or "))
			return
		}
		writeError(w, http.StatusNotFound, "no such endpoint")
	})))
	return mux
}

// apiCatchAll is the pattern of the /api/ catch-all in Handler.
const apiCatchAll = "/api/"

// allowedMethods returns the methods for which mux has a route of r's path
// other than the catch-all, in a fixed order.
func allowedMethods(mux *http.ServeMux, r *http.Request) []string {
	var out []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := mux.Handler(probe); pattern != "" && pattern != apiCatchAll {
			out = append(out, m)
		}
	}
	return out
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	var reasons []string
	for _, c := range s.Checks {
		if err := c.Func(); err != nil {
			reasons = append(reasons, c.Name+": "+err.Error())
		}
	}
	if len(reasons) > 0 {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "reasons": reasons})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) devices(w http.ResponseWriter, r *http.Request) {
	all := []any{}
	for _, list := range s.Devices {
		all = append(all, list()...)
	}
	writeJSON(w, http.StatusOK, map[string]any{"devices": all, "time": time.Now().UTC()})
}

// auth enforces the bearer token with a constant-time comparison.
func (s *Server) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || s.Token == "" || subtle.ConstantTimeCompare([]byte(got), []byte(s.Token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="hazardgw"`)
			writeError(w, http.StatusUnauthorized, "missing or invalid bearer token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the client went away; nothing to do
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
