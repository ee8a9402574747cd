package receivers

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/hazardgw/hazardgw/alerting"
	"github.com/hazardgw/hazardgw/gateway"
	"github.com/hazardgw/hazardgw/internal/conf"
	"github.com/hazardgw/hazardgw/internal/fakerobot"
)

// smsGateway is a fake SMS gateway: it wants a bearer token and a JSON
// body {"phones":[…],"sign":"…","text":"…"}, answers 200 {"ok":true}.
func smsGateway(t *testing.T) *fakerobot.Robot {
	check := func(r *http.Request, body []byte) error {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/sms" || r.URL.Query().Get("id") == "" {
			return fmt.Errorf("%s %s", r.Method, r.URL)
		}
		if r.Header.Get("Authorization") != "Bearer sms-token-0123456789" || r.Header.Get("Content-Type") != "application/json" {
			return fmt.Errorf("headers %v", r.Header)
		}
		var m struct {
			Phones []string `json:"phones"`
			Sign   string   `json:"sign"`
			Text   string   `json:"text"`
		}
		if err := json.Unmarshal(body, &m); err != nil || len(m.Phones) != 2 || m.Sign != "某石化" || m.Text == "" {
			return fmt.Errorf("body %s: %v", body, err)
		}
		return nil
	}
	return fakerobot.New(t, check, func(error) fakerobot.Answer { return fakerobot.Answer{Status: 400, Body: `{"ok":false}`} }, fakerobot.Answer{Status: 200, Body: `{"ok":true}`})
}

func smsConfig(url string) alerting.NotifyConfig {
	return alerting.NotifyConfig{Name: "sms-duty", Type: "http",
		URL:     url + "/v1/sms?id={{urlquery .ID}}",
		Headers: map[string]string{"Authorization": "Bearer sms-token-0123456789", "Content-Type": "application/json"},
		Body: `{"phones":["13800000000","13900000000"],"sign":"某石化",` +
			`"text":{{json (printf "%s：%s %s" .Title (trunc 60 .Alert.Message) .Time)}}}`,
		Success: []int{200},
	}
}

func TestHTTPTemplateSMS(t *testing.T) {
	f := smsGateway(t)
	n, err := New(smsConfig(f.URL()), testSite, fastRetry, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := n.(alerting.BatchNotifier); ok {
		t.Error("an http receiver merges nothing: it must not be a BatchNotifier")
	}
	f.Script(fakerobot.Answer{Status: 503, Body: "busy"}, fakerobot.Answer{Status: 200, Body: `{"ok":true}`})
	if err := n.Notify(ctxT(t), notification(t, alerting.TypeFiring, 1, gasAlert("a1", "red", 57.3))); err != nil {
		t.Fatal(err)
	}
	got, taken, bad := f.Counts()
	if got != 2 || taken != 0 || len(bad) > 0 { // taken counts vendor JSON answers only
		t.Fatalf("got %d bad %v", got, bad)
	}
	var m struct{ Text string }
	json.Unmarshal(f.Got()[1], &m)
	for _, want := range []string{"红色 I级 告警", "立即疏散", "2026-11-22 17:00:01"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("sms text %q lacks %q", m.Text, want)
		}
	}
	// 400 is final, and names no credential.
	f.Script(fakerobot.Answer{Status: 400, Body: `{"ok":false}`})
	err = n.Notify(ctxT(t), notification(t, alerting.TypeResolved, 2, gasAlert("a1", "red", 1)))
	if !gateway.IsPermanent(err) || strings.Contains(err.Error(), "sms-token") {
		t.Fatalf("err %v", err)
	}
}

// A heartbeat has no alert: the templates see a zero Alert and still run.
func TestHTTPTemplateHeartbeat(t *testing.T) {
	var body string
	f := fakerobot.New(t, func(r *http.Request, b []byte) error { body = string(b); return nil }, nil, fakerobot.Answer{Status: 204, Body: ""})
	cfg := alerting.NotifyConfig{Name: "voice", Type: "http", URL: f.URL() + "/call", Body: "{{.Type}} {{.Alert.Device}}|{{.Title}}"}
	n, err := New(cfg, testSite, fastRetry, nil)
	if err != nil {
		t.Fatal(err)
	}
	hb, _ := json.Marshal(map[string]any{"type": alerting.TypeHeartbeat, "timestamp": "2026-11-22T09:00:00Z", "data": alerting.Heartbeat{Site: "s"}})
	if err := n.Notify(ctxT(t), alerting.Message{ID: "hb1", Type: alerting.TypeHeartbeat, Body: hb}); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(body, "alert.heartbeat |") || !strings.Contains(body, "网关心跳") {
		t.Errorf("body %q", body)
	}
}

