package receivers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/alerting"
	"github.com/hazardgw/hazardgw/gateway"
	"github.com/hazardgw/hazardgw/internal/fakerobot"
)

var shanghai = func() *time.Location {
	l, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return l
}()

var testSite = Site{Name: "某石化储罐区", Language: alerting.LangZH, Location: shanghai}

var fastRetry = Options{MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}

// notification builds a notification the way the engine writes it.
func notification(t testing.TB, typ string, n int, a alerting.Alert) alerting.Message {
	body, err := json.Marshal(map[string]any{"type": typ, "timestamp": a.ChangedAt, "data": a})
	if err != nil {
		t.Fatal(err)
	}
	return alerting.Message{ID: fmt.Sprintf("msg_%s_%d", a.ID, n), Type: typ, AlertID: a.ID, Body: body}
}

func gasAlert(id, sev string, value float64) alerting.Alert {
	limit := 50.0
	at := time.Date(2026, 11, 22, 9, 0, 1, 0, time.UTC)
	return alerting.Alert{ID: id, Key: "combustible-gas/GD-101/ch4", Rule: "combustible-gas", Status: alerting.StatusFiring,
		State: alerting.StateActiveUnacked, Level: "high-high", Severity: sev, Site: "qz-petro-01", Device: "GD-101",
		Label: "1号储罐区东侧可燃气体探测器", Kind: "gas_detector", Point: "ch4", Value: value, Unit: "%LEL", Threshold: &limit,
		StartedAt: at, ChangedAt: at,
		Message: "【某石化储罐区】立即疏散并关闭进料阀：1号储罐区东侧可燃气体探测器 甲烷 " + num(value) + " %LEL，超过二级报警值 50 %LEL"}
}

