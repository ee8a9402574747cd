package e2e

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/internal/fakerobot"
	"github.com/hazardgw/hazardgw/internal/testenv"
)

// TestRobotsWithAnotherClock: the gateway's clock is three years behind a
// DingTalk robot's and two hours ahead of a Feishu bot's (as after a power
// cut on a box with a dead RTC battery and no NTP); both refuse a
// timestamp more than an hour from their clock. The alarm and its
// resolution reach both robots, signed validly: each refuses one attempt
// only, the gateway logs the offset once per robot and exports it as
// hazardgw_clock_offset_seconds.
func TestRobotsWithAnotherClock(t *testing.T) {
	const feishuHook, feishuSecret = "e2e-feishu-hook-0123", "e2eFeishuSecret0123"
	const dingAhead, feishuAhead = 3 * 365 * 24 * time.Hour, -2 * time.Hour
	ding := fakerobot.DingTalk(t, robotToken, robotSecret)
	ding.SetClockAhead(dingAhead)
	feishu := fakerobot.Feishu(t, feishuHook, feishuSecret)
	feishu.SetClockAhead(feishuAhead)

	s := newAlertSite(t, siteOpts{devices: 1, interval: 500 * time.Millisecond})
	s.addReceivers(fmt.Sprintf(`    - name: duty-group
      type: dingtalk
      url: %s/robot/send?access_token=${ROBOT_TOKEN}
      secret: ${ROBOT_SECRET}
      timeout: 2s
    - name: feishu-group
      type: feishu
      url: %s
      secret: ${FEISHU_SECRET}
      timeout: 2s
`, ding.URL(), feishu.Webhook()))
	gw := startGateway(t, s.config, "DUTY_DESK_SECRET="+deskSecret, "ROBOT_TOKEN="+robotToken,
		"ROBOT_SECRET="+robotSecret, "FEISHU_SECRET="+feishuSecret)

	s.set(1, 60)
	testenv.Eventually(t, 30*time.Second, func() bool {
		_, dt, _ := ding.Counts()
		_, ft, _ := feishu.Counts()
		return dt >= 1 && ft >= 1
	}, "the alarm at both robots")
	s.set(1, 0)
	testenv.Eventually(t, 30*time.Second, func() bool {
		_, dt, _ := ding.Counts()
		_, ft, _ := feishu.Counts()
		return dt >= 2 && ft >= 2
	}, "the resolution at both robots")

	for name, r := range map[string]*fakerobot.Robot{"dingtalk": ding, "feishu": feishu} {
		got, taken, bad := r.Counts()
		if got != 2 || taken != 2 || len(bad) != 1 || !strings.Contains(bad[0], "timestamp") {
			t.Errorf("%s: got %d, took %d, refused %q; want 2, 2 and one refusal for the timestamp", name, got, taken, bad)
		}
	}
	resp, err := http.Get(s.api + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for receiver, want := range map[string]time.Duration{"duty-group": dingAhead, "feishu-group": feishuAhead} {
		m := regexp.MustCompile(`\nhazardgw_clock_offset_seconds\{receiver="` + receiver + `"\} (\S+)\n`).FindSubmatch(page)
		if m == nil {
			t.Errorf("/metrics lacks hazardgw_clock_offset_seconds for %s", receiver)
			continue
		}
		v, _ := strconv.ParseFloat(string(m[1]), 64)
		if d := time.Duration(v*float64(time.Second)) - want; d.Abs() > time.Minute {
			t.Errorf("hazardgw_clock_offset_seconds{receiver=%q} = %s, want about %.0f", receiver, m[1], want.Seconds())
		}
	}
	log := gw.out.String()
	for _, want := range []string{"the gateway's clock is 26280h0m0s behind", "the gateway's clock is 2h0m0s ahead"} {
		if n := strings.Count(log, want); n != 1 {
			t.Errorf("log has %q %d times, want once", want, n)
		}
	}
	gw.stop(10 * time.Second)
}
