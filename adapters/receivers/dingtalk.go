package receivers

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hazardgw/hazardgw/alerting"
)

// DingTalk error codes that mean "later", not "never": 130101 sending too
// fast (20 messages a minute per robot, then a 10-minute pause), 90030 the
// robot's webhook quota, -1 the platform busy.
var dingTalkTemporary = map[int]bool{130101: true, 90030: true, -1: true}

// dingTalkClock: 310000 is DingTalk's answer to a timestamp more than an
// hour from its clock as well as to a bad signature, keyword or IP.
var dingTalkClock = map[int]bool{310000: true}

// dingTalk is a DingTalk custom robot (自定义机器人): a markdown message to
// the robot's webhook URL, signed (加签) when it has a secret.
type dingTalk struct {
	base    url.URL
	secret  string
	mobiles []string
	atAll   bool
	site    Site
}

// DingTalkSign is the robot's 加签 signature of timestamp (Unix
// milliseconds): base64(HMAC-SHA256(key secret, timestamp + "\n" +
// secret)). The request carries it URL-encoded in the query as `sign`.
func DingTalkSign(secret string, timestampMs int64) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(timestampMs, 10) + "\n" + secret))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

type dingTalkBody struct {
	MsgType  string `json:"msgtype"`
	Markdown struct {
		Title string `json:"title"`
		Text  string `json:"text"`
	} `json:"markdown"`
	At struct {
		AtMobiles []string `json:"atMobiles"`
		IsAtAll   bool     `json:"isAtAll"`
	} `json:"at"`
}

// mention writes the @mobiles DingTalk needs in the text for an
// at.atMobiles mention to ring.
func (d *dingTalk) mention(urgent bool) string {
	if !urgent || len(d.mobiles) == 0 {
		return ""
	}
	return "@" + strings.Join(d.mobiles, " @")
}

func (d *dingTalk) prepare(ms []alerting.Message) (signer, error) {
	r := render(d.site, dingTalkMarkdown, ms, d.mention)
	var b dingTalkBody
	b.MsgType = "markdown"
	b.Markdown.Title, b.Markdown.Text = r.title, r.text
	b.At.AtMobiles = []string{}
	if r.urgent {
		b.At.AtMobiles = append(b.At.AtMobiles, d.mobiles...)
		b.At.IsAtAll = d.atAll
	}
	body, err := marshal(b)
	if err != nil {
		return nil, err
	}
	return func(now time.Time) (attempt, error) {
		u := d.base
		if d.secret != "" {
			ts := now.UnixMilli()
			q := u.Query()
			q.Set("timestamp", strconv.FormatInt(ts, 10))
			q.Set("sign", DingTalkSign(d.secret, ts))
			u.RawQuery = q.Encode()
		}
		return attempt{method: http.MethodPost, url: u.String(), header: jsonHeader(), body: body, timed: d.secret != ""}, nil
	}, nil
}

// verdict: HTTP 200 with errcode 0 is delivery; a temporary errcode is
// retried; any other errcode (310000: signature, keyword or IP check
// failed; 300001: bad token…) is final.
func (d *dingTalk) verdict(status int, body []byte) error {
	return errcodeVerdict(status, body, dingTalkTemporary, dingTalkClock)
}

// errcodeVerdict reads the answer of a robot that reports in
// {"errcode": n, "errmsg": "…"} (DingTalk, WeCom): HTTP 200 with errcode 0
// is delivery; an errcode in temporary is a refusal to retry; any other
// errcode, another status or another body is a final refusal, which may
// be about the timestamp when its errcode is in clock.
func errcodeVerdict(status int, body []byte, temporary, clock map[int]bool) error {
	var a struct {
		Code *int   `json:"errcode"`
		Msg  string `json:"errmsg"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &a) != nil || a.Code == nil {
		return &RefusedError{Status: status, Msg: "unexpected answer"}
	}
	if *a.Code == 0 {
		return nil
	}
	return &RefusedError{Status: status, Code: *a.Code, Msg: clip(a.Msg, 200), Temporary: temporary[*a.Code], Clock: clock[*a.Code]}
}

func jsonHeader() http.Header {
	return http.Header{"Content-Type": {"application/json; charset=utf-8"}}
}