func newChat(t *testing.T, cfg alerting.NotifyConfig) Chat {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "duty-group"
	}
	n, err := New(cfg, testSite, fastRetry, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, ok := n.(Chat)
	if !ok {
		t.Fatalf("%T is not a Chat", n)
	}
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func dingText(t *testing.T, body []byte) (title, text string, mobiles []string) {
	var m dingTalkBody
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	return m.Markdown.Title, m.Markdown.Text, m.At.AtMobiles
}

func TestDingTalkSignedMarkdown(t *testing.T) {
	f := fakerobot.DingTalk(t, dingToken, dingSecret)
	c := newChat(t, alerting.NotifyConfig{Type: "dingtalk", URL: f.Webhook(), Secret: dingSecret, Mobiles: []string{"13800000000"}})
	if err := c.Notify(ctxT(t), notification(t, alerting.TypeFiring, 1, gasAlert("a1", "red", 57.3))); err != nil {
		t.Fatal(err)
	}
	got, taken, bad := f.Counts()
	if got != 1 || taken != 1 || len(bad) > 0 {
		t.Fatalf("got %d taken %d bad %v", got, taken, bad)
	}
	title, text, mobiles := dingText(t, f.LastTaken())
	for _, want := range []string{"红色 I级", "告警", "1号储罐区东侧可燃气体探测器", "某石化储罐区"} {
		if !strings.Contains(title, want) {
			t.Errorf("title %q lacks %q", title, want)
		}
	}
	// Local time: 09:00:01 UTC is 17:00:01 in Shanghai.
	for _, want := range []string{"### 🔴 红色 I级 告警", "立即疏散并关闭进料阀", "当前 57.3 %LEL，限值 50 %LEL", "2026-11-22 17:00:01", "@13800000000"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "【某石化储罐区】立即") {
		t.Errorf("site repeated in the message:\n%s", text)
	}
	if len(mobiles) != 1 || mobiles[0] != "13800000000" {
		t.Errorf("atMobiles %v", mobiles)
	}
}

// A resolved notification calls for nobody: no mention.
func TestDingTalkResolvedDoesNotMention(t *testing.T) {
	f := fakerobot.DingTalk(t, dingToken, "")
	c := newChat(t, alerting.NotifyConfig{Type: "dingtalk", URL: f.Webhook(), Mobiles: []string{"13800000000"}, AtAll: true})
	a := gasAlert("a1", "red", 12)
	a.Status = alerting.StatusResolved
	if err := c.Notify(ctxT(t), notification(t, alerting.TypeResolved, 2, a)); err != nil {
		t.Fatal(err)
	}
	var m dingTalkBody
	json.Unmarshal(f.LastTaken(), &m)
	if len(m.At.AtMobiles) != 0 || m.At.IsAtAll || strings.Contains(m.Markdown.Text, "@138") {
		t.Errorf("resolved mentions: %+v", m)
	}
	if !strings.Contains(m.Markdown.Text, "已恢复") {
		t.Errorf("text %q", m.Markdown.Text)
	}
}

func TestRetryAndRefusal(t *testing.T) {
	msg := notification(t, alerting.TypeFiring, 1, gasAlert("a1", "orange", 57.3))
	cases := []struct {
		name      string
		fake      func(t *testing.T) (*fakerobot.Robot, alerting.NotifyConfig)
		answers   []fakerobot.Answer
		wantGot   int
		permanent bool
	}{
		{"dingtalk 130101 then ok", func(t *testing.T) (*fakerobot.Robot, alerting.NotifyConfig) {
			f := fakerobot.DingTalk(t, dingToken, dingSecret)
			return f, alerting.NotifyConfig{Type: "dingtalk", URL: f.Webhook(), Secret: dingSecret}
		}, []fakerobot.Answer{{Status: 200, Body: `{"errcode":130101,"errmsg":"send too fast, exceed 20 times per minute"}`}, fakerobot.DingTalkOK}, 2, false},
		{"dingtalk 502 then ok", func(t *testing.T) (*fakerobot.Robot, alerting.NotifyConfig) {
			f := fakerobot.DingTalk(t, dingToken, dingSecret)
			return f, alerting.NotifyConfig{Type: "dingtalk", URL: f.Webhook(), Secret: dingSecret}
		}, []fakerobot.Answer{{Status: 502, Body: "bad gateway"}, fakerobot.DingTalkOK}, 2, false},
		{"dingtalk keyword refused", func(t *testing.T) (*fakerobot.Robot, alerting.NotifyConfig) {
			f := fakerobot.DingTalk(t, dingToken, "")
			return f, alerting.NotifyConfig{Type: "dingtalk", URL: f.Webhook()}
		}, []fakerobot.Answer{{Status: 200, Body: `{"errcode":310000,"errmsg":"keywords not in content"}`}}, 1, true},
		{"wecom 45009 then ok", func(t *testing.T) (*fakerobot.Robot, alerting.NotifyConfig) {
			f := fakerobot.WeCom(t, weComKey)
			return f, alerting.NotifyConfig{Type: "wecom", URL: f.Webhook()}
		}, []fakerobot.Answer{{Status: 200, Body: `{"errcode":45009,"errmsg":"api freq out of limit"}`}, fakerobot.WeComOK}, 2, false},
		{"wecom invalid key", func(t *testing.T) (*fakerobot.Robot, alerting.NotifyConfig) {
			f := fakerobot.WeCom(t, weComKey)
			return f, alerting.NotifyConfig{Type: "wecom", URL: f.Webhook()}
		}, []fakerobot.Answer{{Status: 200, Body: `{"errcode":93000,"errmsg":"invalid webhook url"}`}}, 1, true},
		{"feishu 11232 then ok", func(t *testing.T) (*fakerobot.Robot, alerting.NotifyConfig) {
			f := fakerobot.Feishu(t, feishuHook, feishuKey)
			return f, alerting.NotifyConfig{Type: "feishu", URL: f.Webhook(), Secret: feishuKey}
		}, []fakerobot.Answer{{Status: 200, Body: `{"code":11232,"msg":"frequency limited"}`}, fakerobot.FeishuOK}, 2, false},
		{"feishu 429 then ok", func(t *testing.T) (*fakerobot.Robot, alerting.NotifyConfig) {
			f := fakerobot.Feishu(t, feishuHook, feishuKey)
			return f, alerting.NotifyConfig{Type: "feishu", URL: f.Webhook(), Secret: feishuKey}
		}, []fakerobot.Answer{{Status: 429, Body: `{"code":99991400,"msg":"request trigger frequency limit"}`}, fakerobot.FeishuOK}, 2, false},
		{"feishu bad request", func(t *testing.T) (*fakerobot.Robot, alerting.NotifyConfig) {
			f := fakerobot.Feishu(t, feishuHook, feishuKey)
			return f, alerting.NotifyConfig{Type: "feishu", URL: f.Webhook(), Secret: feishuKey}
		}, []fakerobot.Answer{{Status: 400, Body: `{"code":9499,"msg":"Bad Request","data":{}}`}}, 1, true},
		{"feishu legacy StatusCode", func(t *testing.T) (*fakerobot.Robot, alerting.NotifyConfig) {
			f := fakerobot.Feishu(t, feishuHook, "")
			return f, alerting.NotifyConfig{Type: "feishu", URL: f.Webhook()}
		}, []fakerobot.Answer{{Status: 200, Body: `{"Extra":null,"StatusCode":0,"StatusMessage":"success","code":0}`}}, 1, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, cfg := tc.fake(t)
			f.Script(tc.answers...)
			err := newChat(t, cfg).Notify(ctxT(t), msg)
			got, taken, bad := f.Counts()
			if len(bad) > 0 {
				t.Fatalf("the vendor's checks failed: %v", bad)
			}
			if got != tc.wantGot {
				t.Errorf("%d requests, want %d", got, tc.wantGot)
			}
			switch {
			case tc.permanent:
				if !gateway.IsPermanent(err) {
					t.Fatalf("err %v, want permanent", err)
				}
				if taken != 0 {
					t.Errorf("taken %d", taken)
				}
				for _, s := range []string{dingToken, dingSecret, weComKey, feishuHook, feishuKey} {
					if strings.Contains(err.Error(), s) {
						t.Errorf("error text has a credential: %v", err)
					}
				}
			case err != nil:
				t.Fatal(err)
			case taken != 1:
				t.Errorf("taken %d times, want once", taken)
			}
		})
	}
}

