package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hazardgw/hazardgw/internal/testenv"
)

// TestDeployFiles checks the syntax of deploy/: every YAML file parses, the
// Grafana dashboard is JSON with unique panel ids whose queries use the
// provisioned datasource, the compose file's mounts exist, the compose
// gateway config passes `hazardgw check`, and the systemd unit has its
// hardening directives.
func TestDeployFiles(t *testing.T) {
	root := filepath.Join("..", "..", "deploy")
	var yamls []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err == nil && (strings.HasSuffix(path, ".yml") || strings.HasSuffix(path, ".yaml")) {
			yamls = append(yamls, path)
		}
		return err
	})
	if err != nil || len(yamls) < 4 {
		t.Fatalf("yaml files in deploy/: %v %v", yamls, err)
	}
	for _, p := range yamls {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var v map[string]any
		if err := yaml.Unmarshal(b, &v); err != nil || len(v) == 0 {
			t.Errorf("%s: %v (empty: %v)", p, err, len(v) == 0)
		}
	}

	// Compose: the services the README promises, and every bind mount exists.
	var compose struct {
		Services map[string]struct {
			Volumes []string `yaml:"volumes"`
		} `yaml:"services"`
	}
	b, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &compose); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"influxdb", "mosquitto", "sitesim", "hazardgw", "grafana"} {
		if _, ok := compose.Services[s]; !ok {
			t.Errorf("compose lacks service %s", s)
		}
	}
	for name, s := range compose.Services {
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, ".") {
				if _, err := os.Stat(filepath.Join(root, src)); err != nil {
					t.Errorf("service %s mounts %s: %v", name, src, err)
				}
			}
		}
	}

	// Dashboard.
	b, err = os.ReadFile(filepath.Join(root, "grafana", "hazardgw-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID    string `json:"uid"`
		Panels []struct {
			ID         int    `json:"id"`
			Type       string `json:"type"`
			Title      string `json:"title"`
			Datasource struct {
				UID string `json:"uid"`
			} `json:"datasource"`
			Targets []struct {
				Query string `json:"query"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	seen := map[int]bool{}
	measurements := map[string]bool{}
	for _, p := range dash.Panels {
		if seen[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		seen[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if p.Datasource.UID != "hazardgw-influxdb" || len(p.Targets) == 0 {
			t.Errorf("panel %q: datasource %q, %d queries", p.Title, p.Datasource.UID, len(p.Targets))
		}
		for _, q := range p.Targets {
			if strings.Contains(q.Query, "from(bucket") || strings.Contains(q.Query, "import ") {
				t.Errorf("panel %q: a Flux query; the dashboard is InfluxQL (InfluxDB 1.8 has no Flux schema package)", p.Title)
			}
			for _, m := range []string{"gas_detector", "tank", "weather_station", "device_status", "alert", "fire_detection", "checkpoint_passage", "hazardgw"} {
				if regexp.MustCompile(`FROM ("[a-z_]+", )*"` + m + `"`).MatchString(q.Query) {
					measurements[m] = true
				}
			}
		}
	}
	if len(measurements) != 8 {
		t.Errorf("dashboard queries only %v", measurements)
	}
	ds, err := os.ReadFile(filepath.Join(root, "grafana", "provisioning", "datasources", "influxdb.yml"))
	if err != nil || !strings.Contains(string(ds), "uid: hazardgw-influxdb") {
		t.Errorf("datasource provisioning lacks the dashboard's uid: %v", err)
	}

	// The compose gateway config.
	env := map[string]string{"HAZARDGW_API_TOKEN": "t", "INFLUX_TOKEN": "t",
		"DUTY_DESK_SECRET": "whsec_ZXhhbXBsZS1vbmx5LXJlcGxhY2UtbWUtMzItYnl0ZXM="}
	if _, err := LoadFile(filepath.Join(root, "hazardgw.yaml"), mapLookup(env)); err != nil {
		t.Errorf("deploy/hazardgw.yaml: %v", err)
	}

	// systemd unit and Mosquitto config: the settings the README relies on.
	for file, wants := range map[string][]string{
		"hazardgw.service": {"[Service]", "DynamicUser=yes", "StateDirectory=hazardgw", "ProtectSystem=strict",
			"NoNewPrivileges=yes", "Restart=always", "EnvironmentFile=", "LimitNOFILE=", "[Install]"},
		"mosquitto.conf": {"persistence true", "max_queued_messages ", "listener 1883"},
	} {
		b, err := os.ReadFile(filepath.Join(root, file))
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range wants {
			if !strings.Contains(string(b), "\n"+w) {
				t.Errorf("%s lacks %q", file, w)
			}
		}
	}
}

// TestSystemdUnit runs `systemd-analyze verify` on deploy/hazardgw.service
// (with its binary path pointed at a freshly built hazardgw, which verify
// requires to exist): any warning fails, such as a directive in the wrong
// section, which systemd ignores. It also checks, without systemd, that the
// unit never stops restarting: StartLimitIntervalSec=0 in [Unit].
func TestSystemdUnit(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "deploy", "hazardgw.service"))
	if err != nil {
		t.Fatal(err)
	}
	section := ""
	where := map[string]string{} // directive line -> its section
	for _, line := range strings.Split(string(src), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line
		case line != "" && !strings.HasPrefix(line, "#"):
			where[line] = section
		}
	}
	for directive, want := range map[string]string{
		"StartLimitIntervalSec=0": "[Unit]", "Restart=always": "[Service]",
		"ExecReload=/bin/kill -HUP $MAINPID": "[Service]", "WantedBy=multi-user.target": "[Install]",
	} {
		if got := where[directive]; got != want {
			t.Errorf("%s is in %q, want %s", directive, got, want)
		}
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatal("systemd-analyze not found: install Debian's systemd package (scripts/setup.sh does)")
	}
	unit := filepath.Join(t.TempDir(), "hazardgw.service")
	if err := os.WriteFile(unit, []byte(strings.ReplaceAll(string(src), "/usr/local/bin/hazardgw", testBinary(t))), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", unit).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// dashboardQueries returns every InfluxQL query of the Grafana dashboard:
// panel targets, template variables and annotations, by where they are.
func dashboardQueries(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "grafana", "hazardgw-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Templating struct {
			List []struct {
				Name, Query string
			} `json:"list"`
		} `json:"templating"`
		Annotations struct {
			List []struct {
				Name, Query string
			} `json:"list"`
		} `json:"annotations"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				RefID    string `json:"refId"`
				Query    string `json:"query"`
				RawQuery bool   `json:"rawQuery"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	qs := map[string]string{}
	for _, v := range dash.Templating.List {
		qs["variable "+v.Name] = v.Query
	}
	for _, a := range dash.Annotations.List {
		qs["annotation "+a.Name] = a.Query
	}
	for _, p := range dash.Panels {
		for _, q := range p.Targets {
			if !q.RawQuery {
				t.Errorf("panel %q target %s: not a raw InfluxQL query", p.Title, q.RefID)
			}
			qs["panel "+p.Title+" "+q.RefID] = q.Query
		}
	}
	return qs
}

// TestDashboardOnInfluxDB18 runs every query of the Grafana dashboard, with
// Grafana's macros filled in as Grafana does, against the InfluxDB 1.8 the
// tests start, holding a point of every measurement of the schema the
// gateway writes (README "Where the data goes"): each must parse and return
// data.
func TestDashboardOnInfluxDB18(t *testing.T) {
	db := testenv.InfluxDB(t)
	db.CreateDB("hazard")
	now := time.Now()
	var lp strings.Builder
	for i, line := range []string{
		`gas_detector,site=qz-petro-01,device=GD-101 ch4=12.5,h2s=3,co=7,o2=20.9,fault=false`,
		`tank,site=qz-petro-01,device=TK-01 level_mm=8123,temperature_c=21.5,pressure_kpa=101.2`,
		`weather_station,site=qz-petro-01,device=WS-01 air_temp_c=18.2,rh_pct=40,wind_ms=3.5`,
		`device_status,site=qz-petro-01,device=GD-101,kind=gas_detector,source=modbus online=true,rtt_ms=4.2`,
		`device_status,site=qz-petro-01,device=TK-01,kind=tank,source=modbus online=false,rtt_ms=1000,error="timeout"`,
		`alert,site=qz-petro-01,rule=combustible-gas,device=GD-101,point=ch4,level=high,severity=yellow status="firing",value=27.5,threshold=25,id="a1"`,
		`fire_detection,site=qz-petro-01,camera=CAM-07,type=smoke confidence=0.91,bearing_deg=120,distance_m=800,event_id="e1",image_url="http://x/1.jpg"`,
		`checkpoint_passage,site=qz-petro-01,checkpoint=CP-01,direction=in people=2i,vehicles=1i,plate="京A12345",voice_played=true`,
		`hazardgw,site=qz-petro-01,device=gateway spool_points=10,spool_bytes=2048,spool_fill=0.001,spool_oldest_age_s=3,spool_dropped=0,dead_lettered=0,written=100,sink_failing=false`,
	} {
		fmt.Fprintf(&lp, "%s %d\n", line, now.Add(-time.Duration(i+1)*time.Second).UnixNano())
	}
	if err := db.Write("hazard", lp.String()); err != nil {
		t.Fatal(err)
	}
	grafana := strings.NewReplacer(
		"${site:regex}", "(qz-petro-01)", // a multi-value variable, as Grafana formats it for a regex
		"$timeFilter", "time >= now() - 1h",
		"$__interval", "10s",
	)
	qs := dashboardQueries(t)
	if len(qs) < 15 {
		t.Fatalf("%d queries in the dashboard", len(qs))
	}
	for where, q := range qs {
		q = grafana.Replace(q)
		if grafanaMacro.MatchString(q) {
			t.Errorf("%s: a macro left: %s", where, q)
			continue
		}
		res, err := db.Query("hazard", q)
		if err != nil {
			t.Errorf("%s: %v", where, err)
			continue
		}
		if !hasValue(res) {
			t.Errorf("%s: no data for %s", where, q)
		}
	}
}

// grafanaMacro is a Grafana variable or macro ($name, ${name...}); a `$`
// ending a regex is not one.
var grafanaMacro = regexp.MustCompile(`\$(\{|[A-Za-z_])`)

// hasValue reports whether some row of res has a non-null value besides
// its time.
func hasValue(res *testenv.Result) bool {
	for _, s := range res.Series {
		for _, row := range s.Values {
			for i, v := range row {
				if v != nil && (i >= len(s.Columns) || s.Columns[i] != "time") {
					return true
				}
			}
		}
	}
	return false
}
