package receivers

import (
	"encoding/json"
	"fmt"
	"testing"
	"unicode/utf8"

	"github.com/hazardgw/hazardgw/alerting"
)

// FuzzRender feeds arbitrary notification bodies (and arbitrary alert
// JSON inside a valid envelope) to the renderer: it must not panic, and
// every dialect's text must stay valid UTF-8 within its limit.
func FuzzRender(f *testing.F) {
	a := gasAlert("a1", "red", 57.3)
	seed, _ := json.Marshal(map[string]any{"type": "alert.firing", "timestamp": a.StartedAt, "data": a})
	f.Add(seed, 3)
	f.Add([]byte(`{"type":"alert.group","data":{"group":{"area":"x"},"alerts":[{"severity":"red","event":"alert.firing","message":"**"}]}}`), 1)
	f.Add([]byte(`{"type":"alert.heartbeat","data":{"active":{"red":-1}}}`), 1)
	f.Add([]byte(`{"id":"x","label":"\u0000\n###","message":"`+string(make([]byte, 3000))+`"}`), 40)
	f.Add([]byte("\xff\xfe"), 2)
	f.Fuzz(func(t *testing.T, body []byte, n int) {
		n = 1 + abs(n)%8
		// As a whole body, and as the data of a firing notification.
		wrapped := append(append([]byte(`{"type":"alert.firing","timestamp":"2026-11-22T09:00:00Z","data":`), body...), '}')
		for _, b := range [][]byte{body, wrapped} {
			ms := make([]alerting.Message, n)
			for i := range ms {
				ms[i] = alerting.Message{ID: fmt.Sprint(i), Body: b}
			}
			for _, d := range []dialect{dingTalkMarkdown, weComMarkdown, weComText, feishuMarkdown, feishuText} {
				r := render(testSite, d, ms, func(bool) string { return "@13800000000" })
				if len(r.text) > d.limit {
					t.Fatalf("text of %d bytes, limit %d", len(r.text), d.limit)
				}
				if !utf8.ValidString(r.text) || !utf8.ValidString(r.title) {
					t.Fatal("invalid UTF-8")
				}
				if r.shown == 0 && r.count > 0 {
					t.Fatalf("nothing shown of %d", r.count)
				}
			}
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -(n + 1)
	}
	return n
}

// BenchmarkRenderBatch renders 1,000 alerts into one DingTalk and one
// WeCom message: what a flood merged into a spent rate budget costs.
func BenchmarkRenderBatch(b *testing.B) {
	ms := make([]alerting.Message, 1000)
	sevs := []string{"red", "orange", "yellow", "blue"}
	for i := range ms {
		a := gasAlert(fmt.Sprintf("a%04d", i), sevs[i%4], float64(i))
		body, _ := json.Marshal(map[string]any{"type": "alert.firing", "timestamp": a.StartedAt, "data": a})
		ms[i] = alerting.Message{ID: a.ID, Body: body}
	}
	for _, d := range []struct {
		name string
		d    dialect
	}{{"dingtalk", dingTalkMarkdown}, {"wecom", weComMarkdown}} {
		b.Run(d.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r := render(testSite, d.d, ms, nil)
				if r.count != 1000 || len(r.text) > d.d.limit {
					b.Fatal(r.count, len(r.text))
				}
			}
		})
	}
}
