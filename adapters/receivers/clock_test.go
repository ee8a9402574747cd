package receivers

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/alerting"
	"github.com/hazardgw/hazardgw/gateway"
	"github.com/hazardgw/hazardgw/internal/fakerobot"
)

const threeYears = 3 * 365 * 24 * time.Hour

// signedRobot is a signing robot of one vendor and the receiver config
// that speaks to it with secret.
type signedRobot struct {
	name string
	new  func(t *testing.T, secret string) (*fakerobot.Robot, alerting.NotifyConfig)
}

var signedRobots = []signedRobot{
	{"dingtalk", func(t *testing.T, secret string) (*fakerobot.Robot, alerting.NotifyConfig) {
		f := fakerobot.DingTalk(t, dingToken, dingSecret)
		return f, alerting.NotifyConfig{Name: "duty-group", Type: "dingtalk", URL: f.Webhook(), Secret: secret}
	}},
	{"feishu", func(t *testing.T, secret string) (*fakerobot.Robot, alerting.NotifyConfig) {
		f := fakerobot.Feishu(t, feishuHook, feishuKey)
		return f, alerting.NotifyConfig{Name: "duty-group", Type: "feishu", URL: f.Webhook(), Secret: secret}
	}},
}

// skewedChat is a Chat whose clock is off by gatewayAhead from the
// machine's, logging into the returned buffer.
func skewedChat(t *testing.T, cfg alerting.NotifyConfig, gatewayAhead time.Duration) (Chat, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	// Backoff of an hour: the attempt signed with the receiver's time
	// goes at once, and any other retry would outlast the test's context.
	opts := Options{MinBackoff: time.Hour, MaxBackoff: time.Hour}
	opts.Now = func() time.Time { return time.Now().Add(gatewayAhead) }
	n, err := New(cfg, testSite, opts, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return n.(Chat), &logs
}

// TestRobotsSignWithTheReceiversClock: a gateway whose clock is over an
// hour or three years off (behind or ahead; or a robot whose clock is) is
// refused once, learns the robot's clock from its Date header, and
// delivers signed with it, which the robot checks; the next notification
// goes at the first attempt. The offset is logged once.
func TestRobotsSignWithTheReceiversClock(t *testing.T) {
	for _, r := range signedRobots {
		for _, tc := range []struct {
			name                string
			gatewayAhead, robot time.Duration
		}{
			// Just over the vendors' hour, so that the first attempt is
			// surely refused.
			{"gateway 1h behind", -time.Hour - time.Minute, 0},
			{"gateway 1h ahead", time.Hour + time.Minute, 0},
			{"gateway 3y behind", -threeYears, 0},
			{"gateway 3y ahead", threeYears, 0},
			{"robot 2h ahead", 0, 2 * time.Hour},
		} {
			t.Run(r.name+"/"+tc.name, func(t *testing.T) {
				f, cfg := r.new(t, map[string]string{"dingtalk": dingSecret, "feishu": feishuKey}[r.name])
				f.SetClockAhead(tc.robot)
				c, logs := skewedChat(t, cfg, tc.gatewayAhead)
				for i := 1; i <= 2; i++ {
					if err := c.Notify(ctxT(t), notification(t, alerting.TypeFiring, i, gasAlert("a1", "red", 57.3))); err != nil {
						t.Fatalf("notification %d: %v", i, err)
					}
					got, taken, bad := f.Counts()
					if got != i || taken != i || len(bad) != 1 {
						t.Fatalf("after notification %d: got %d taken %d, refused %v; want %d, %d and the first attempt refused",
							i, got, taken, bad, i, i)
					}
					if !strings.Contains(bad[0], "timestamp") {
						t.Errorf("refused for %q, want the timestamp", bad[0])
					}
				}
				want := tc.robot - tc.gatewayAhead
				if d := c.ClockOffset() - want; d.Abs() > time.Minute {
					t.Errorf("clock offset %v, want about %v", c.ClockOffset(), want)
				}
				if n := strings.Count(logs.String(), "the gateway's clock is "); n != 1 {
					t.Errorf("offset logged %d times, want once:\n%s", n, logs)
				}
				way := map[bool]string{true: "behind", false: "ahead"}[want > 0]
				if !strings.Contains(logs.String(), way) {
					t.Errorf("log does not say the gateway's clock is %s:\n%s", way, logs)
				}
			})
		}
	}
}

// TestRobotRefusalNotAboutTimeIsFinal: a refusal that is not about the
// clock stays final: at once when the clocks agree; after the one attempt
// signed with the robot's time when they do not (and at once for the
// next notification); at once for a code that is never about time.
func TestRobotRefusalNotAboutTimeIsFinal(t *testing.T) {
	msg := func(i int) alerting.Message {
		return notification(t, alerting.TypeFiring, i, gasAlert("a1", "red", 57.3))
	}
	for _, r := range signedRobots {
		t.Run(r.name+"/wrong secret, clocks agree", func(t *testing.T) {
			f, cfg := r.new(t, "SECnot-the-robots-secret")
			c, _ := skewedChat(t, cfg, 0)
			if err := c.Notify(ctxT(t), msg(1)); !gateway.IsPermanent(err) {
				t.Fatalf("err %v, want a final refusal", err)
			}
			if _, _, bad := f.Counts(); len(bad) != 1 {
				t.Errorf("%d attempts (%v), want 1", len(bad), bad)
			}
		})
		t.Run(r.name+"/wrong secret, gateway 3y behind", func(t *testing.T) {
			f, cfg := r.new(t, "SECnot-the-robots-secret")
			c, _ := skewedChat(t, cfg, -threeYears)
			if err := c.Notify(ctxT(t), msg(1)); !gateway.IsPermanent(err) {
				t.Fatalf("err %v, want a final refusal", err)
			}
			if _, _, bad := f.Counts(); len(bad) != 2 || !strings.Contains(bad[1], "sign mismatch") {
				t.Errorf("attempts refused for %v, want 2: the timestamp, then the signature", bad)
			}
			if err := c.Notify(ctxT(t), msg(2)); !gateway.IsPermanent(err) {
				t.Fatalf("second notification: err %v, want a final refusal", err)
			}
			if _, _, bad := f.Counts(); len(bad) != 3 {
				t.Errorf("%d attempts in all (%v), want 3", len(bad), bad)
			}
		})
	}
	t.Run("feishu/keyword refusal, gateway 1h behind", func(t *testing.T) {
		f := fakerobot.Feishu(t, feishuHook, feishuKey)
		f.Refuse(func(error) fakerobot.Answer {
			return fakerobot.Answer{Status: 200, Body: `{"code":19024,"data":{},"msg":"Key Words Not Found"}`}
		})
		c, _ := skewedChat(t, alerting.NotifyConfig{Name: "duty-group", Type: "feishu", URL: f.Webhook(), Secret: feishuKey}, -time.Hour)
		if err := c.Notify(ctxT(t), msg(1)); !gateway.IsPermanent(err) {
			t.Fatalf("err %v, want a final refusal", err)
		}
		if _, _, bad := f.Counts(); len(bad) != 1 {
			t.Errorf("%d attempts (%v), want 1", len(bad), bad)
		}
	})
}

// TestUnsignedRobotRefusalIsFinal: a DingTalk robot without 加签 checks no
// timestamp, so its 310000 (a keyword missing) is final at once even when
// its Date header shows the gateway's clock three years off.
func TestUnsignedRobotRefusalIsFinal(t *testing.T) {
	f := fakerobot.DingTalk(t, dingToken, "")
	f.Script(fakerobot.Answer{Status: 200, Body: `{"errcode":310000,"errmsg":"keywords not in content"}`})
	c, _ := skewedChat(t, alerting.NotifyConfig{Name: "duty-group", Type: "dingtalk", URL: f.Webhook()}, -threeYears)
	if err := c.Notify(ctxT(t), notification(t, alerting.TypeFiring, 1, gasAlert("a1", "red", 57.3))); !gateway.IsPermanent(err) {
		t.Fatalf("err %v, want a final refusal", err)
	}
	if got, _, _ := f.Counts(); got != 1 {
		t.Errorf("%d attempts, want 1", got)
	}
	if d := c.ClockOffset() - threeYears; d.Abs() > time.Minute {
		t.Errorf("clock offset %v, want about %v (learnt from the refusal all the same)", c.ClockOffset(), threeYears)
	}
}
