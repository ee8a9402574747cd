package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/internal/testenv"
)

const (
	robotToken  = "e2e0robot0access0token0123456789"
	robotSecret = "SECe2e0robot0secret0abcdefabcdef0123456789"
)

// dingTalkRobot is a DingTalk custom robot as its documentation describes
// it, written here without the gateway's code: access_token in the query;
// 加签 timestamp (ms, within an hour) and sign, the URL-encoded base64 of
// HMAC-SHA256 keyed by the secret over timestamp+"\n"+secret; a markdown
// body; errcode 0 for taken. While limited it answers 130101 (sending too
// fast), as DingTalk does after 20 messages a minute.
type dingTalkRobot struct {
	mu       sync.Mutex
	limited  bool
	refused  int      // 130101 answers
	bad      []string // requests failing the checks
	messages []string // markdown texts taken, in order
}

func (d *dingTalkRobot) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	d.mu.Lock()
	defer d.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if err := d.check(r, body); err != nil {
		d.bad = append(d.bad, err.Error())
		io.WriteString(w, `{"errcode":310000,"errmsg":"sign not match"}`)
		return
	}
	if d.limited {
		d.refused++
		io.WriteString(w, `{"errcode":130101,"errmsg":"send too fast, exceed 20 times per minute"}`)
		return
	}
	var m struct {
		Markdown struct{ Text string } `json:"markdown"`
	}
	json.Unmarshal(body, &m)
	d.messages = append(d.messages, m.Markdown.Text)
	io.WriteString(w, `{"errcode":0,"errmsg":"ok"}`)
}

func (d *dingTalkRobot) check(r *http.Request, body []byte) error {
	q := r.URL.Query()
	if r.Method != http.MethodPost || q.Get("access_token") != robotToken {
		return fmt.Errorf("%s without the token", r.Method)
	}
	ts, err := strconv.ParseInt(q.Get("timestamp"), 10, 64)
	if err != nil || time.Since(time.UnixMilli(ts)).Abs() > time.Hour {
		return fmt.Errorf("timestamp %q", q.Get("timestamp"))
	}
	mac := hmac.New(sha256.New, []byte(robotSecret))
	mac.Write([]byte(q.Get("timestamp") + "\n" + robotSecret))
	if q.Get("sign") != base64.StdEncoding.EncodeToString(mac.Sum(nil)) {
		return fmt.Errorf("sign mismatch")
	}
	var m struct {
		MsgType  string `json:"msgtype"`
		Markdown struct{ Title, Text string }
	}
	if json.Unmarshal(body, &m) != nil || m.MsgType != "markdown" || m.Markdown.Title == "" || m.Markdown.Text == "" {
		return fmt.Errorf("not a markdown message")
	}
	return nil
}

func (d *dingTalkRobot) setLimited(v bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.limited = v
}

func (d *dingTalkRobot) state() (refused int, bad, messages []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.refused, slices.Clone(d.bad), slices.Clone(d.messages)
}

// robotItem finds each notification in a message: its severity, event and
// device ("红色 告警 2号储罐区可燃气体探测器").
var robotItem = regexp.MustCompile(`### \S+ (红色|橙色|黄色|蓝色) \S+级 (\S+)\n\n\*\*([^*\n]+)\*\*`)

func robotNotifications(messages []string) []string {
	var out []string
	for _, m := range messages {
		for _, s := range robotItem.FindAllStringSubmatch(m, -1) {
			out = append(out, s[1]+" "+s[2]+" "+s[3])
		}
	}
	return out
}

