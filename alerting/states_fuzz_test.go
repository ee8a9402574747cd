package alerting

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzActionBodies sends arbitrary bodies to the alarm management
// endpoints: whatever comes, the answer is a clear status, never a panic
// or a 5xx.
func FuzzActionBodies(f *testing.F) {
	s := newCfgEngine(f, "", Config{Rules: latchRules()}, 0)
	s.poll("GD-101", 57)
	id := firstAlertID(f, s)
	routes := s.e.Routes()
	for _, seed := range []string{``, `{}`, `{"by":"张三","for":"2h"}`, `{"by":"x","for":"-1s"}`, `{"by":"x","until":"2026-11-22T10:00:00Z"}`,
		`{"by":"x","reason":"` + strings.Repeat("长", 400) + `"}`, `{"by":1}`, `[`, `{"by":"x"} {}`, `null`} {
		for p := range 5 {
			f.Add(p, seed)
		}
	}
	f.Fuzz(func(t *testing.T, which int, body string) {
		paths := [][2]string{
			{"POST /api/v1/alerts/{id}/shelve", "/api/v1/alerts/" + id + "/shelve"},
			{"POST /api/v1/alerts/{id}/unshelve", "/api/v1/alerts/" + id + "/unshelve"},
			{"POST /api/v1/alerts/{id}/reset", "/api/v1/alerts/" + id + "/reset"},
			{"POST /api/v1/devices/{id}/out-of-service", "/api/v1/devices/GD-102/out-of-service"},
			{"DELETE /api/v1/devices/{id}/out-of-service", "/api/v1/devices/GD-102/out-of-service"},
		}
		p := paths[(which%len(paths)+len(paths))%len(paths)]
		mux := http.NewServeMux()
		mux.Handle(p[0], routes[p[0]])
		method, _, _ := strings.Cut(p[0], " ")
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(method, p[1], strings.NewReader(body)))
		switch rec.Code {
		case 200, 400, 404, 409, 413:
		default:
			t.Fatalf("%s %q: %d %s", p[0], body, rec.Code, rec.Body)
		}
	})
}
