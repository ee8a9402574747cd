package receivers

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/hazardgw/hazardgw/alerting"
)

// Feishu codes that mean "later": 11232 the bot's frequency limit (100 a
// minute, 5 a second), 99991400 the platform's rate limit (sometimes with
// HTTP 400).
var feishuTemporary = map[int]bool{11232: true, 99991400: true}

// feishuClock: 19021 is Feishu's answer to a timestamp more than an hour
// from its clock as well as to a bad signature.
var feishuClock = map[int]bool{19021: true}

// feishu is a Feishu / Lark custom bot (自定义机器人): an interactive card
// (or text), with timestamp and sign in the body when it has a secret.
type feishu struct {
	url   string
	key   string
	card  bool
	atAll bool
	site  Site
}

// FeishuSign is the custom bot's signature of timestamp (Unix seconds):
// base64(HMAC-SHA256(key timestamp + "\n" + secret, empty message)).
func FeishuSign(secret string, timestamp int64) string {
	mac := hmac.New(sha256.New, []byte(strconv.FormatInt(timestamp, 10)+"\n"+secret))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// feishuTemplates colours a card's header by severity.
var feishuTemplates = map[int]string{4: "red", 3: "orange", 2: "yellow", 1: "blue", 0: "grey"}

func (f *feishu) mention(urgent bool) string {
	switch {
	case !urgent || !f.atAll:
		return ""
	case f.card:
		return "<at id=all></at>"
	}
	return `<at user_id="all">所有人</at>`
}

func (f *feishu) prepare(ms []alerting.Message) (signer, error) {
	// The message without the signature, as JSON fields to complete.
	var msg map[string]any
	if f.card {
		r := render(f.site, feishuMarkdown, ms, f.mention)
		msg = map[string]any{
			"msg_type": "interactive",
			"card": map[string]any{
				"config": map[string]any{"wide_screen_mode": true},
				"header": map[string]any{
					"template": feishuTemplates[r.rank],
					"title":    map[string]any{"tag": "plain_text", "content": r.title},
				},
				"elements": []any{map[string]any{"tag": "div", "text": map[string]any{"tag": "lark_md", "content": r.text}}},
			},
		}
	} else {
		r := render(f.site, feishuText, ms, f.mention)
		text := r.title + "\n" + r.text
		msg = map[string]any{"msg_type": "text", "content": map[string]any{"text": text}}
	}
	if f.key == "" {
		body, err := marshal(msg)
		if err != nil {
			return nil, err
		}
		return func(time.Time) (attempt, error) {
			return attempt{method: http.MethodPost, url: f.url, header: jsonHeader(), body: body}, nil
		}, nil
	}
	return func(now time.Time) (attempt, error) {
		ts := now.Unix()
		msg["timestamp"] = strconv.FormatInt(ts, 10)
		msg["sign"] = FeishuSign(f.key, ts)
		body, err := marshal(msg)
		return attempt{method: http.MethodPost, url: f.url, header: jsonHeader(), body: body, timed: true}, err
	}, nil
}

// verdict: code 0 (or the legacy StatusCode 0) is delivery; the rate
// limits are retried; any other code (19021 signature or timestamp,
// 19024 keyword, 9499 bad request…) is final.
func (f *feishu) verdict(status int, body []byte) error {
	var a struct {
		Code       *int   `json:"code"`
		Msg        string `json:"msg"`
		StatusCode *int   `json:"StatusCode"`
	}
	if json.Unmarshal(body, &a) != nil || a.Code == nil && a.StatusCode == nil {
		return &RefusedError{Status: status, Msg: "unexpected answer"}
	}
	code := 0
	switch {
	case a.Code != nil:
		code = *a.Code
	case a.StatusCode != nil:
		code = *a.StatusCode
	}
	if code == 0 && status/100 == 2 {
		return nil
	}
	return &RefusedError{Status: status, Code: code, Msg: clip(a.Msg, 200), Temporary: feishuTemporary[code], Clock: feishuClock[code]}
}

// marshal encodes v as JSON without HTML escaping (the vendors show < and
// & as they are).
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}