// TestDingTalkAcrossRateLimitAndKill9: alarms happen while the DingTalk
// robot answers 130101 (too fast); the gateway is killed with -9 and
// restarted, then stopped and started gracefully, while they wait; when
// the robot takes messages again, each notification arrives exactly once,
// signed, in order per alert.
func TestDingTalkAcrossRateLimitAndKill9(t *testing.T) {
	robot := &dingTalkRobot{limited: true}
	srv := httptest.NewServer(robot)
	t.Cleanup(srv.Close)

	s := newAlertSite(t, siteOpts{devices: 2, interval: 500 * time.Millisecond})
	f, err := os.OpenFile(s.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, `    - name: duty-group
      type: dingtalk
      url: %s/robot/send?access_token=${ROBOT_TOKEN}
      secret: ${ROBOT_SECRET}
      mobiles: ["13800000000"]
      timeout: 2s
`, srv.URL)
	f.Close()
	env := []string{"DUTY_DESK_SECRET=" + deskSecret, "ROBOT_TOKEN=" + robotToken, "ROBOT_SECRET=" + robotSecret}

	gw := startGateway(t, s.config, env...)
	s.raiseTwoEscalateOne()
	testenv.Eventually(t, 20*time.Second, func() bool { n, _, _ := robot.state(); return n >= 2 }, "the robot refused attempts")
	gw.kill9()
	if _, _, msgs := robot.state(); len(msgs) != 0 {
		t.Fatalf("the robot was limiting, yet took %d messages", len(msgs))
	}

	gw = startGateway(t, s.config, env...)
	s.set(2, 0)
	testenv.Eventually(t, 20*time.Second, func() bool { return s.gasLevel("GD-102") == "resolved high-high" }, "GD-102 resolved")
	// A graceful restart while they still wait.
	refused, _, _ := robot.state()
	testenv.Eventually(t, 20*time.Second, func() bool { n, _, _ := robot.state(); return n > refused }, "retrying after the restart")
	gw.stop(10 * time.Second)
	gw = startGateway(t, s.config, env...)
	robot.setLimited(false)

	want := []string{"黄色 告警 1号储罐区可燃气体探测器", "红色 告警 2号储罐区可燃气体探测器", "红色 告警变化 1号储罐区可燃气体探测器", "红色 已恢复 2号储罐区可燃气体探测器"}
	testenv.Eventually(t, 90*time.Second, func() bool {
		_, _, msgs := robot.state()
		return len(robotNotifications(msgs)) >= len(want)
	}, "every notification at the robot")
	// Anything sent again would be a duplicate: an expectation over a
	// window of a few polls and retries.
	time.Sleep(3 * time.Second)
	_, bad, msgs := robot.state()
	got := robotNotifications(msgs)
	if len(bad) > 0 {
		t.Errorf("requests failing the robot's checks: %v", bad)
	}
	sorted := slices.Clone(got)
	slices.Sort(sorted)
	wantSorted := slices.Clone(want)
	slices.Sort(wantSorted)
	if !slices.Equal(sorted, wantSorted) {
		t.Errorf("notifications at the robot:\n%s\nwant each once:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	before := func(a, b string) bool {
		return slices.Index(got, a) >= 0 && slices.Index(got, a) < slices.Index(got, b)
	}
	if !before(want[0], want[2]) || !before(want[1], want[3]) {
		t.Errorf("out of order per alert:\n%s", strings.Join(got, "\n"))
	}
	for _, m := range msgs {
		if strings.Contains(m, "告警") && !strings.Contains(m, "已恢复") && !strings.Contains(m, "@13800000000") {
			t.Errorf("an alarm without the mention:\n%s", m)
		}
	}
	gw.stop(10 * time.Second)
	if t.Failed() {
		t.Logf("messages:\n%s", strings.Join(msgs, "\n----\n"))
	}
}

// TestWeComRefusalDeadLettered: a WeCom robot whose key was revoked
// answers 93000 to everything: the notifications are dead-lettered, the
// duty desk gets gateway:notify-rejected naming the robot and the code,
// and neither the desk nor the gateway's log ever sees the key.
func TestWeComRefusalDeadLettered(t *testing.T) {
	const key = "e2e-wecom-key-0123456789abcdef"
	var mu sync.Mutex
	attempts := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		attempts++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"errcode":93000,"errmsg":"invalid webhook url, hint: [`+r.URL.Query().Get("key")+`]"}`)
	}))
	t.Cleanup(srv.Close)
	s := newAlertSite(t, siteOpts{devices: 1, interval: 300 * time.Millisecond})
	f, err := os.OpenFile(s.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "    - name: wecom-group\n      type: wecom\n      url: %s/cgi-bin/webhook/send?key=${WECOM_KEY}\n      timeout: 2s\n", srv.URL)
	f.Close()
	s.set(1, 60)
	gw := startGateway(t, s.config, "DUTY_DESK_SECRET="+deskSecret, "WECOM_KEY="+key)
	s.waitDesk(60*time.Second, "notify-rejected at the desk", has("gateway", "gateway:notify-rejected", "alert.firing"))
	for _, d := range s.desk.Deliveries() {
		if strings.Contains(d.Alert.Message, key) {
			t.Errorf("the key reached the desk: %s", d.Alert.Message)
		}
		if d.Alert.Rule == "gateway:notify-rejected" && (d.Alert.Point != "wecom-group" || !strings.Contains(d.Alert.Message, "93000")) {
			t.Errorf("notify-rejected %+v", d.Alert)
		}
	}
	gw.stop(10 * time.Second)
	if strings.Contains(gw.out.String(), key) {
		t.Errorf("the key is in the gateway's log:\n%s", tail(gw.out.String(), 30))
	}
	mu.Lock()
	defer mu.Unlock()
	if attempts == 0 {
		t.Error("the robot was never asked")
	}
}
