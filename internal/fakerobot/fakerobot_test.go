package fakerobot

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sign is the vendors' HMAC-SHA256, base64-encoded, written out again
// from their documentation.
func sign(key, msg string) string {
	m := hmac.New(sha256.New, []byte(key))
	io.WriteString(m, msg)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func post(t *testing.T, u, body string) string {
	t.Helper()
	resp, err := http.Post(u, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strconv.Itoa(resp.StatusCode) + " " + string(b)
}

// Each robot takes a request made as its documentation says, and refuses
// one that breaks a rule, with the vendor's answer and the reason.
func TestRobotsCheckTheVendorsRules(t *testing.T) {
	const token, secret, key, hook = "tok", "SECsecret", "wecom-key", "feishu-hook"
	now := time.Now()
	dingURL := func(r *Robot, ts time.Time, sig string) string {
		ms := strconv.FormatInt(ts.UnixMilli(), 10)
		if sig == "" {
			sig = url.QueryEscape(sign(secret, ms+"\n"+secret))
		}
		return r.Webhook() + "&timestamp=" + ms + "&sign=" + sig
	}
	const dingBody = `{"msgtype":"markdown","markdown":{"title":"t","text":"报警 @13800000000"},"at":{"atMobiles":["13800000000"]}}`
	feishuBody := func(ts time.Time, s string) string {
		sec := strconv.FormatInt(ts.Unix(), 10)
		if s == "" {
			s = sign(sec+"\n"+secret, "")
		}
		return `{"timestamp":"` + sec + `","sign":"` + s + `","msg_type":"text","content":{"text":"报警"}}`
	}
	tests := []struct {
		name  string
		robot func(t *testing.T) *Robot
		send  func(t *testing.T, r *Robot) string
		bad   string // the failed check; "" for taken
		want  string // the answer's status and a piece of its body
	}{
		{"dingtalk signed", func(t *testing.T) *Robot { return DingTalk(t, token, secret) },
			func(t *testing.T, r *Robot) string { return post(t, dingURL(r, now, ""), dingBody) }, "", `200 {"errcode":0`},
		{"dingtalk wrong sign", func(t *testing.T) *Robot { return DingTalk(t, token, secret) },
			func(t *testing.T, r *Robot) string {
				return post(t, dingURL(r, now, url.QueryEscape(sign("other", "x"))), dingBody)
			}, "sign mismatch", `200 {"errcode":310000`},
		{"dingtalk sign not URL-encoded", func(t *testing.T) *Robot { return DingTalk(t, token, secret) },
			func(t *testing.T, r *Robot) string {
				// Raw base64 in the query (its '=' padding at least, a '+'
				// reads as a space): DingTalk wants it URL-encoded.
				ms := strconv.FormatInt(now.UnixMilli(), 10)
				return post(t, r.Webhook()+"&timestamp="+ms+"&sign="+sign(secret, ms+"\n"+secret), dingBody)
			}, "sign", `200 {"errcode":310000`},
		{"dingtalk stale", func(t *testing.T) *Robot { return DingTalk(t, token, secret) },
			func(t *testing.T, r *Robot) string { return post(t, dingURL(r, now.Add(-2*time.Hour), ""), dingBody) },
			"not within an hour", `200 {"errcode":310000`},
		{"dingtalk mention not in the text", func(t *testing.T) *Robot { return DingTalk(t, token, "") },
			func(t *testing.T, r *Robot) string {
				return post(t, r.Webhook(), strings.Replace(dingBody, " @13800000000", "", 1))
			}, "would not ring", `200 {"errcode":310000`},
		{"wecom markdown", func(t *testing.T) *Robot { return WeCom(t, key) },
			func(t *testing.T, r *Robot) string {
				return post(t, r.Webhook(), `{"msgtype":"markdown","markdown":{"content":"报警"}}`)
			}, "", `200 {"errcode":0`},
		{"wecom markdown too long", func(t *testing.T) *Robot { return WeCom(t, key) },
			func(t *testing.T, r *Robot) string {
				return post(t, r.Webhook(), `{"msgtype":"markdown","markdown":{"content":"`+strings.Repeat("x", 4097)+`"}}`)
			}, "markdown content of 4097 bytes", `200 {"errcode":40058`},
		{"wecom wrong key", func(t *testing.T) *Robot { return WeCom(t, key) },
			func(t *testing.T, r *Robot) string {
				return post(t, r.URL()+"/cgi-bin/webhook/send?key=other", `{"msgtype":"markdown","markdown":{"content":"报警"}}`)
			}, "POST", `200 {"errcode":40058`},
		{"feishu signed", func(t *testing.T) *Robot { return Feishu(t, hook, secret) },
			func(t *testing.T, r *Robot) string { return post(t, r.Webhook(), feishuBody(now, "")) }, "", `200 {"code":0`},
		{"feishu wrong sign", func(t *testing.T) *Robot { return Feishu(t, hook, secret) },
			func(t *testing.T, r *Robot) string { return post(t, r.Webhook(), feishuBody(now, sign("x", ""))) },
			"sign mismatch", `200 {"code":19021`},
		{"feishu stale", func(t *testing.T) *Robot { return Feishu(t, hook, secret) },
			func(t *testing.T, r *Robot) string {
				return post(t, r.Webhook(), feishuBody(now.Add(-2*time.Hour), ""))
			},
			"not within an hour", `200 {"code":19021`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.robot(t)
			answer := tc.send(t, r)
			if !strings.HasPrefix(answer, tc.want) {
				t.Errorf("answer %q, want %q…", answer, tc.want)
			}
			got, taken, bad := r.Counts()
			switch {
			case tc.bad == "" && (got != 1 || taken != 1 || len(bad) != 0):
				t.Errorf("got %d, taken %d, bad %v; want it taken", got, taken, bad)
			case tc.bad != "" && (got != 0 || len(bad) != 1 || !strings.Contains(bad[0], tc.bad)):
				t.Errorf("got %d, bad %v; want it refused for %q", got, bad, tc.bad)
			}
		})
	}
}

// Scripted answers go in order to the requests that pass the checks; the
// last repeats, and only a vendor's success counts as taken.
func TestScript(t *testing.T) {
	r := WeCom(t, "k")
	r.Script(Answer{Status: 200, Body: `{"errcode":45009,"errmsg":"api freq out of limit"}`}, Answer{Status: 502, Body: "bad gateway"}, WeComOK)
	const body = `{"msgtype":"text","text":{"content":"报警"}}`
	var answers []string
	for range 4 {
		answers = append(answers, post(t, r.Webhook(), body))
	}
	want := []string{`200 {"errcode":45009,"errmsg":"api freq out of limit"}`, "502 bad gateway", `200 {"errcode":0,"errmsg":"ok"}`, `200 {"errcode":0,"errmsg":"ok"}`}
	if strings.Join(answers, "|") != strings.Join(want, "|") {
		t.Errorf("answers %q, want %q", answers, want)
	}
	if got, taken, bad := r.Counts(); got != 4 || taken != 2 || len(bad) != 0 || len(r.Taken()) != 2 || string(r.LastTaken()) != body {
		t.Errorf("got %d, taken %d, bad %v", got, taken, bad)
	}
}
