package dutydesk

import (
	"encoding/json"
	"io"
	"net/http"
	"time"
)

// ControlHandler serves the desk's control API, for demos and tests
// driving a sitesim process (mount it under /api/dutydesk/):
//
//	POST /api/dutydesk/fault        {"fail_first":5,"status":503,"retry_after":"2","fail_ratio":0,"latency":"200ms"}
//	POST /api/dutydesk/refuse       {"for":"60s"}: refuse connections, then listen again
//	GET  /api/dutydesk/deliveries   every accepted delivery, oldest first
//	GET  /api/dutydesk/stats        request counters
func (s *Server) ControlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/dutydesk/fault", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			FailFirst  int     `json:"fail_first"`
			Status     int     `json:"status"`
			RetryAfter string  `json:"retry_after"`
			FailRatio  float64 `json:"fail_ratio"`
			Latency    string  `json:"latency"`
		}
		if !decode(w, r, &in) {
			return
		}
		f := Fault{FailFirst: in.FailFirst, Status: in.Status, RetryAfter: in.RetryAfter, FailRatio: in.FailRatio}
		if in.Latency != "" {
			d, err := time.ParseDuration(in.Latency)
			if err != nil || d < 0 {
				http.Error(w, "latency: want a duration such as 200ms", http.StatusBadRequest)
				return
			}
			f.Latency = d
		}
		if f.Status != 0 && (f.Status < 100 || f.Status > 599) {
			http.Error(w, "status: want an HTTP status", http.StatusBadRequest)
			return
		}
		s.SetFault(f)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /api/dutydesk/refuse", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			For string `json:"for"`
		}
		if !decode(w, r, &in) {
			return
		}
		d, err := time.ParseDuration(in.For)
		if err != nil || d <= 0 {
			http.Error(w, "for: want a duration such as 60s", http.StatusBadRequest)
			return
		}
		if err := s.RefuseFor(d); err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /api/dutydesk/deliveries", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, s.Deliveries())
	})
	mux.HandleFunc("GET /api/dutydesk/stats", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, s.Stats())
	})
	return mux
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		http.Error(w, "bad JSON: "+err.Error(), http.StatusBadRequest)
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
