package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/console"
)

// TestConsoleListsDevicesOutOfService renders, in a headless Chromium, the
// console's list of devices out of service (GET /api/v1/out-of-service):
// who took each out, since and until when, and why, as text even when it
// holds markup; its "back in service" button sends the DELETE with the
// officer's name, and the section goes once the list is empty. The API
// is a fixed answer: the console is the subject.
func TestConsoleListsDevicesOutOfService(t *testing.T) {
	chromium := chromiumBinary(t)
	const evil = `<img src=x onerror="window.pwned=1">`
	since := time.Date(2026, 11, 22, 1, 30, 0, 0, time.UTC) // 09:30 in Shanghai
	until := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC) // 18:00
	var (
		mu      sync.Mutex
		outs    = []map[string]any{{"device": "GD-102", "label": "2号罐区" + evil, "out_of_service": true, "by": "张三" + evil, "reason": "更换探头" + evil, "since": since, "until": until}}
		deleted []string
	)
	mux := http.NewServeMux()
	for p, h := range console.Routes() {
		mux.Handle(p, h)
	}
	reply := func(v func() any) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer t0k" {
				http.Error(w, `{"error":"missing or invalid bearer token"}`, http.StatusUnauthorized)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(v())
		}
	}
	mux.Handle("GET /api/v1/site", reply(func() any {
		return map[string]string{"site": "s1", "name": "站", "timezone": "Asia/Shanghai", "language": "zh"}
	}))
	mux.Handle("GET /api/v1/devices", reply(func() any {
		return map[string]any{"devices": []any{map[string]any{"id": "GD-102", "kind": "gas_detector", "source": "modbus", "online": true, "quality": "uncertain", "reason": "maintenance"}}}
	}))
	mux.Handle("GET /api/v1/alerts", reply(func() any { return []any{} }))
	mux.Handle("GET /api/v1/out-of-service", reply(func() any {
		mu.Lock()
		defer mu.Unlock()
		return outs
	}))
	mux.HandleFunc("DELETE /api/v1/devices/{id}/out-of-service", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		deleted = append(deleted, r.PathValue("id")+" "+string(b))
		outs = outs[:0]
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"device":"`+r.PathValue("id")+`","out_of_service":false}`)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	c := startChromium(t, chromium, srv.URL+"/#token=t0k")
	c.viewport(t, 1280, 1000, false)
	c.waitEval(t, 30*time.Second, `!document.getElementById("oos-section").hidden && document.querySelectorAll("#oos .oos").length`, "1")
	card := c.eval(t, `document.querySelector('#oos .oos[data-id="GD-102"]').textContent`)
	for _, w := range []string{"2号罐区" + evil, "GD-102", "停用中", "张三" + evil, "自 11-22 09:30:00", "至 11-22 18:00:00", "更换探头" + evil, "恢复投用"} {
		if !strings.Contains(card, w) {
			t.Errorf("out-of-service card lacks %q: %s", w, card)
		}
	}
	if got := c.eval(t, `String(window.pwned) + " " + document.querySelectorAll("img").length`); got != "undefined 0" {
		t.Errorf("markup from the API ran or was parsed: %s", got)
	}
	c.eval(t, `document.querySelector('#oos .oos[data-id="GD-102"] .act-ins').click(); ""`)
	c.waitEval(t, 10*time.Second, `document.getElementById("act").open`, "true")
	c.eval(t, `document.getElementById("by").value = "李四"; document.getElementById("act-ok").click(); ""`)
	c.waitEval(t, 30*time.Second, `document.getElementById("oos-section").hidden`, "true")
	mu.Lock()
	defer mu.Unlock()
	if len(deleted) != 1 || deleted[0] != `GD-102 {"by":"李四"}` {
		t.Errorf("DELETE calls %q", deleted)
	}
}
