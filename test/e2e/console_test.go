package e2e

import (
	"encoding/base64"
	"encoding/json"
	neturl "net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestConsole is the acceptance test of the duty console at GET /: a real
// gateway binary with two gas detectors over Modbus, one in a second-level
// (red) and one in a first-level (yellow) alarm, and a headless Chromium
// driving the page as a duty officer would: refused with a wrong token,
// signed in with a /#token= link, the count of unacknowledged alerts in the
// title, the alarm tone, an acknowledgement with name and comment and a
// shelving (both checked through the API), a device taken out of service,
// English, and signing out. Screenshots at desktop and phone width go to
// $HAZARDGW_CONSOLE_SHOTS when set (a temporary directory otherwise).
func TestConsole(t *testing.T) {
	chromium := chromiumBinary(t) // before anything starts: a missing browser fails at once
	shots := os.Getenv("HAZARDGW_CONSOLE_SHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}

	s := newAlertSite(t, siteOpts{devices: 2, interval: 300 * time.Millisecond, offDelay: time.Second})
	// combustible-gas latches: its alerts stay until a duty officer resets them.
	s.editConfig("      on_delay: 0s\n", "      on_delay: 0s\n      latch: true\n")
	gw := s.start()
	s.set(1, 60) // GD-101: second level, red
	s.set(2, 30) // GD-102: first level, yellow
	var red, yellow map[string]any
	waitAPI(t, 30*time.Second, "red and yellow alerts", func() bool {
		red, yellow = nil, nil
		for _, a := range s.rawAlerts("active") {
			switch {
			case a["device"] == "GD-101" && a["severity"] == "red":
				red = a
			case a["device"] == "GD-102" && a["severity"] == "yellow":
				yellow = a
			}
		}
		return red != nil && yellow != nil
	})

	// --- not signed in: the form; a wrong token is refused ---
	// The autoplay flag stands for the officer's first click, which a
	// headless browser driven by script never makes.
	c := startChromium(t, chromium, s.api+"/", "--autoplay-policy=no-user-gesture-required")
	c.viewport(t, 1280, 1000, false)
	c.waitEval(t, 30*time.Second, `!document.getElementById("signin").hidden && document.getElementById("main").hidden`, "true")
	c.eval(t, `document.getElementById("token").value = "wrong-token"; document.getElementById("signin-form").requestSubmit(); ""`)
	c.waitEval(t, 30*time.Second, `document.getElementById("signin-error").textContent`, "令牌无效，请重新登录")
	if got := c.eval(t, `String(localStorage.getItem("hazardgw.token"))`); got != "null" {
		t.Errorf("a refused token stays in the browser: %q", got)
	}

	// The right token typed in: signed in; signing out forgets it.
	c.eval(t, `document.getElementById("token").value = "test-token"; document.getElementById("signin-form").requestSubmit(); ""`)
	c.waitEval(t, 30*time.Second, `document.title + " " + document.getElementById("signin").hidden`, "(2) 值班台 · 测试站 true")
	c.eval(t, `document.getElementById("signout").click(); ""`)
	c.waitEval(t, 10*time.Second, `!document.getElementById("signin").hidden + " " + localStorage.getItem("hazardgw.token") + " " + document.title`,
		"true null 值班台 · 测试站")

	// --- the #token link: signed in, the token gone from the address bar ---
	c.navigate(t, "about:blank")
	c.navigate(t, s.api+"/#token=test-token")
	c.waitEval(t, 30*time.Second, `document.title`, "(2) 值班台 · 测试站")
	if got := c.eval(t, `location.href`); strings.Contains(got, "token") {
		t.Errorf("address bar after sign-in: %s", got)
	}
	if got := c.eval(t, `localStorage.getItem("hazardgw.token")`); got != "test-token" {
		t.Errorf("stored token %q", got)
	}

	// Red before yellow, each with its colour words, device label, value,
	// limit and start in the site's local time (Asia/Shanghai by default).
	c.waitEval(t, 30*time.Second, `[...document.querySelectorAll("#alerts .alert")].map(e => e.dataset.id).join(",")`,
		red["id"].(string)+","+yellow["id"].(string))
	card := c.eval(t, `document.querySelector("#alerts .alert").textContent`)
	// The header names the site; the card leaves out the message's 【site】.
	if !strings.Contains(red["message"].(string), "【测试站】") || strings.Contains(card, "【测试站】") {
		t.Errorf("message %q, card %s: want the site named once, in the header", red["message"], card)
	}
	started, _ := time.Parse(time.RFC3339Nano, red["started_at"].(string))
	for _, want := range []string{"红色 I级", "未确认", "报警中", "1号储罐区可燃气体探测器 (GD-101)", "测试站", "ch4 60 %LEL", "阈值 50 %LEL",
		"开始 ", started.In(shanghai(t)).Format("15:04:05"), strings.TrimPrefix(red["message"].(string), "【测试站】"), "确认", "搁置"} {
		if !strings.Contains(card, want) {
			t.Errorf("red alert card lacks %q: %s", want, card)
		}
	}
	if got := c.eval(t, `document.querySelector("#alerts .alert.sev-yellow").textContent`); !strings.Contains(got, "黄色 III级") {
		t.Errorf("yellow card: %s", got)
	}
	// The tone sounds for the red alarm.
	c.waitEval(t, 30*time.Second, `document.body.dataset.sound + " " + (Number(document.body.dataset.beeps) > 0)`, "sounding true")
	// Silence quiets it; pressed again, it sounds again.
	c.eval(t, `document.getElementById("sound").click(); ""`)
	c.waitEval(t, 10*time.Second, `document.body.dataset.sound`, "silenced")
	c.eval(t, `document.getElementById("sound").click(); ""`)
	c.waitEval(t, 10*time.Second, `document.body.dataset.sound`, "sounding")
	// Devices with their quality and last values.
	c.waitEval(t, 30*time.Second, `(document.querySelector('#devices .device[data-id="GD-101"]') || {}).textContent || ""`, "")
	dev := c.eval(t, `document.querySelector('#devices .device[data-id="GD-101"]').textContent`)
	for _, want := range []string{"1号储罐区可燃气体探测器", "在线", "正常", "ch4 60 %LEL", "停用检修"} {
		if !strings.Contains(dev, want) {
			t.Errorf("device card lacks %q: %s", want, dev)
		}
	}
	c.screenshot(t, filepath.Join(shots, "console-desktop-zh.png"))
	c.viewport(t, 390, 1500, true)
	c.screenshot(t, filepath.Join(shots, "console-phone-zh.png"))

	// --- acknowledge the red alert with name and comment ---
	c.eval(t, `document.querySelector("#alerts .alert.sev-red .act-ack").click(); ""`)
	c.waitEval(t, 10*time.Second, `document.getElementById("act").open`, "true")
	c.eval(t, `document.getElementById("act-form").requestSubmit(); ""`) // no name yet
	c.waitEval(t, 10*time.Second, `document.getElementById("act-error").textContent`, "请填写值班员姓名")
	c.screenshot(t, filepath.Join(shots, "console-phone-ack-dialog.png"))
	c.eval(t, `document.getElementById("by").value = "李值班"; document.getElementById("text").value = "已派人现场核查 <b>x</b>";
		document.getElementById("act-ok").click(); ""`)
	c.waitEval(t, 30*time.Second, `document.title`, "(1) 值班台 · 测试站")
	a := s.rawAlert(red["id"].(string))
	if a["acknowledged"] != true || a["acknowledged_by"] != "李值班" || a["comment"] != "已派人现场核查 <b>x</b>" {
		t.Errorf("after acknowledging on the console the API says %v by %q comment %q", a["acknowledged"], a["acknowledged_by"], a["comment"])
	}
	c.waitEval(t, 30*time.Second, `document.querySelector("#alerts .alert.sev-red .ackinfo").textContent.includes("李值班 ") &&
		document.querySelector("#alerts .alert.sev-red .ackinfo b") === null`, "true") // the comment is text, not HTML
	c.waitEval(t, 30*time.Second, `document.body.dataset.sound`, "off")
	if got := c.eval(t, `localStorage.getItem("hazardgw.by")`); got != "李值班" {
		t.Errorf("officer's name remembered as %q", got)
	}

	// --- English ---
	c.eval(t, `document.getElementById("lang").click(); ""`)
	c.waitEval(t, 10*time.Second, `document.title`, "(1) Duty console · 测试站")
	if got := c.eval(t, `document.querySelector("#alerts .alert").textContent`); !strings.Contains(got, "Red · I") || !strings.Contains(got, "acknowledged") {
		t.Errorf("English card: %s", got)
	}
	c.viewport(t, 390, 1500, true)
	c.screenshot(t, filepath.Join(shots, "console-phone-en.png"))
	c.eval(t, `document.getElementById("lang").click(); ""`)
	c.waitEval(t, 10*time.Second, `document.title`, "(1) 值班台 · 测试站")

	// --- shelve the yellow alert for an hour ---
	c.eval(t, `document.querySelector("#alerts .alert.sev-yellow .act-shelve").click(); ""`)
	c.waitEval(t, 10*time.Second, `document.getElementById("act").open + " " + document.getElementById("by").value`, "true 李值班")
	// The choices stop at alerting.max_shelve (8h by default); longer
	// (an option the page does not offer) is refused, readably.
	if got := c.eval(t, `[...document.getElementById("for").options].map(o => o.textContent).join(",")`); got != "15分钟,30分钟,1小时,2小时,4小时,8小时" {
		t.Errorf("shelving choices %q", got)
	}
	c.eval(t, `const o = document.createElement("option"); o.value = "600"; document.getElementById("for").append(o);
		document.getElementById("for").value = "600"; document.getElementById("text").value = "探头标定中";
		document.getElementById("act-ok").click(); ""`)
	c.waitEval(t, 30*time.Second, `document.getElementById("act-error").textContent`, "HTTP 400: for 10h0m0s is longer than alerting.max_shelve (8h0m0s)")
	c.eval(t, `document.getElementById("for").value = "60"; document.getElementById("act-ok").click(); ""`)
	c.waitEval(t, 30*time.Second, `document.getElementById("act").open ? document.getElementById("act-error").textContent : document.title`,
		"(0) 值班台 · 测试站")
	if a := s.rawAlert(yellow["id"].(string)); a["state"] != "shelved" || a["shelved_by"] != "李值班" || a["shelve_reason"] != "探头标定中" {
		t.Errorf("after shelving on the console the API says state %v by %v reason %v", a["state"], a["shelved_by"], a["shelve_reason"])
	} else if until, err := time.Parse(time.RFC3339Nano, a["shelved_until"].(string)); err != nil || until.Before(time.Now().Add(50*time.Minute)) || until.After(time.Now().Add(61*time.Minute)) {
		t.Errorf("shelved until %v, want an hour from now", a["shelved_until"])
	}
	c.waitEval(t, 30*time.Second, `document.querySelector("#alerts .alert.sev-yellow .badges").textContent.includes("搁置至")`, "true")

	// --- a device out of service for an hour, then back ---
	c.eval(t, `document.querySelector('#devices .device[data-id="GD-102"] .act-oos').click(); ""`)
	c.waitEval(t, 10*time.Second, `document.getElementById("act").open`, "true")
	c.eval(t, `document.getElementById("for").value = "60"; document.getElementById("text").value = "更换探头";
		document.getElementById("act-ok").click(); ""`)
	c.waitEval(t, 30*time.Second, `document.getElementById("act").open ? document.getElementById("act-error").textContent : "closed"`, "closed")
	c.waitEval(t, 30*time.Second, `!!document.querySelector('#devices .device[data-id="GD-102"] .act-ins')`, "true")
	if rec := s.maintenance("GD-102"); rec == nil || rec["out_of_service_by"] != "李值班" || rec["out_of_service_reason"] != "更换探头" {
		t.Errorf("after taking GD-102 out of service on the console the API's maintenance record is %v", rec)
	}
	if got := c.eval(t, `document.querySelector('#devices .device[data-id="GD-102"] .dstate').textContent`); !strings.Contains(got, "停用中 → ") {
		t.Errorf("GD-102 out of service: %s", got)
	}
	c.viewport(t, 1280, 1000, false)
	c.screenshot(t, filepath.Join(shots, "console-desktop-zh-after.png"))
	c.eval(t, `document.querySelector('#devices .device[data-id="GD-102"] .act-ins').click(); ""`)
	c.waitEval(t, 10*time.Second, `document.getElementById("act").open`, "true")
	c.eval(t, `document.getElementById("act-ok").click(); ""`)
	c.waitEval(t, 30*time.Second, `!!document.querySelector('#devices .device[data-id="GD-102"] .act-oos')`, "true")
	if rec := s.maintenance("GD-102"); rec != nil {
		t.Errorf("GD-102 back in service, but the API still has %v", rec)
	}

	// --- the red alarm returns to normal and stays, latched, until reset ---
	s.set(1, 0)
	redCard := `document.querySelector('#alerts .alert[data-id="` + red["id"].(string) + `"]')`
	c.waitEval(t, 30*time.Second, `!!`+redCard+`.querySelector(".act-reset") && `+redCard+`.textContent.includes("锁存")`, "true")
	c.eval(t, redCard+`.querySelector(".act-reset").click(); ""`)
	c.waitEval(t, 10*time.Second, `document.getElementById("act").open + " " + document.getElementById("by").value`, "true 李值班")
	c.eval(t, `document.getElementById("text").value = "现场已处置"; document.getElementById("act-ok").click(); ""`)
	ended := `document.querySelector('#recent .alert[data-id="` + red["id"].(string) + `"]')`
	c.waitEval(t, 30*time.Second, `!!`+ended+` && `+ended+`.textContent.includes("最高 红色 I级") && !`+redCard, "true")
	if a := s.rawAlert(red["id"].(string)); a["state"] != "normal" || a["reset_by"] != "李值班" || a["peak_severity"] != "red" {
		t.Errorf("after the reset on the console the API says state %v reset_by %v peak %v", a["state"], a["reset_by"], a["peak_severity"])
	}

	// The gateway goes away: the page says so, and keeps what it showed.
	gw.stop(30 * time.Second)
	c.waitEval(t, 30*time.Second, `!document.getElementById("banner").hidden && document.getElementById("banner").textContent.startsWith("无法连接网关")
		&& document.querySelectorAll("#alerts .alert, #recent .alert").length > 0 && document.getElementById("signin").hidden`, "true")
	c.screenshot(t, filepath.Join(shots, "console-desktop-offline.png"))
	t.Logf("screenshots in %s", shots)
}

// editConfig replaces the one occurrence of old in the site's config.
func (s *alertSite) editConfig(old, new string) {
	s.t.Helper()
	b, err := os.ReadFile(s.config)
	if err != nil {
		s.t.Fatal(err)
	}
	if n := strings.Count(string(b), old); n != 1 {
		s.t.Fatalf("config has %q %d times, want once:\n%s", old, n, b)
	}
	if err := os.WriteFile(s.config, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// maintenance returns the open maintenance record of a device taken out
// of service, or nil.
func (s *alertSite) maintenance(device string) map[string]any {
	for _, a := range s.rawAlerts("active") {
		if a["rule"] == "gateway:maintenance" && a["device"] == device && a["out_of_service_until"] != nil {
			return a
		}
	}
	return nil
}

func shanghai(t *testing.T) *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// rawAlerts lists the API's alerts as JSON objects, every field kept.
func (s *alertSite) rawAlerts(state string) []map[string]any {
	s.t.Helper()
	code, body := s.call("GET", "/api/v1/alerts?state="+state, "test-token", "")
	var list []map[string]any
	if code != 200 || json.Unmarshal(body, &list) != nil {
		s.t.Fatalf("GET alerts: %d %s", code, body)
	}
	return list
}

func (s *alertSite) rawAlert(id string) map[string]any {
	s.t.Helper()
	for _, a := range s.rawAlerts("all") {
		if a["id"] == id {
			return a
		}
	}
	s.t.Fatalf("alert %s not in the API", id)
	return nil
}

func waitAPI(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitEval evaluates expr in the page until it yields want ("" waits for
// any non-empty value), failing with the last value after timeout.
func (c *cdpClient) waitEval(t *testing.T, timeout time.Duration, expr, want string) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	// While the page loads, its elements may not be there yet.
	wrapped := "(() => { try { return String(" + expr + "); } catch (e) { return 'error: ' + e; } })()"
	for {
		got := c.eval(t, wrapped)
		if got == want || want == "" && got != "" {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("page: %s\n  = %q after %v, want %q", expr, got, timeout, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// navigate loads url in the page and waits until its document is complete.
func (c *cdpClient) navigate(t *testing.T, url string) {
	t.Helper()
	origin := "null" // about:blank
	if u, err := neturl.Parse(url); err == nil && u.Host != "" {
		origin = u.Scheme + "://" + u.Host
	}
	c.call(t, c.session, "Page.navigate", map[string]any{"url": url}, nil)
	c.waitEval(t, 30*time.Second, `document.readyState + " " + location.origin`, "complete "+origin)
}

// viewport sets the page's size, as a phone (touch, mobile) or a desktop.
func (c *cdpClient) viewport(t *testing.T, width, height int, mobile bool) {
	t.Helper()
	c.call(t, c.session, "Emulation.setDeviceMetricsOverride", map[string]any{
		"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}, nil)
	c.call(t, c.session, "Emulation.setTouchEmulationEnabled", map[string]any{"enabled": mobile}, nil)
	c.waitEval(t, 10*time.Second, `String(window.innerWidth)`, strconv.Itoa(width))
}

// screenshot writes a PNG of the page's viewport to path.
func (c *cdpClient) screenshot(t *testing.T, path string) {
	t.Helper()
	var res struct {
		Data string `json:"data"`
	}
	c.call(t, c.session, "Page.captureScreenshot", map[string]any{"format": "png"}, &res)
	b, err := base64.StdEncoding.DecodeString(res.Data)
	if err != nil || len(b) == 0 {
		t.Fatalf("screenshot: %v (%d bytes)", err, len(b))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", path)
}