// A wrong secret is refused by the vendor's own check, for good.
func TestWrongSecretIsFinal(t *testing.T) {
	f := fakerobot.DingTalk(t, dingToken, dingSecret)
	c := newChat(t, alerting.NotifyConfig{Type: "dingtalk", URL: f.Webhook(), Secret: "SECsomethingelse0123456789"})
	err := c.Notify(ctxT(t), notification(t, alerting.TypeFiring, 1, gasAlert("a1", "red", 60)))
	if !gateway.IsPermanent(err) {
		t.Fatalf("err %v", err)
	}
	if _, _, bad := f.Counts(); len(bad) != 1 || bad[0] != "sign mismatch" {
		t.Fatalf("bad %v", bad)
	}
	f2 := fakerobot.Feishu(t, feishuHook, feishuKey)
	c2 := newChat(t, alerting.NotifyConfig{Type: "feishu", URL: f2.Webhook(), Secret: "other"})
	if err := c2.Notify(ctxT(t), notification(t, alerting.TypeFiring, 1, gasAlert("a1", "red", 60))); !gateway.IsPermanent(err) || !strings.Contains(err.Error(), "19021") {
		t.Fatalf("err %v", err)
	}
}

// Signatures are made per attempt: a retry an hour later is fresh.
func TestResignEveryAttempt(t *testing.T) {
	f := fakerobot.DingTalk(t, dingToken, dingSecret)
	var calls int
	opts := fastRetry
	opts.Now = func() time.Time {
		calls++
		if calls == 1 {
			return time.Now().Add(-2 * time.Hour) // the first attempt's signature is stale
		}
		return time.Now()
	}
	n, err := New(alerting.NotifyConfig{Name: "g", Type: "dingtalk", URL: f.Webhook(), Secret: dingSecret}, testSite, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The stale first attempt gets 310000 (final), so answer it 130101 first.
	f.Refuse(func(error) fakerobot.Answer {
		return fakerobot.Answer{Status: 200, Body: `{"errcode":130101,"errmsg":"send too fast"}`}
	})
	if err := n.Notify(ctxT(t), notification(t, alerting.TypeFiring, 1, gasAlert("a1", "red", 60))); err != nil {
		t.Fatal(err)
	}
	if got, taken, bad := f.Counts(); got != 1 || taken != 1 || len(bad) != 1 {
		t.Fatalf("got %d taken %d bad %v", got, taken, bad)
	}
}

func TestNoCredentialsInErrors(t *testing.T) {
	f := fakerobot.DingTalk(t, dingToken, dingSecret)
	url := f.Webhook()
	f.Close() // nobody answers
	c := newChat(t, alerting.NotifyConfig{Type: "dingtalk", URL: url, Secret: dingSecret})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := c.Notify(ctx, notification(t, alerting.TypeFiring, 1, gasAlert("a1", "red", 60)))
	if err == nil || gateway.IsPermanent(err) {
		t.Fatalf("err %v", err)
	}
	for _, s := range []string{dingToken, dingSecret, "access_token"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error has %q: %v", s, err)
		}
	}
	msg := Secrets(alerting.NotifyConfig{Type: "feishu", URL: "https://open.feishu.cn/open-apis/bot/v2/hook/" + feishuHook, Secret: feishuKey})
	if strings.Join(msg, " ") != feishuKey+" "+feishuHook {
		t.Errorf("feishu secrets %v", msg)
	}
}

