package e2e

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/console"
)

// TestConsoleRendersEveryStateAndNoMarkup renders, in a headless Chromium,
// what the gateway's API can say but a short run of the real gateway
// hardly produces at once: chattering, latched, suppressed and shelved
// alerts, one cleared with a higher peak, an offline Modbus device with bad
// values, an MQTT device (values as a map) while the broker is down — with
// markup and script in every text field. The page must show the states and
// run none of the markup. The API here is a fixed answer (the console is
// the subject, not the gateway); a token refused mid-session brings the
// sign-in form back.
func TestConsoleRendersEveryStateAndNoMarkup(t *testing.T) {
	chromium := chromiumBinary(t)
	shots := os.Getenv("HAZARDGW_CONSOLE_SHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	const evil = `<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>`
	now := time.Now().UTC()
	at := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339Nano) }
	alert := func(id, sev, state, status string, ack bool, extra map[string]any) map[string]any {
		a := map[string]any{"id": id, "rule": "r" + evil, "status": status, "state": state, "level": "high", "severity": sev,
			"site": "s1", "device": "D-" + id, "label": "标签" + evil, "kind": "gas_detector", "point": "ch4" + evil,
			"value": 12.5, "unit": "%LEL" + evil, "threshold": 10, "started_at": at(-time.Duration(len(id)) * time.Minute),
			"changed_at": at(0), "acknowledged": ack, "message": "消息 " + id + " " + evil}
		if ack {
			a["acknowledged_by"], a["acknowledged_at"], a["comment"] = "值班员"+evil, at(0), "备注"+evil
		}
		for k, v := range extra {
			a[k] = v
		}
		return a
	}
	open := []map[string]any{
		alert("chatter", "orange", "chattering", "firing", false, map[string]any{"chattering": true, "lifecycle": "active-unacknowledged"}),
		alert("latched", "red", "latched", "firing", true, map[string]any{"latched": true, "lifecycle": "active-acknowledged"}),
		alert("suppressed", "blue", "suppressed", "firing", false, map[string]any{"suppressed": true}),
		alert("shelved", "red", "shelved", "firing", false, map[string]any{"shelved_until": at(time.Hour), "shelved_by": "x"}),
		alert("cleared", "yellow", "cleared-unacknowledged", "resolved", false, map[string]any{"resolved_at": at(0), "peak_severity": "red"}),
	}
	ended := alert("ended", "orange", "normal", "resolved", true, map[string]any{"resolved_at": at(0), "peak_severity": "red"})
	devices := map[string]any{"devices": []any{
		map[string]any{"id": "GD-1" + evil, "kind": "gas_detector", "label": evil, "source": "modbus", "online": false,
			"quality": "bad", "reason": "no_reply" + evil, "last_poll": at(0),
			"values": []any{map[string]any{"name": "ch4" + evil, "value": 3.2, "unit": "%LEL", "quality": "bad", "reason": "no_reply"}}},
		map[string]any{"id": "CAM-07", "kind": "fire_detection", "source": "mqtt", "online": true, "quality": "bad", "reason": "broker_down",
			"last_seen": at(0), "values": map[string]any{"confidence": map[string]any{"value": 0.87, "quality": "good"}}},
	}}
	var refuse atomic.Bool
	mux := http.NewServeMux()
	for p, h := range console.Routes() {
		mux.Handle(p, h)
	}
	reply := func(v any) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if refuse.Load() || r.Header.Get("Authorization") != "Bearer t0k" {
				http.Error(w, `{"error":"missing or invalid bearer token"}`, http.StatusUnauthorized)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(v)
		}
	}
	mux.Handle("GET /api/v1/site", reply(map[string]string{"site": "s1", "name": "站" + evil, "timezone": "Asia/Shanghai", "language": "en"}))
	mux.Handle("GET /api/v1/devices", reply(devices))
	mux.HandleFunc("GET /api/v1/alerts", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("state") == "all" {
			reply(append(append([]map[string]any{}, open...), ended))(w, r)
			return
		}
		reply(open)(w, r)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	c := startChromium(t, chromium, srv.URL+"/#token=t0k", "--autoplay-policy=no-user-gesture-required")
	c.viewport(t, 1280, 1200, false)
	c.waitEval(t, 30*time.Second, `document.title`, "(2) Duty console · 站"+evil)
	c.waitEval(t, 30*time.Second, `[...document.querySelectorAll("#alerts .alert")].map(e => e.dataset.id).join(",")`,
		"latched,shelved,chatter,cleared,suppressed")
	c.waitEval(t, 30*time.Second, `document.querySelectorAll("#devices .device").length`, "2")
	c.waitEval(t, 10*time.Second, `/^\d\d-\d\d \d\d:\d\d:\d\d Asia\/Shanghai$/.test(document.getElementById("clock").textContent) &&
		document.getElementById("clock").getBoundingClientRect().width > 0`, "true")
	if got := c.eval(t, `String(window.pwned) + " " + document.querySelectorAll("img, script:not([src]), main b b, main b script").length`); got != "undefined 0" {
		t.Errorf("markup from the API ran or was parsed: %s", got)
	}
	for id, want := range map[string][]string{
		"chatter":    {"Orange · II", "unacknowledged", "chattering", "消息 chatter " + evil, "标签" + evil + " (D-chatter)", "ch4" + evil + " 12.5 %LEL" + evil, "Acknowledge", "Shelve"},
		"latched":    {"Red · I", "acknowledged", "latched", "值班员" + evil, "备注" + evil, "Reset"},
		"suppressed": {"Blue · IV", "suppressed"},
		"shelved":    {"shelved until ", "Unshelve"},
		"cleared":    {"back to normal", "highest Red · I", "unacknowledged"},
	} {
		card := c.eval(t, `document.querySelector('#alerts .alert[data-id="`+id+`"]').textContent`)
		for _, w := range want {
			if !strings.Contains(card, w) {
				t.Errorf("%s card lacks %q: %s", id, w, card)
			}
		}
	}
	if got := c.eval(t, `document.querySelector('#recent .alert[data-id="ended"]').textContent`); !strings.Contains(got, "highest Red · I") || strings.Contains(got, "Acknowledge") {
		t.Errorf("ended card: %s", got)
	}
	for sel, want := range map[string][]string{
		`#devices .device.offline`:           {"offline", "bad (no_reply" + evil + ")", "ch4" + evil + " 3.2 %LEL (bad no_reply)", "Out of service"},
		`#devices .device[data-id="CAM-07"]`: {"online", "bad (broker_down)", "confidence 0.87"},
	} {
		card := c.eval(t, `document.querySelector('`+sel+`').textContent`)
		for _, w := range want {
			if !strings.Contains(card, w) {
				t.Errorf("%s lacks %q: %s", sel, w, card)
			}
		}
	}
	// The chattering orange alarm is active and unacknowledged: it sounds.
	c.waitEval(t, 30*time.Second, `document.body.dataset.sound`, "sounding")
	c.screenshot(t, filepath.Join(shots, "console-states-desktop.png"))
	c.viewport(t, 390, 2400, true)
	c.screenshot(t, filepath.Join(shots, "console-states-phone.png"))

	// The token is changed on the gateway: the next poll brings the form back.
	refuse.Store(true)
	c.waitEval(t, 30*time.Second, `!document.getElementById("signin").hidden + " " + document.getElementById("signin-error").textContent`,
		"true The token was refused; sign in again")
	if got := c.eval(t, `String(localStorage.getItem("hazardgw.token")) + " " + document.body.dataset.sound`); got != "null off" {
		t.Errorf("after the token was refused: %s", got)
	}
}
