package fakerobot

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Answer is what a robot says to one request.
type Answer struct {
	Status int
	Body   string
}

// The vendors' answers to a message taken.
var (
	DingTalkOK = Answer{200, `{"errcode":0,"errmsg":"ok"}`}
	WeComOK    = Answer{200, `{"errcode":0,"errmsg":"ok"}`}
	FeishuOK   = Answer{200, `{"code":0,"data":{},"msg":"success","Extra":null,"StatusCode":0,"StatusMessage":"success"}`}
)

// Robot is a receiver's server with scripted answers (the last repeats)
// that records what it took and what it refused.
type Robot struct {
	t       testing.TB
	srv     *httptest.Server
	path    string                                   // the webhook's path and query, after URL
	check   func(r *http.Request, body []byte) error // the vendor's own checks
	mu      sync.Mutex
	refuse  func(err error) Answer // its answer to a failed check
	answers []Answer
	got     [][]byte // every request body that passed the checks
	taken   [][]byte // those answered with success
	bad     []string // failed checks
	// ahead is how far the robot's clock is ahead of the machine's
	// (nanoseconds; negative: behind).
	ahead atomic.Int64
}

// New starts a receiver that checks each request with check: one that
// fails is answered refuse(err) (nil: 400) and counted bad; one that
// passes is answered ok, or what Script says.
func New(t testing.TB, check func(r *http.Request, body []byte) error, refuse func(error) Answer, ok Answer) *Robot {
	if refuse == nil {
		refuse = func(error) Answer { return Answer{Status: http.StatusBadRequest} }
	}
	r := &Robot{t: t, check: check, refuse: refuse, answers: []Answer{ok}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

// URL is the server's base URL.
func (r *Robot) URL() string { return r.srv.URL }

// Webhook is the URL the vendor gives a robot, credential included.
func (r *Robot) Webhook() string { return r.srv.URL + r.path }

// Close stops the server: nobody answers any more.
func (r *Robot) Close() { r.srv.Close() }

// Now is the robot's clock: the machine's, moved by SetClockAhead. It
// checks timestamps against it and tells it in the Date header of every
// answer, as the vendors' servers do.
func (r *Robot) Now() time.Time { return time.Now().Add(time.Duration(r.ahead.Load())) }

// SetClockAhead sets the robot's clock d ahead of the machine's (negative:
// behind).
func (r *Robot) SetClockAhead(d time.Duration) { r.ahead.Store(int64(d)) }

// Script sets the answers to the next requests that pass the checks; the
// last one repeats.
func (r *Robot) Script(as ...Answer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answers = as
}

// Refuse sets the answer to a request that fails the checks.
func (r *Robot) Refuse(f func(error) Answer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refuse = f
}

func (r *Robot) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	a := r.answers[0]
	if err := r.check(req, body); err != nil {
		r.bad = append(r.bad, err.Error())
		a = r.refuse(err)
	} else {
		r.got = append(r.got, body)
		if len(r.answers) > 1 {
			r.answers = r.answers[1:]
		}
		if a.Status == 200 && (strings.Contains(a.Body, `"errcode":0`) || strings.Contains(a.Body, `"code":0`)) {
			r.taken = append(r.taken, body)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Date", r.Now().UTC().Format(http.TimeFormat))
	w.WriteHeader(a.Status)
	io.WriteString(w, a.Body)
}

// Counts is how many requests passed the checks (got), how many of those
// were answered as taken, and why the others failed the checks.
func (r *Robot) Counts() (got, taken int, bad []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got), len(r.taken), append([]string(nil), r.bad...)
}

// Got is the bodies of the requests that passed the checks, in order.
func (r *Robot) Got() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.got...)
}

// Taken is the bodies of the messages taken, in order.
func (r *Robot) Taken() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.taken...)
}

// LastTaken is the body of the last message taken; the test fails when
// there is none.
func (r *Robot) LastTaken() []byte {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.taken) == 0 {
		r.t.Fatal("fakerobot: nothing taken")
	}
	return r.taken[len(r.taken)-1]
}

func hmacB64(key, msg string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(msg))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// fresh: timestamp ts (in units of unit) is within an hour of now.
func fresh(ts, unit int64, now time.Time) bool {
	d := now.Sub(time.Unix(0, ts*unit))
	return d < time.Hour && d > -time.Hour
}

