package receivers

// Fake vendor servers. Each verifies a request the way the vendor's
// documentation describes it, with its own code (not the sender's):
//
//   - DingTalk custom robot: POST to /robot/send?access_token=…; with 加签,
//     query timestamp (ms, within one hour of now) and sign, the
//     URL-encoded base64 of HMAC-SHA256 with the secret as key over
//     timestamp+"\n"+secret; body {"msgtype":"markdown","markdown":
//     {"title","text"},"at":{"atMobiles","isAtAll"}}, every @-mentioned
//     mobile also written "@mobile" in the text. Answers errcode/errmsg.
//   - WeCom group robot: POST to /cgi-bin/webhook/send?key=…; markdown
//     content at most 4096 bytes, text content at most 2048 bytes with
//     mentioned_mobile_list. Answers errcode/errmsg.
//   - Feishu custom bot: POST to /open-apis/bot/v2/hook/<token>; body at
//     most 20 KB with "timestamp" (seconds, a string, within one hour) and
//     "sign" = base64(HMAC-SHA256 keyed with timestamp+"\n"+secret over
//     nothing); msg_type interactive with a card (header title, elements)
//     or text. Answers code/msg.

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
	"testing"
	"time"
)

// answer is what a fake says to one request.
type answer struct {
	status int
	body   string
}

// fake is a vendor server with scripted answers (the last repeats) that
// records what it took and what it refused.
type fake struct {
	t       testing.TB
	srv     *httptest.Server
	check   func(r *http.Request, body []byte) error // the vendor's own checks
	refuse  func(err error) answer                   // its answer to a failed check
	mu      sync.Mutex
	answers []answer
	got     [][]byte // every request body that passed the checks
	taken   [][]byte // those answered with success
	bad     []string // failed checks
}

func newFake(t testing.TB, check func(*http.Request, []byte) error, refuse func(error) answer, ok answer) *fake {
	f := &fake{t: t, check: check, refuse: refuse, answers: []answer{ok}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// script sets the answers to the next requests; the last one repeats.
func (f *fake) script(as ...answer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers = as
}

func (f *fake) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.answers[0]
	if err := f.check(r, body); err != nil {
		f.bad = append(f.bad, err.Error())
		a = f.refuse(err)
	} else {
		f.got = append(f.got, body)
		if len(f.answers) > 1 {
			f.answers = f.answers[1:]
		}
		if a.status == 200 && (strings.Contains(a.body, `"errcode":0`) || strings.Contains(a.body, `"code":0`)) {
			f.taken = append(f.taken, body)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	io.WriteString(w, a.body)
}

func (f *fake) counts() (got, taken int, bad []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.got), len(f.taken), append([]string(nil), f.bad...)
}

func (f *fake) lastTaken() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.taken) == 0 {
		f.t.Fatal("nothing taken")
	}
	return f.taken[len(f.taken)-1]
}

func hmacB64(key, msg string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(msg))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func fresh(ts, unit int64, now time.Time) bool {
	d := now.Sub(time.Unix(0, ts*unit))
	return d < time.Hour && d > -time.Hour
}

const (
	dingToken  = "d1ngt0kenSECRETVALUE0123456789abcdef"
	dingSecret = "SECf00dfeedc0ffee1234567890abcdefSECRET"
	weComKey   = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
	feishuHook = "5e3d587e-d78e-4a07-bd07-265f269f86fd"
	feishuKey  = "nIMtb7r3N9pkXyXdtAbx6e"
)

func dingOK() answer { return answer{200, `{"errcode":0,"errmsg":"ok"}`} }

// fakeDingTalk checks token, 加签 (when secret is set) and body shape.
func fakeDingTalk(t testing.TB, secret string) *fake {
	check := func(r *http.Request, body []byte) error {
		if r.Method != http.MethodPost || r.URL.Path != "/robot/send" {
			return fmt.Errorf("%s %s", r.Method, r.URL.Path)
		}
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			return fmt.Errorf("content type %q", r.Header.Get("Content-Type"))
		}
		q := r.URL.Query()
		if q.Get("access_token") != dingToken {
			return fmt.Errorf("access_token")
		}
		if secret != "" {
			ts, err := strconv.ParseInt(q.Get("timestamp"), 10, 64)
			if err != nil || !fresh(ts, int64(time.Millisecond), time.Now()) {
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
	refuse := func(error) answer {
		return answer{200, `{"errcode":310000,"errmsg":"sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]"}`}
	}
	return newFake(t, check, refuse, dingOK())
}

func (f *fake) dingURL() string { return f.srv.URL + "/robot/send?access_token=" + dingToken }

func weComOK() answer { return answer{200, `{"errcode":0,"errmsg":"ok"}`} }

func fakeWeCom(t testing.TB) *fake {
	check := func(r *http.Request, body []byte) error {
		if r.Method != http.MethodPost || r.URL.Path != "/cgi-bin/webhook/send" || r.URL.Query().Get("key") != weComKey {
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
	refuse := func(error) answer {
		return answer{200, `{"errcode":40058,"errmsg":"markdown.content exceed max length"}`}
	}
	return newFake(t, check, refuse, weComOK())
}

func (f *fake) weComURL() string { return f.srv.URL + "/cgi-bin/webhook/send?key=" + weComKey }

func feishuOK() answer {
	return answer{200, `{"code":0,"data":{},"msg":"success","Extra":null,"StatusCode":0,"StatusMessage":"success"}`}
}

func fakeFeishu(t testing.TB, secret string) *fake {
	check := func(r *http.Request, body []byte) error {
		if r.Method != http.MethodPost || r.URL.Path != "/open-apis/bot/v2/hook/"+feishuHook {
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
			if err != nil || !fresh(ts, int64(time.Second), time.Now()) {
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
	refuse := func(error) answer {
		return answer{200, `{"code":19021,"data":{},"msg":"sign match fail or timestamp is not within one hour from current time"}`}
	}
	return newFake(t, check, refuse, feishuOK())
}

func (f *fake) feishuURL() string { return f.srv.URL + "/open-apis/bot/v2/hook/" + feishuHook }
