package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hazardgw/hazardgw/internal/testenv"
	"github.com/hazardgw/hazardgw/simulators/mqttsim"
)

// TestDemo is the acceptance test of `make demo`: it runs scripts/demo.sh
// itself on free ports, waits for the gas leak's red alert at the duty desk,
// acknowledges it on the duty desk page in a headless Chromium as an officer
// would, sees the gateway report it acknowledged, checks the forest part
// (demoForest), and stops the demo with SIGINT as Ctrl-C would, leaving
// nothing listening.
func TestDemo(t *testing.T) {
	chromium := chromiumBinary(t) // before anything starts: a missing tool fails at once
	mosqSub, err := exec.LookPath("mosquitto_sub")
	if err != nil {
		t.Fatal("mosquitto_sub not found: scripts/setup.sh installs mosquitto-clients")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	fire := demoScriptedFire(t, root)
	const token = "e2e-demo-token"
	ports := map[string]int{}
	names := []string{"API", "DESK", "SITESIM", "MODBUS", "MQTT", "INFLUX", "INFLUX_RPC"}
	for i, port := range testenv.FreePorts(t, len(names)) {
		ports[names[i]] = port
	}
	env := []string{"DEMO_DIR=" + t.TempDir(), "DEMO_BIN=" + t.TempDir(), "HAZARDGW_API_TOKEN=" + token}
	for name, port := range ports {
		env = append(env, fmt.Sprintf("DEMO_%s_PORT=%d", name, port))
	}
	demo := startDemo(t, root, env)
	desk := fmt.Sprintf("http://127.0.0.1:%d", ports["DESK"])
	api := fmt.Sprintf("http://127.0.0.1:%d", ports["API"])

	// Building both binaries and starting InfluxDB come first; the site's
	// timeline starts with sitesim, which serves the desk.
	demoWait(t, demo, 150*time.Second, "the duty desk to answer", func() bool {
		resp, err := http.Get(desk + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	var red demoDeskAlert
	demoWait(t, demo, 2*time.Minute, "the red combustible-gas alert at the duty desk", func() bool {
		for _, d := range demoDeskDeliveries(t, desk) {
			if d.Alert.Rule == "combustible-gas" && d.Alert.Device == "GD-101" && d.Alert.Severity == "red" {
				red = d.Alert
				return true
			}
		}
		return false
	})
	t.Logf("red alert %s at the duty desk: %s", red.ID, red.Message)

	// The officer's page: type a name, click Acknowledge on the red gas card.
	cdp := startChromium(t, chromium, desk+"/")
	const officer = "e2e-officer"
	const clickJS = `(() => {
  const by = document.getElementById("by");
  if (!by) return "loading";
  by.value = %q;
  const card = [...document.querySelectorAll("#list .alert.red")].find(c => {
    const m = c.querySelector(".meta");
    return m && m.textContent.includes("GD-101") && m.textContent.includes("ch4");
  });
  if (!card) return "no red gas card";
  if (card.textContent.includes("已确认")) return "acknowledged";
  const b = card.querySelector("button");
  if (!b) return "no button";
  if (!b.disabled) b.click();
  return "clicked";
})()`
	var last string
	demoWait(t, demo, 60*time.Second, "the page to show the red gas alert acknowledged", func() bool {
		last = cdp.eval(t, fmt.Sprintf(clickJS, officer))
		return last == "acknowledged"
	})

	// The gateway agrees.
	var got demoAPIAlert
	demoWait(t, demo, 30*time.Second, "the gateway to report the alert acknowledged", func() bool {
		for _, a := range demoGatewayAlerts(t, api, token) {
			if a.ID == red.ID {
				got = a
				return a.Acknowledged
			}
		}
		return false
	})
	if got.AcknowledgedBy != officer {
		t.Errorf("gateway says acknowledged by %q; the page sent %q", got.AcknowledgedBy, officer)
	}
	cdp.close()

	demoForest(t, demo, demoPorts{desk: desk, influx: ports["INFLUX"], mqtt: ports["MQTT"], sitesim: ports["SITESIM"]}, mosqSub, fire)

	// Ctrl-C: everything stops, and nothing listens any more.
	demo.interrupt(t, 60*time.Second)
	for name, port := range ports {
		if c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second); err == nil {
			c.Close()
			t.Errorf("port %d (DEMO_%s_PORT) still accepts connections after the demo stopped", port, name)
		}
	}
}

// TestForestExampleUsesTheForestFeatures: configs/forest-site.example.yaml,
// the file a forest site starts from, passes `hazardgw check` and shows
// every forest feature: the danger station and its four points, the
// checkpoints' command topic and texts, the voice-missed rule, fire-danger
// rules on levels 3, 4, 5 (yellow, orange, red), located cameras, a
// declared checkpoint, triangulate_window and max_event_age.
func TestForestExampleUsesTheForestFeatures(t *testing.T) {
	path := filepath.Join("..", "..", "configs", "forest-site.example.yaml")
	out, err := exec.Command(hazardgwBin(t, false), "check", "-config", path).CombinedOutput()
	if err != nil {
		t.Fatalf("hazardgw check: %v\n%s", err, out)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		MQTT struct {
			Devices []struct {
				ID       string          `yaml:"id"`
				Kind     string          `yaml:"kind"`
				Location *mqttsim.LatLon `yaml:"location"`
			} `yaml:"devices"`
		} `yaml:"mqtt"`
		Forest struct {
			TriangulateWindow string `yaml:"triangulate_window"`
			MaxEventAge       string `yaml:"max_event_age"`
			Danger            struct {
				Station string            `yaml:"station"`
				Points  map[string]string `yaml:"points"`
			} `yaml:"danger"`
			Checkpoints struct {
				CommandTopic string         `yaml:"command_topic"`
				Texts        map[int]string `yaml:"texts"`
			} `yaml:"checkpoints"`
		} `yaml:"forest"`
		Alerting struct {
			Rules []struct {
				Match struct {
					Kind string `yaml:"kind"`
				} `yaml:"match"`
				VoiceMissed *struct {
					MinLevel int `yaml:"min_level"`
				} `yaml:"voice_missed"`
				Thresholds []struct {
					Above    *float64 `yaml:"above"`
					Severity string   `yaml:"severity"`
				} `yaml:"thresholds"`
			} `yaml:"rules"`
		} `yaml:"alerting"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	f := cfg.Forest
	if f.TriangulateWindow == "" || f.MaxEventAge == "" {
		t.Errorf("forest.triangulate_window %q, max_event_age %q: both should be shown", f.TriangulateWindow, f.MaxEventAge)
	}
	if f.Danger.Station == "" || len(f.Danger.Points) != 4 {
		t.Errorf("forest.danger: station %q, points %v", f.Danger.Station, f.Danger.Points)
	}
	if f.Checkpoints.CommandTopic == "" || len(f.Checkpoints.Texts) == 0 {
		t.Errorf("forest.checkpoints: %+v", f.Checkpoints)
	}
	located, checkpoints := 0, 0
	for _, d := range cfg.MQTT.Devices {
		if d.Kind == "camera" && d.Location != nil {
			located++
		}
		if d.Kind == "checkpoint" {
			checkpoints++
		}
	}
	if located < 2 || checkpoints == 0 {
		t.Errorf("mqtt.devices: %d located cameras (want two, to triangulate), %d checkpoints", located, checkpoints)
	}
	voice, danger := false, map[float64]string{}
	for _, r := range cfg.Alerting.Rules {
		if r.Match.Kind == "checkpoint_passage" && r.VoiceMissed != nil {
			voice = true
		}
		if r.Match.Kind == "fire_danger" {
			for _, th := range r.Thresholds {
				if th.Above != nil {
					danger[*th.Above] = th.Severity
				}
			}
		}
	}
	if !voice {
		t.Error("no voice-missed rule")
	}
	if want := map[float64]string{3: "yellow", 4: "orange", 5: "red"}; !maps.Equal(danger, want) {
		t.Errorf("fire_danger thresholds %v, want %v", danger, want)
	}
}

// chromiumBinary finds Debian's chromium, failing the test when it is missing.
func chromiumBinary(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("HAZARDGW_CHROMIUM"), "chromium", "/usr/bin/chromium"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium not found (apt-get install chromium; scripts/setup.sh installs it), or set HAZARDGW_CHROMIUM")
	return ""
}

// demoProc is scripts/demo.sh running in its own process group.
type demoProc struct {
	cmd    *exec.Cmd
	out    *testenv.Buffer
	dir    string
	exited chan struct{}
	err    error
}

func startDemo(t *testing.T, root string, env []string) *demoProc {
	t.Helper()
	cmd := exec.Command("bash", filepath.Join(root, "scripts", "demo.sh"))
	cmd.Dir = root
	// The demo's own settings only: no INFLUX_URL (it starts its InfluxDB), no stray DEMO_*.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DEMO_") && !strings.HasPrefix(kv, "INFLUX_URL=") && !strings.HasPrefix(kv, "INFLUX_TOKEN=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	d := &demoProc{cmd: cmd, out: &testenv.Buffer{}, exited: make(chan struct{})}
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "DEMO_DIR="); ok {
			d.dir = v
		}
	}
	cmd.Stdout, cmd.Stderr = d.out, d.out
	// Its own group, as under a shell, so that it alone gets our signals.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.err = cmd.Wait(); close(d.exited) }()
	t.Cleanup(func() {
		select {
		case <-d.exited:
		default:
			// A failed test: the script stops its children (each in a
			// session of its own) on SIGINT; SIGKILL only if it hangs.
			_ = cmd.Process.Signal(os.Interrupt)
			select {
			case <-d.exited:
			case <-time.After(45 * time.Second):
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-d.exited
			}
		}
		if t.Failed() {
			t.Logf("scripts/demo.sh output:\n%s", tail(d.out.String(), 60))
			for _, name := range []string{"hazardgw", "sitesim", "influxd"} {
				if b, err := os.ReadFile(filepath.Join(d.dir, name+".log")); err == nil {
					t.Logf("%s.log:\n%s", name, tail(string(b), 30))
				}
			}
		}
	})
	return d
}

// interrupt sends SIGINT, as Ctrl-C does, and wants exit 0 within timeout.
func (d *demoProc) interrupt(t *testing.T, timeout time.Duration) {
	t.Helper()
	if err := d.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatalf("interrupt the demo: %v", err)
	}
	select {
	case <-d.exited:
		if d.err != nil {
			t.Fatalf("demo exited with %v after SIGINT; want 0", d.err)
		}
	case <-time.After(timeout):
		t.Fatalf("demo did not stop within %v of SIGINT", timeout)
	}
	// The script waits for its children (each in a session of its own);
	// the caller checks that their ports are closed.
	if err := syscall.Kill(-d.cmd.Process.Pid, 0); err == nil {
		t.Errorf("processes of the demo's group still run after it exited")
	}
}

// demoWait polls cond every 500 ms, failing at once when the demo exits.
func demoWait(t *testing.T, d *demoProc, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		select {
		case <-d.exited:
			t.Fatalf("demo exited (%v) while waiting for %s", d.err, what)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, timeout)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

type demoDeskAlert struct {
	ID       string `json:"id"`
	Rule     string `json:"rule"`
	Device   string `json:"device"`
	Level    string `json:"level"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
}

// demoDelivery is a delivery at the duty desk: the notification's type,
// its data as the desk reads it, and the camera members of its body.
type demoDelivery struct {
	Type  string        `json:"type"`
	Alert demoDeskAlert `json:"alert"`
	Body  struct {
		Data struct {
			EventTime  string   `json:"event_time"`
			BearingDeg *float64 `json:"bearing_deg"`
			DistanceM  *float64 `json:"distance_m"`
			Location   *struct {
				Lat     float64  `json:"lat"`
				Lon     float64  `json:"lon"`
				Method  string   `json:"method"`
				Cameras []string `json:"cameras"`
			} `json:"location"`
		} `json:"data"`
	} `json:"body"`
}

func demoDeskDeliveries(t *testing.T, desk string) []demoDelivery {
	t.Helper()
	var v struct {
		Deliveries []demoDelivery `json:"deliveries"`
	}
	demoGetJSON(t, desk+"/deliveries.json", "", &v)
	return v.Deliveries
}

// demoPorts are where the forest part of the demo is looked at.
type demoPorts struct {
	desk                  string // the duty desk's base URL
	influx, mqtt, sitesim int
}

// demoScriptedFire reads the fire of the demo's scenario and checks that
// configs/demo.yaml declares its cameras where the scenario puts them.
func demoScriptedFire(t *testing.T, root string) mqttsim.LatLon {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "configs", "scenarios", "demo.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	sc, err := mqttsim.ParseScript(b)
	if err != nil {
		t.Fatal(err)
	}
	if sc.Fire == nil || len(sc.Fire.SeenBy) < 2 {
		t.Fatalf("the demo's scenario has no fire seen by two cameras: %+v", sc)
	}
	b, err = os.ReadFile(filepath.Join(root, "configs", "demo.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		MQTT struct {
			Devices []struct {
				ID       string          `yaml:"id"`
				Location *mqttsim.LatLon `yaml:"location"`
			} `yaml:"devices"`
		} `yaml:"mqtt"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	for _, id := range sc.Fire.SeenBy {
		i := slices.IndexFunc(cfg.MQTT.Devices, func(d struct {
			ID       string          `yaml:"id"`
			Location *mqttsim.LatLon `yaml:"location"`
		}) bool {
			return d.ID == id
		})
		if i < 0 || cfg.MQTT.Devices[i].Location == nil || *cfg.MQTT.Devices[i].Location != sc.Cameras[id] {
			t.Fatalf("configs/demo.yaml does not declare %s at the scenario's %+v", id, sc.Cameras[id])
		}
	}
	return sc.Fire.At
}

// demoForest checks the forest part of the running demo: the fire danger
// reaches level 4 (fire-danger orange at the duty desk, level 4 in the
// fire_danger series of InfluxDB); the level 4 voice command is retained
// on KK-01's command topic (a fresh mosquitto_sub gets it) and sitesim's
// KK-01 plays it; CAM-01's smoke then fire is one occurrence (alert.firing,
// then alert.changed with the same id) with the fire's position in
// data.location, triangulated with CAM-02 once both have seen it; and the
// demo's terminal shows all of it in its timeline.
func demoForest(t *testing.T, demo *demoProc, p demoPorts, mosqSub string, fire mqttsim.LatLon) {
	t.Helper()
	var changed demoDelivery
	demoWait(t, demo, 2*time.Minute, "CAM-01's forest-fire alert changed to fire at the duty desk", func() bool {
		for _, d := range demoDeskDeliveries(t, p.desk) {
			if d.Alert.Rule == "forest-fire" && d.Alert.Device == "CAM-01" && d.Type == "alert.changed" && d.Alert.Level == "fire" {
				changed = d
				return true
			}
		}
		return false
	})
	demoWait(t, demo, time.Minute, "fire-danger level 4 (orange) at the duty desk", func() bool {
		return slices.ContainsFunc(demoDeskDeliveries(t, p.desk), func(d demoDelivery) bool {
			return d.Alert.Rule == "fire-danger" && d.Alert.Device == "WS-01" && d.Alert.Level == "level-4" && d.Alert.Severity == "orange"
		})
	})

	// One occurrence: the smoke fired it, the fire changed it.
	var cam []demoDelivery
	for _, d := range demoDeskDeliveries(t, p.desk) {
		if d.Alert.Rule == "forest-fire" && d.Alert.Device == "CAM-01" {
			cam = append(cam, d)
		}
	}
	near := func(lat, lon float64) bool { return math.Abs(lat-fire.Lat) < 0.001 && math.Abs(lon-fire.Lon) < 0.001 } // about 100 m
	firing := 0
	for _, d := range cam {
		if d.Alert.ID != changed.Alert.ID {
			t.Errorf("CAM-01's forest-fire deliveries are more than one occurrence: %s %s (%s), %s", d.Type, d.Alert.ID, d.Alert.Level, changed.Alert.ID)
		}
		if d.Type != "alert.firing" {
			continue
		}
		firing++
		l := d.Body.Data.Location
		if d.Alert.Level != "smoke" || l == nil || !near(l.Lat, l.Lon) || d.Body.Data.BearingDeg == nil || d.Body.Data.EventTime == "" {
			t.Errorf("CAM-01's alert fired with level %q, data %+v; want smoke at the scripted fire %+v", d.Alert.Level, d.Body.Data, fire)
		}
	}
	if firing != 1 {
		t.Errorf("CAM-01's forest-fire alert fired %d times, want once (smoke), then changed to fire", firing)
	}
	l := changed.Body.Data.Location
	if l == nil || l.Method != "triangulated" || !slices.Equal(l.Cameras, []string{"CAM-01", "CAM-02"}) || !near(l.Lat, l.Lon) {
		t.Errorf("CAM-01's fire alert data.location %+v, want triangulated from CAM-01 and CAM-02 near %+v", l, fire)
	}
	if !strings.Contains(changed.Alert.Message, "北纬") || !strings.Contains(changed.Alert.Message, "交会定位") {
		t.Errorf("CAM-01's fire alert message gives no position: %s", changed.Alert.Message)
	}

	// The rating itself, in InfluxDB.
	demoWait(t, demo, time.Minute, "fire_danger level 4 in InfluxDB", func() bool {
		var v struct {
			Results []struct {
				Series []struct {
					Values [][]any `json:"values"`
				} `json:"series"`
			} `json:"results"`
		}
		q := url.Values{"db": {"hazard"}, "q": {`SELECT max("level") FROM fire_danger WHERE station = 'WS-01'`}}
		demoGetJSON(t, fmt.Sprintf("http://127.0.0.1:%d/query?%s", p.influx, q.Encode()), "", &v)
		return len(v.Results) == 1 && len(v.Results[0].Series) == 1 && len(v.Results[0].Series[0].Values) == 1 &&
			v.Results[0].Series[0].Values[0][1] == 4.0
	})

	// The voice command, retained for a checkpoint that connects later.
	var cmd struct {
		Cmd   string `json:"cmd"`
		Level int    `json:"level"`
		Text  string `json:"text"`
	}
	demoWait(t, demo, time.Minute, "the level 4 voice command retained on KK-01's command topic", func() bool {
		out, err := exec.Command(mosqSub, "-h", "127.0.0.1", "-p", strconv.Itoa(p.mqtt), "-i", "e2e-demo-fresh-sub", "-q", "1",
			"-t", "site/qz-petro-01/checkpoint/KK-01/command", "--retained-only", "-C", "1", "-W", "5").Output()
		return err == nil && json.Unmarshal(out, &cmd) == nil && cmd.Level == 4
	})
	if cmd.Cmd != "voice" || !strings.Contains(cmd.Text, "四级") {
		t.Errorf("retained command %+v", cmd)
	}
	var kks []mqttsim.CheckpointState
	demoGetJSON(t, fmt.Sprintf("http://127.0.0.1:%d/api/mqtt/checkpoints", p.sitesim), "", &kks)
	i := slices.IndexFunc(kks, func(k mqttsim.CheckpointState) bool { return k.Checkpoint == "KK-01" })
	if i < 0 || !kks[i].Plays || kks[i].Last == nil || kks[i].Last.Level != 4 {
		t.Errorf("sitesim's checkpoints report %+v; want KK-01 playing the level 4 command", kks)
	}

	// The terminal's timeline shows it.
	demoWait(t, demo, 30*time.Second, "the forest part in the demo's timeline", func() bool {
		out := demo.out.String()
		return regexp.MustCompile(`desk +alert\.(firing|changed) +fire-danger WS-01 level-4 orange`).MatchString(out) &&
			regexp.MustCompile(`KK-01 +plays voice command level 4: 当前森林火险等级为四级`).MatchString(out) &&
			regexp.MustCompile(`desk +alert\.firing +forest-fire CAM-01 smoke red: .*北纬`).MatchString(out) &&
			regexp.MustCompile(`desk +alert\.changed +forest-fire CAM-01 fire red: .*北纬 .*交会定位`).MatchString(out)
	})
}

type demoAPIAlert struct {
	ID             string `json:"id"`
	Acknowledged   bool   `json:"acknowledged"`
	AcknowledgedBy string `json:"acknowledged_by"`
}

func demoGatewayAlerts(t *testing.T, api, token string) []demoAPIAlert {
	t.Helper()
	var v []demoAPIAlert
	demoGetJSON(t, api+"/api/v1/alerts?state=all", token, &v)
	return v
}

// demoGetJSON decodes a 200 answer into v; other answers leave v as it is.
func demoGetJSON(t *testing.T, url, token string, v any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// cdpClient drives a headless Chromium over the DevTools protocol on a pipe
// (--remote-debugging-pipe: commands on the browser's fd 3, answers and
// events on its fd 4, each message ending in a NUL byte), attached to the
// page it opened.
type cdpClient struct {
	cmd     *exec.Cmd
	w       io.WriteCloser
	msgs    chan cdpMessage
	stop    chan struct{} // closed by close: the reader gives up
	done    chan struct{} // closed when the reader has returned
	exited  chan struct{}
	once    sync.Once
	id      int
	session string
}

type cdpMessage struct {
	ID     int             `json:"id"`
	Method string          `json:"method"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// startChromium starts a headless Chromium on url, with extra flags if any.
func startChromium(t *testing.T, bin, url string, flags ...string) *cdpClient {
	t.Helper()
	cmdR, cmdW, err := os.Pipe() // we write commands, the browser reads fd 3
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe() // the browser writes fd 4, we read
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir="+t.TempDir(), "--remote-debugging-pipe")
	cmd.Args = append(append(cmd.Args, flags...), url)
	cmd.ExtraFiles = []*os.File{cmdR, outW}
	log := &testenv.Buffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	cmdR.Close()
	outW.Close()
	c := &cdpClient{cmd: cmd, w: cmdW, msgs: make(chan cdpMessage, 64), stop: make(chan struct{}),
		done: make(chan struct{}), exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(c.exited) }()
	go c.read(outR)
	t.Cleanup(func() {
		c.close()
		if t.Failed() {
			t.Logf("chromium output:\n%s", tail(log.String(), 30))
		}
	})

	// Attach to the page the browser opened.
	var targets struct {
		TargetInfos []struct {
			TargetID string `json:"targetId"`
			Type     string `json:"type"`
		} `json:"targetInfos"`
	}
	var page string
	deadline := time.Now().Add(30 * time.Second)
	for page == "" {
		c.call(t, "", "Target.getTargets", nil, &targets)
		for _, ti := range targets.TargetInfos {
			if ti.Type == "page" {
				page = ti.TargetID
			}
		}
		if page == "" {
			if time.Now().After(deadline) {
				t.Fatal("chromium opened no page within 30 s")
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	c.call(t, "", "Target.attachToTarget", map[string]any{"targetId": page, "flatten": true}, &attached)
	c.session = attached.SessionID
	return c
}

func (c *cdpClient) read(r io.ReadCloser) {
	defer close(c.done)
	defer close(c.msgs)
	defer r.Close()
	br := bufio.NewReader(r)
	for {
		b, err := br.ReadBytes(0)
		if err != nil {
			return
		}
		var m cdpMessage
		if json.Unmarshal(b[:len(b)-1], &m) != nil || m.ID == 0 {
			continue // events: not needed
		}
		select {
		case c.msgs <- m:
		case <-c.stop:
			return
		}
	}
}

// call sends one command (to the browser, or to the attached page when
// session is set) and decodes its result into out.
func (c *cdpClient) call(t *testing.T, session, method string, params, out any) {
	t.Helper()
	c.id++
	msg := map[string]any{"id": c.id, "method": method}
	if params != nil {
		msg["params"] = params
	}
	if session != "" {
		msg["sessionId"] = session
	}
	b, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.w.Write(append(b, 0)); err != nil {
		t.Fatalf("cdp %s: %v", method, err)
	}
	timeout := time.After(30 * time.Second)
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				t.Fatalf("cdp %s: chromium closed the pipe", method)
			}
			if m.ID != c.id {
				continue
			}
			if m.Error != nil {
				t.Fatalf("cdp %s: %s", method, m.Error.Message)
			}
			if out != nil {
				if err := json.Unmarshal(m.Result, out); err != nil {
					t.Fatalf("cdp %s: %v", method, err)
				}
			}
			return
		case <-timeout:
			t.Fatalf("cdp %s: no answer within 30 s", method)
		}
	}
}

// eval evaluates a JavaScript expression in the page and returns its value
// as a string.
func (c *cdpClient) eval(t *testing.T, expr string) string {
	t.Helper()
	var res struct {
		Result struct {
			Value any `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	c.call(t, c.session, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &res)
	if res.ExceptionDetails != nil {
		t.Fatalf("javascript: %s", res.ExceptionDetails.Text)
	}
	return fmt.Sprint(res.Result.Value)
}

// close stops the browser and waits for it and the reader; it may be called twice.
func (c *cdpClient) close() {
	c.once.Do(func() {
		close(c.stop)
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.exited:
		case <-time.After(10 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.exited
		}
		c.w.Close()
		<-c.done
	})
}