func TestCheck(t *testing.T) {
	ok := func(cfg alerting.NotifyConfig) alerting.NotifyConfig { return cfg }
	no := false
	cases := []struct {
		name string
		cfg  alerting.NotifyConfig
		want string // "" for valid
	}{
		{"dingtalk ok", ok(alerting.NotifyConfig{Type: "dingtalk", URL: "https://oapi.dingtalk.com/robot/send?access_token=abc", Secret: "SEC123", Mobiles: []string{"13800000000", "+86-13900000000"}}), ""},
		{"dingtalk no token", alerting.NotifyConfig{Type: "dingtalk", URL: "https://oapi.dingtalk.com/robot/send"}, "n.url: has no access_token"},
		{"dingtalk secret", alerting.NotifyConfig{Type: "dingtalk", URL: "https://x/robot/send?access_token=abc", Secret: "hunter2"}, `n.secret: must be the robot's 加签 secret, which starts with "SEC"`},
		{"dingtalk mobile", alerting.NotifyConfig{Type: "dingtalk", URL: "https://x/robot/send?access_token=abc", Mobiles: []string{"zhang"}}, `n.mobiles[0]: want a mobile number`},
		{"dingtalk card", alerting.NotifyConfig{Type: "dingtalk", URL: "https://x/robot/send?access_token=abc", Card: &no}, "n.card: not used by a dingtalk receiver"},
		{"wecom ok", alerting.NotifyConfig{Type: "wecom", URL: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"}, ""},
		{"wecom no key", alerting.NotifyConfig{Type: "wecom", URL: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"}, "n.url: has no key"},
		{"wecom secret", alerting.NotifyConfig{Type: "wecom", URL: "https://q/send?key=k", Secret: "s3cr3t"}, "n.secret: not used by a wecom robot"},
		{"feishu ok", alerting.NotifyConfig{Type: "feishu", URL: "https://open.feishu.cn/open-apis/bot/v2/hook/abc", Secret: "any", Card: &no}, ""},
		{"feishu no token", alerting.NotifyConfig{Type: "feishu", URL: "https://open.feishu.cn/open-apis/bot/v2/hook/"}, "n.url: want the bot's webhook URL"},
		{"feishu mobiles", alerting.NotifyConfig{Type: "feishu", URL: "https://f/hook/abc", Mobiles: []string{"13800000000"}}, "n.mobiles: a feishu custom bot cannot mention by mobile"},
		{"http ok", smsConfig("https://sms.example.org"), ""},
		{"http bad syntax", alerting.NotifyConfig{Type: "http", URL: "https://s/x", Body: "{{.Text"}, "n.body: body:1: unclosed action"},
		{"http bad field", alerting.NotifyConfig{Type: "http", URL: "https://s/x", Body: "{{.Alert.Devise}}"}, "n.body: body:1:8: executing \"body\" at <.Alert.Devise>: can't evaluate field Devise"},
		{"http bad header field", alerting.NotifyConfig{Type: "http", URL: "https://s/x", Headers: map[string]string{"X-Id": "{{.Nope}}"}}, "n.headers.X-Id: headers.X-Id:1:2: executing"},
		{"http url template", alerting.NotifyConfig{Type: "http", URL: "{{.Site}}/x"}, "n.url: the template must make an http(s)://host/… URL"},
		{"http method", alerting.NotifyConfig{Type: "http", URL: "https://s/x", Method: "TRACE"}, `n.method: must be one of`},
		{"http success", alerting.NotifyConfig{Type: "http", URL: "https://s/x", Success: []int{20}}, "n.success[0]: want an HTTP status code"},
		{"http secret", alerting.NotifyConfig{Type: "http", URL: "https://s/x", Secret: "topsecret"}, "n.secret: not used by an http receiver"},
		{"http mobiles", alerting.NotifyConfig{Type: "http", URL: "https://s/x", Mobiles: []string{"13800000000"}}, "n.mobiles: not used by a http receiver"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var p conf.Problems
			Check(tc.cfg, "n", &p)
			var got []string
			for _, pr := range p.List {
				got = append(got, pr.Path+": "+pr.Msg)
			}
			all := strings.Join(got, "\n")
			switch {
			case tc.want == "" && len(got) > 0:
				t.Fatalf("problems:\n%s", all)
			case tc.want != "" && !strings.Contains(all, tc.want):
				t.Fatalf("problems:\n%s\nwant %q", all, tc.want)
			}
			for _, s := range []string{"hunter2", "s3cr3t", "topsecret"} {
				if strings.Contains(all, s) {
					t.Errorf("a problem repeats the secret: %s", all)
				}
			}
			_, err := New(tc.cfg, testSite, Options{}, nil)
			if (err == nil) != (tc.want == "") {
				t.Errorf("New: %v, Check: %q", err, all)
			}
		})
	}
}

func TestTemplateMissingKey(t *testing.T) {
	var p conf.Problems
	Check(alerting.NotifyConfig{Type: "http", URL: "https://s/x", Body: `{{index .Alert.Key}}{{with $m := (dict)}}{{end}}`}, "n", &p)
	if p.Len() == 0 {
		t.Fatal("an unknown function passed")
	}
	// missingkey=error: a map without the key is an error, not "<no value>".
	tpl, err := parseTemplate("t", "{{.x}}")
	if err != nil {
		t.Fatal(err)
	}
	if err := tpl.Execute(io.Discard, map[string]string{}); err == nil {
		t.Fatal("missing key executed")
	}
}

func TestTemplateOutputBounded(t *testing.T) {
	var p conf.Problems
	Check(alerting.NotifyConfig{Type: "http", URL: "https://s/x", Body: `{{range 100000}}{{$.Text}}{{end}}`}, "n", &p)
	if p.Len() != 1 || !strings.Contains(p.List[0].Msg, "64 KiB") {
		t.Fatalf("problems %+v", p.List)
	}
}