// DingTalk is a DingTalk custom robot with access_token token; with a
// secret, it wants 加签. A request that fails its checks is answered
// 310000 (sign not match), as DingTalk does.
func DingTalk(t testing.TB, token, secret string) *Robot {
	var robot *Robot
	check := func(r *http.Request, body []byte) error {
		if r.Method != http.MethodPost || r.URL.Path != "/robot/send" {
			return fmt.Errorf("%s %s", r.Method, r.URL.Path)
		}
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			return fmt.Errorf("content type %q", r.Header.Get("Content-Type"))
		}
		q := r.URL.Query()
		if q.Get("access_token") != token {
			return fmt.Errorf("access_token")
		}
		if secret != "" {
			ts, err := strconv.ParseInt(q.Get("timestamp"), 10, 64)
			if err != nil || !fresh(ts, int64(time.Millisecond), robot.Now()) {
				return fmt.Errorf("timestamp %q not within an hour", q.Get("timestamp"))
			}
			want := hmacB64(secret, q.Get("timestamp")+"\n"+secret)
			if q.Get("sign") != want {
				return fmt.Errorf("sign mismatch")
			}
			if !strings.Contains(r.URL.RawQuery, "sign="+url.QueryEscape(want)) {
				return fmt.Errorf("sign not URL-encoded in %q", r.URL.RawQuery)
			}
		}
		var m struct {
			MsgType  string `json:"msgtype"`
			Markdown *struct {
				Title string `json:"title"`
				Text  string `json:"text"`
			} `json:"markdown"`
			At *struct {
				AtMobiles []string `json:"atMobiles"`
				IsAtAll   *bool    `json:"isAtAll"`
			} `json:"at"`
		}
		if err := json.Unmarshal(body, &m); err != nil {
			return fmt.Errorf("body: %v", err)
		}
		if m.MsgType != "markdown" || m.Markdown == nil || m.Markdown.Title == "" || m.Markdown.Text == "" {
			return fmt.Errorf("not a markdown message: %s", body)
		}
		if len(m.Markdown.Text) > 20000 {
			return fmt.Errorf("text of %d bytes", len(m.Markdown.Text))
		}
		if m.At != nil {
			for _, mob := range m.At.AtMobiles {
				if !strings.Contains(m.Markdown.Text, "@"+mob) {
					return fmt.Errorf("@%s not in the text: the mention would not ring", mob)
				}
			}
		}
		return nil
	}
	refuse := func(error) Answer {
		return Answer{200, `{"errcode":310000,"errmsg":"sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]"}`}
	}
	robot = New(t, check, refuse, DingTalkOK)
	robot.path = "/robot/send?access_token=" + token
	return robot
}

// WeCom is a WeCom group robot with webhook key key. A request that
// fails its checks is answered 40058.
func WeCom(t testing.TB, key string) *Robot {
	check := func(r *http.Request, body []byte) error {
		if r.Method != http.MethodPost || r.URL.Path != "/cgi-bin/webhook/send" || r.URL.Query().Get("key") != key {
			return fmt.Errorf("%s %s", r.Method, r.URL.Path)
		}
		var m struct {
			MsgType  string `json:"msgtype"`
			Markdown *struct {
				Content string `json:"content"`
			} `json:"markdown"`
			Text *struct {
				Content             string   `json:"content"`
				MentionedMobileList []string `json:"mentioned_mobile_list"`
			} `json:"text"`
		}
		if err := json.Unmarshal(body, &m); err != nil {
			return fmt.Errorf("body: %v", err)
		}
		switch {
		case m.MsgType == "markdown" && m.Markdown != nil:
			if c := m.Markdown.Content; c == "" || len(c) > 4096 {
				return fmt.Errorf("markdown content of %d bytes", len(c))
			}
		case m.MsgType == "text" && m.Text != nil:
			if c := m.Text.Content; c == "" || len(c) > 2048 {
				return fmt.Errorf("text content of %d bytes", len(c))
			}
		default:
			return fmt.Errorf("msgtype %q", m.MsgType)
		}
		return nil
	}
	refuse := func(error) Answer {
		return Answer{200, `{"errcode":40058,"errmsg":"markdown.content exceed max length"}`}
	}
	r := New(t, check, refuse, WeComOK)
	r.path = "/cgi-bin/webhook/send?key=" + key
	return r
}

// Feishu is a Feishu custom bot with webhook token hook; with a secret,
// it wants a signature. A request that fails its checks is answered
// 19021.
func Feishu(t testing.TB, hook, secret string) *Robot {
	var robot *Robot
	check := func(r *http.Request, body []byte) error {
		if r.Method != http.MethodPost || r.URL.Path != "/open-apis/bot/v2/hook/"+hook {
			return fmt.Errorf("%s %s", r.Method, r.URL.Path)
		}
		if len(body) > 20<<10 {
			return fmt.Errorf("body of %d bytes", len(body))
		}
		var m struct {
			Timestamp *string `json:"timestamp"`
			Sign      string  `json:"sign"`
			MsgType   string  `json:"msg_type"`
			Card      *struct {
				Header struct {
					Title struct {
						Content string `json:"content"`
					} `json:"title"`
				} `json:"header"`
				Elements []json.RawMessage `json:"elements"`
			} `json:"card"`
			Content *struct {
				Text string `json:"text"`
			} `json:"content"`
		}
		if err := json.Unmarshal(body, &m); err != nil {
			return fmt.Errorf("body: %v", err)
		}
		if secret != "" {
			if m.Timestamp == nil {
				return fmt.Errorf("no timestamp (a string)")
			}
			ts, err := strconv.ParseInt(*m.Timestamp, 10, 64)
			if err != nil || !fresh(ts, int64(time.Second), robot.Now()) {
				return fmt.Errorf("timestamp %q not within an hour", *m.Timestamp)
			}
			if m.Sign != hmacB64(*m.Timestamp+"\n"+secret, "") {
				return fmt.Errorf("sign mismatch")
			}
		}
		switch {
		case m.MsgType == "interactive" && m.Card != nil:
			if m.Card.Header.Title.Content == "" || len(m.Card.Elements) == 0 {
				return fmt.Errorf("empty card")
			}
		case m.MsgType == "text" && m.Content != nil && m.Content.Text != "":
		default:
			return fmt.Errorf("msg_type %q", m.MsgType)
		}
		return nil
	}
	refuse := func(error) Answer {
		return Answer{200, `{"code":19021,"data":{},"msg":"sign match fail or timestamp is not within one hour from current time"}`}
	}
	robot = New(t, check, refuse, FeishuOK)
	robot.path = "/open-apis/bot/v2/hook/" + hook
	return robot
}