// Logs (down to Debug, retryablehttp's included) never carry the
// robot's token or secret, whatever the receiver answers.
func TestNoCredentialsInLogs(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f := fakerobot.DingTalk(t, dingToken, dingSecret)
	f.Script(fakerobot.Answer{Status: 502, Body: "bad gateway"}, fakerobot.Answer{Status: 200, Body: `{"errcode":130101,"errmsg":"too fast"}`},
		fakerobot.Answer{Status: 200, Body: `{"errcode":310000,"errmsg":"sign not match ` + dingToken + `"}`})
	n, err := New(alerting.NotifyConfig{Name: "g", Type: "dingtalk", URL: f.Webhook(), Secret: dingSecret}, testSite, fastRetry, log)
	if err != nil {
		t.Fatal(err)
	}
	err = n.Notify(ctxT(t), notification(t, alerting.TypeFiring, 1, gasAlert("a1", "red", 60)))
	if !gateway.IsPermanent(err) {
		t.Fatalf("err %v", err)
	}
	if !strings.Contains(buf.String(), "retrying until it does") {
		t.Fatalf("no warning logged:\n%s", buf.String())
	}
	for _, s := range []string{dingToken, dingSecret, url.QueryEscape(dingSecret)} {
		if strings.Contains(buf.String(), s) || strings.Contains(err.Error(), s) {
			t.Errorf("a credential in the log or error:\n%s\n%v", buf.String(), err)
		}
	}
}

