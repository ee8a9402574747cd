package e2e

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/internal/fakerobot"
	"github.com/hazardgw/hazardgw/internal/testenv"
)

const (
	robotToken  = "e2e0robot0access0token0123456789"
	robotSecret = "SECe2e0robot0secret0abcdefabcdef0123456789"
)

// tooFast is DingTalk's answer once a robot has had 20 messages in a minute.
var tooFast = fakerobot.Answer{Status: 200, Body: `{"errcode":130101,"errmsg":"send too fast, exceed 20 times per minute"}`}

// robotState is what a DingTalk robot (fakerobot.DingTalk, which checks
// 加签 and the markdown body) has seen: attempts it answered other than
// taken, requests failing its checks, and the markdown texts it took, in
// order.
func robotState(robot *fakerobot.Robot) (refused int, bad, messages []string) {
	got, taken, bad := robot.Counts()
	for _, b := range robot.Taken() {
		var m struct {
			Markdown struct{ Text string } `json:"markdown"`
		}
		json.Unmarshal(b, &m)
		messages = append(messages, m.Markdown.Text)
	}
	return got - taken, bad, messages
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
	robot := fakerobot.DingTalk(t, robotToken, robotSecret)
	robot.Script(tooFast)

	s := newAlertSite(t, siteOpts{devices: 2, interval: 500 * time.Millisecond})
	s.addReceivers(fmt.Sprintf(`    - name: duty-group
      type: dingtalk
      url: %s/robot/send?access_token=${ROBOT_TOKEN}
      secret: ${ROBOT_SECRET}
      mobiles: ["13800000000"]
      timeout: 2s
`, robot.URL()))
	env := []string{"DUTY_DESK_SECRET=" + deskSecret, "ROBOT_TOKEN=" + robotToken, "ROBOT_SECRET=" + robotSecret}

	gw := startGateway(t, s.config, env...)
	s.raiseTwoEscalateOne()
	testenv.Eventually(t, 20*time.Second, func() bool { n, _, _ := robotState(robot); return n >= 2 }, "the robot refused attempts")
	gw.kill9()
	if _, _, msgs := robotState(robot); len(msgs) != 0 {
		t.Fatalf("the robot was limiting, yet took %d messages", len(msgs))
	}

	gw = startGateway(t, s.config, env...)
	s.set(2, 0)
	testenv.Eventually(t, 20*time.Second, func() bool { return s.gasLevel("GD-102") == "resolved high-high" }, "GD-102 resolved")
	// A graceful restart while they still wait.
	refused, _, _ := robotState(robot)
	testenv.Eventually(t, 20*time.Second, func() bool { n, _, _ := robotState(robot); return n > refused }, "retrying after the restart")
	gw.stop(10 * time.Second)
	gw = startGateway(t, s.config, env...)
	robot.Script(fakerobot.DingTalkOK)

	want := []string{"黄色 告警 1号储罐区可燃气体探测器", "红色 告警 2号储罐区可燃气体探测器", "红色 告警变化 1号储罐区可燃气体探测器", "红色 已恢复 2号储罐区可燃气体探测器"}
	testenv.Eventually(t, 90*time.Second, func() bool {
		_, _, msgs := robotState(robot)
		return len(robotNotifications(msgs)) >= len(want)
	}, "every notification at the robot")
	// Anything sent again would be a duplicate: an expectation over a
	// window of a few polls and retries.
	time.Sleep(3 * time.Second)
	_, bad, msgs := robotState(robot)
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
	robot := fakerobot.WeCom(t, key)
	robot.Script(fakerobot.Answer{Status: 200, Body: `{"errcode":93000,"errmsg":"invalid webhook url, hint: [` + key + `]"}`})
	s := newAlertSite(t, siteOpts{devices: 1, interval: 300 * time.Millisecond})
	s.addReceivers(fmt.Sprintf("    - name: wecom-group\n      type: wecom\n      url: %s/cgi-bin/webhook/send?key=${WECOM_KEY}\n      timeout: 2s\n", robot.URL()))
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
	if got, _, bad := robot.Counts(); got == 0 || len(bad) > 0 {
		t.Errorf("the robot was asked %d times, and refused %v", got, bad)
	}
}
