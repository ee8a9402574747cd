package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
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