// A Feishu batch stays within the 20 KB body limit (the fake checks it).
func TestFeishuBigBatch(t *testing.T) {
	f := fakerobot.Feishu(t, feishuHook, feishuKey)
	c := newChat(t, alerting.NotifyConfig{Type: "feishu", URL: f.Webhook(), Secret: feishuKey})
	var ms []alerting.Message
	for i := range 300 {
		a := gasAlert(fmt.Sprintf("a%03d", i), "red", float64(i))
		a.Message = strings.Repeat(`"引号"\`, 40)
		ms = append(ms, notification(t, alerting.TypeFiring, 1, a))
	}
	if err := c.NotifyBatch(ctxT(t), ms); err != nil {
		t.Fatal(err)
	}
	if _, taken, bad := f.Counts(); taken != 1 || len(bad) > 0 {
		t.Fatalf("taken %d bad %v", taken, bad)
	}
	if !strings.Contains(string(f.LastTaken()), "…另有 ") {
		t.Error("no count of what was cut")
	}
}

func TestWeComMarkdownAndMentions(t *testing.T) {
	f := fakerobot.WeCom(t, weComKey)
	c := newChat(t, alerting.NotifyConfig{Type: "wecom", URL: f.Webhook()})
	if err := c.Notify(ctxT(t), notification(t, alerting.TypeFiring, 1, gasAlert("a1", "red", 57.3))); err != nil {
		t.Fatal(err)
	}
	var m weComBody
	json.Unmarshal(f.LastTaken(), &m)
	if m.MsgType != "markdown" || !strings.Contains(m.Markdown.Content, `<font color="warning">🔴 红色 I级 告警</font>`) {
		t.Errorf("%s", f.LastTaken())
	}
	c = newChat(t, alerting.NotifyConfig{Type: "wecom", URL: f.Webhook(), Mobiles: []string{"13800001111"}, AtAll: true})
	if err := c.Notify(ctxT(t), notification(t, alerting.TypeReminder, 2, gasAlert("a1", "red", 57.3))); err != nil {
		t.Fatal(err)
	}
	m = weComBody{}
	json.Unmarshal(f.LastTaken(), &m)
	if m.MsgType != "text" || strings.Join(m.Text.MentionedMobileList, ",") != "13800001111,@all" || !strings.Contains(m.Text.Content, "未确认提醒") {
		t.Errorf("%s", f.LastTaken())
	}
	// An escalation calls for someone too.
	if err := c.Notify(ctxT(t), notification(t, alerting.TypeEscalated, 3, gasAlert("a1", "red", 57.3))); err != nil {
		t.Fatal(err)
	}
	m = weComBody{}
	json.Unmarshal(f.LastTaken(), &m)
	if strings.Join(m.Text.MentionedMobileList, ",") != "13800001111,@all" || !strings.Contains(m.Text.Content, "升级通知") {
		t.Errorf("%s", f.LastTaken())
	}
}

func TestFeishuCardAndText(t *testing.T) {
	f := fakerobot.Feishu(t, feishuHook, feishuKey)
	c := newChat(t, alerting.NotifyConfig{Type: "feishu", URL: f.Webhook(), Secret: feishuKey, AtAll: true})
	if err := c.Notify(ctxT(t), notification(t, alerting.TypeFiring, 1, gasAlert("a1", "orange", 57.3))); err != nil {
		t.Fatal(err)
	}
	body := string(f.LastTaken())
	for _, want := range []string{`"template":"orange"`, `橙色 II级`, `<at id=all></at>`, `"tag":"lark_md"`} {
		if !strings.Contains(body, want) {
			t.Errorf("card lacks %s: %s", want, body)
		}
	}
	no := false
	c = newChat(t, alerting.NotifyConfig{Type: "feishu", URL: f.Webhook(), Secret: feishuKey, Card: &no})
	if err := c.Notify(ctxT(t), notification(t, alerting.TypeFiring, 1, gasAlert("a1", "orange", 57.3))); err != nil {
		t.Fatal(err)
	}
	if body := string(f.LastTaken()); !strings.Contains(body, `"msg_type":"text"`) || !strings.Contains(body, "橙色 II级") {
		t.Errorf("text: %s", body)
	}
}

// Several notifications go as one message, most severe first, one alert's
// in order; what does not fit is counted, never silently dropped.
func TestBatch(t *testing.T) {
	f := fakerobot.DingTalk(t, dingToken, dingSecret)
	c := newChat(t, alerting.NotifyConfig{Type: "dingtalk", URL: f.Webhook(), Secret: dingSecret})
	yellow := gasAlert("y1", "yellow", 30)
	red := gasAlert("r1", "red", 70)
	red.Label = "2号罐"
	changed := yellow
	changed.Severity = "orange"
	ms := []alerting.Message{
		notification(t, alerting.TypeFiring, 1, yellow),
		notification(t, alerting.TypeFiring, 1, red),
		notification(t, alerting.TypeChanged, 2, changed),
	}
	if err := c.NotifyBatch(ctxT(t), ms); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := f.Counts(); got != 1 {
		t.Fatalf("%d requests for one batch", got)
	}
	title, text, _ := dingText(t, f.LastTaken())
	if !strings.Contains(title, "3 条告警通知") || !strings.Contains(title, "红色 I级") {
		t.Errorf("title %q", title)
	}
	iRed, iYellow, iChanged := strings.Index(text, "🔴 红色 I级 告警"), strings.Index(text, "🟡 黄色 III级 告警"), strings.Index(text, "🟠 橙色 II级 告警变化")
	if iRed < 0 || iYellow < 0 || iChanged < 0 || !(iRed < iYellow && iYellow < iChanged) {
		t.Errorf("order red %d, yellow %d, its change %d:\n%s", iRed, iYellow, iChanged, text)
	}
}

func TestBatchBoundedAndCounted(t *testing.T) {
	f := fakerobot.WeCom(t, weComKey)
	c := newChat(t, alerting.NotifyConfig{Type: "wecom", URL: f.Webhook()})
	var ms []alerting.Message
	for i := range 200 {
		ms = append(ms, notification(t, alerting.TypeFiring, 1, gasAlert(fmt.Sprintf("a%03d", i), "yellow", float64(i))))
	}
	if err := c.NotifyBatch(ctxT(t), ms); err != nil {
		t.Fatal(err)
	}
	var m weComBody
	json.Unmarshal(f.LastTaken(), &m)
	content := m.Markdown.Content
	if len(content) > 4096 {
		t.Fatalf("%d bytes", len(content))
	}
	shown := strings.Count(content, "### ")
	var more int
	if _, err := fmt.Sscanf(content[strings.Index(content, "…另有 "):], "…另有 %d 条", &more); err != nil {
		t.Fatalf("no count of what was cut: %v\n%s", err, content)
	}
	if shown+more != 200 || shown == 0 {
		t.Errorf("shown %d + more %d != 200", shown, more)
	}
}

// Heartbeats, groups and types this package does not know are shown too.
func TestRenderOtherTypes(t *testing.T) {
	hb, _ := json.Marshal(map[string]any{"type": alerting.TypeHeartbeat, "timestamp": time.Date(2026, 11, 22, 16, 0, 0, 0, time.UTC),
		"data": alerting.Heartbeat{Site: "qz", Open: 3, Unack: 1, Active: map[string]int{"red": 1, "yellow": 2}}})
	a1, a2 := gasAlert("a1", "yellow", 30), gasAlert("a2", "red", 70)
	group, _ := json.Marshal(map[string]any{"type": "alert.group", "timestamp": a1.ChangedAt,
		"data": map[string]any{"group": map[string]string{"area": "tank-farm-A"}, "alerts": []any{
			map[string]any{"id": a1.ID, "severity": a1.Severity, "message": a1.Message, "event": "alert.firing"},
			map[string]any{"id": a2.ID, "severity": a2.Severity, "message": "罐区 B 明火", "event": "alert.firing"},
		}}})
	shelved := notification(t, "alert.shelved", 3, a1).Body
	latched := notification(t, alerting.TypeLatched, 4, a2).Body
	cases := []struct {
		body []byte
		want []string
	}{
		{hb, []string{"网关心跳", "未结束告警 3 条，未确认 1 条", "红色 I级 1", "2026-11-23 00:00:00"}},
		{group, []string{"红色 I级 分组告警 · 2 条", "area=tank-farm-A", "罐区 B 明火"}},
		{shelved, []string{"已搁置", "1号储罐区东侧可燃气体探测器"}},
		{latched, []string{"已锁存，待复位"}},
		{[]byte(`{"type":"alert.someday","timestamp":"2026-11-22T09:00:00Z","data":{}}`), []string{"someday", "2026-11-22 17:00:00"}},
		{[]byte(`not json`), []string{"无法解析的通知", "not json"}},
	}
	for _, tc := range cases {
		r := render(testSite, dingTalkMarkdown, []alerting.Message{{ID: "m", Body: tc.body}}, nil)
		for _, w := range tc.want {
			if !strings.Contains(r.text, w) {
				t.Errorf("%.40s…: lacks %q in\n%s", tc.body, w, r.text)
			}
		}
	}
	// The group's red alert is listed before the yellow one.
	r := render(testSite, dingTalkMarkdown, []alerting.Message{{ID: "m", Body: group}}, nil)
	if strings.Index(r.text, "罐区 B 明火") > strings.Index(r.text, "黄色") {
		t.Errorf("group order:\n%s", r.text)
	}
}

func TestRenderEnglishAndEscaping(t *testing.T) {
	a := gasAlert("a1", "blue", 1)
	a.Label = "**Tank** [x](http://evil) <font>\n### boom"
	a.Message = "`rm` _it_ | ~~x~~"
	site := Site{Name: "Tank farm", Language: alerting.LangEN, Location: time.UTC}
	r := render(site, weComMarkdown, []alerting.Message{notification(t, alerting.TypeFiring, 1, a)}, nil)
	for _, bad := range []string{"**Tank**", "[x]", "<font>", "\n### boom", "`rm`", "_it_", "~~"} {
		if strings.Contains(r.text, bad) {
			t.Errorf("user text %q became markup:\n%s", bad, r.text)
		}
	}
	for _, want := range []string{"🔵 BLUE (IV) ALARM", "value 1 %LEL, limit 50 %LEL", "at 2026-11-22 09:00:01", "＊＊Tank＊＊"} {
		if !strings.Contains(r.text, want) {
			t.Errorf("lacks %q:\n%s", want, r.text)
		}
	}
}

func TestNotifyEndsWithContext(t *testing.T) {
	f := fakerobot.DingTalk(t, dingToken, "")
	f.Script(fakerobot.Answer{Status: 200, Body: `{"errcode":130101,"errmsg":"send too fast"}`})
	c := newChat(t, alerting.NotifyConfig{Type: "dingtalk", URL: f.Webhook()})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := c.Notify(ctx, notification(t, alerting.TypeFiring, 1, gasAlert("a1", "red", 60)))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v", err)
	}
}

// What calls for action comes before what does not, even a worse one.
func TestOrderActionFirst(t *testing.T) {
	red := gasAlert("r1", "red", 1)
	red.Status = alerting.StatusResolved
	blue := gasAlert("b1", "blue", 60)
	ms := []alerting.Message{notification(t, alerting.TypeResolved, 2, red), notification(t, alerting.TypeFiring, 1, blue)}
	r := render(testSite, dingTalkMarkdown, ms, nil)
	if i, j := strings.Index(r.text, "蓝色 IV级 告警"), strings.Index(r.text, "红色 I级 已恢复"); i < 0 || j < 0 || i > j {
		t.Errorf("firing blue at %d, resolved red at %d:\n%s", i, j, r.text)
	}
	if !r.urgent || r.rank != 4 {
		t.Errorf("urgent %v rank %d", r.urgent, r.rank)
	}
}

// A field of an unexpected type loses that field, not the alarm.
func TestRenderTolerant(t *testing.T) {
	body := []byte(`{"type":"alert.firing","timestamp":"2026-11-22T09:00:00Z","data":{"id":"x","severity":"red","label":"3号罐",` +
		`"value":"high","started_at":"yesterday","message":"【某石化储罐区】液位过高"}}`)
	group := []byte(`{"type":"alert.group","timestamp":"2026-11-22T09:00:00Z","data":{"group":{"area":"A","severity":["red"]},` +
		`"alerts":[{"severity":"orange","event":"alert.firing","message":"一","started_at":1},{"severity":"red","event":"alert.firing","message":"二"}]}}`)
	for _, tc := range []struct {
		body []byte
		want []string
	}{
		{body, []string{"🔴 红色 I级 告警", "3号罐", "液位过高"}},
		{group, []string{"红色 I级 分组告警 · 2 条", "area=A", "一", "二"}},
	} {
		r := render(testSite, dingTalkMarkdown, []alerting.Message{{ID: "m", Body: tc.body}}, nil)
		for _, w := range tc.want {
			if !strings.Contains(r.text, w) {
				t.Errorf("lacks %q:\n%s", w, r.text)
			}
		}
	}
}
