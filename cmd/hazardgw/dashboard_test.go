package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hazardgw/hazardgw/internal/testenv"
)

// dashboard is what the tests read of deploy/grafana/hazardgw-dashboard.json.
type dashboard struct {
	Templating struct {
		List []struct {
			Name     string `json:"name"`
			Query    string `json:"query"`
			Multi    bool   `json:"multi"`
			AllValue string `json:"allValue"`
		} `json:"list"`
	} `json:"templating"`
	Annotations struct {
		List []struct {
			Name  string `json:"name"`
			Query string `json:"query"`
		} `json:"list"`
	} `json:"annotations"`
	Panels []dashPanel `json:"panels"`
}

type dashPanel struct {
	Title   string `json:"title"`
	Type    string `json:"type"`
	Targets []struct {
		RefID    string `json:"refId"`
		Query    string `json:"query"`
		RawQuery bool   `json:"rawQuery"`
	} `json:"targets"`
	FieldConfig struct {
		Defaults struct {
			Unit string `json:"unit"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
}

func readDashboard(t *testing.T) *dashboard {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "grafana", "hazardgw-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	return &d
}

// deskSecret is the duty desk secret of deploy/docker-compose.yml's defaults.
const deskSecret = "whsec_ZXhhbXBsZS1vbmx5LXJlcGxhY2UtbWUtMzItYnl0ZXM="

// TestDashboardOnInfluxDB18 checks the Grafana dashboard against what the
// gateway really writes. It runs the deploy/ setup on this machine: sitesim
// (the Modbus devices of its default scenario, MQTT cameras and
// checkpoints, the duty desk) and the hazardgw binary on
// deploy/hazardgw.yaml, pointed at the InfluxDB 1.8 and Mosquitto the
// tests start. First `hazardgw read` on that config must read every device
// good. Then the gateway runs; once a tank stops answering and the methane
// reading rises (through sitesim's control API, as an engineer would on
// the demo), every query of the dashboard, its template variable filled in
// from the variable's own query and Grafana's macros as Grafana fills
// them, must return a series whose every column has data. Each time-series
// panel's unit must be the unit the gateway config gives its points (%LEL
// for combustible gas, %VOL for oxygen, …), and its title must name it.
// The deploy config rates fire danger from the weather station, and a
// panel plots each station's level and index: its query too must find
// data.
func TestDashboardOnInfluxDB18(t *testing.T) {
	dash := readDashboard(t)
	checkFireDangerPanel(t, dash)
	cfgText, err := os.ReadFile(filepath.Join("..", "..", "deploy", "hazardgw.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	units := pointUnits(t, cfgText)
	checkPanelUnits(t, dash, units)

	sitesim, gwBin := sitesimBinary(t), testBinary(t)
	db := testenv.InfluxDB(t)
	db.CreateDB("hazard")
	broker := testenv.Mosquitto(t)
	ports := testenv.FreePorts(t, 3)
	modbusAddr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	control := fmt.Sprintf("127.0.0.1:%d", ports[1])
	desk := fmt.Sprintf("127.0.0.1:%d", ports[2])

	site := startProcess(t, sitesim, []string{"DUTYDESK_SECRET=" + deskSecret},
		"-modbus-listen", modbusAddr, "-http", control,
		"-mqtt-url", broker.URL(), "-mqtt-site", "qz-petro-01", "-event-rate", "5",
		"-dutydesk-listen", desk)
	site.waitLog("control api listening", 1)
	site.waitLog("simulating MQTT devices", 1)

	// deploy/hazardgw.yaml with the compose network's hosts replaced by
	// this machine's services: each must be found exactly once, so that a
	// changed deploy file fails here rather than test something else.
	dir := t.TempDir()
	cfg := string(cfgText)
	for _, r := range [][2]string{
		{"tcp://sitesim:5020", "tcp://" + modbusAddr},
		{"tcp://mosquitto:1883", broker.URL()},
		{"http://influxdb:8086", db.URL()},
		{"http://sitesim:8091/api/alerts", "http://" + desk + "/api/alerts"},
		{"data_dir: /data ", "data_dir: " + filepath.Join(dir, "data") + " "},
		{"listen: 0.0.0.0:8080", `listen: "127.0.0.1:0"`},
	} {
		if n := strings.Count(cfg, r[0]); n != 1 {
			t.Fatalf("deploy/hazardgw.yaml has %q %d times, want once", r[0], n)
		}
		cfg = strings.Replace(cfg, r[0], r[1], 1)
	}
	cfgPath := filepath.Join(dir, "hazardgw.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"HAZARDGW_API_TOKEN=dashboard-test-token", "INFLUX_TOKEN=hazardgw:unused", "DUTY_DESK_SECRET=" + deskSecret}

	// Commissioning first: `hazardgw read` polls every device of the
	// deploy config once against sitesim; all answer, every point good.
	read := exec.Command(gwBin, "read", "-config", cfgPath)
	read.Env = append([]string{"PATH=/usr/bin:/bin"}, env...)
	var readOut, readErr strings.Builder
	read.Stdout, read.Stderr = &readOut, &readErr
	if code := exitCode(read.Run()); code != exitOK || readErr.Len() > 0 {
		t.Errorf("hazardgw read: exit %d\n%s%s", code, readOut.String(), readErr.String())
	}
	for _, row := range [][]string{{"GD-101", "ch4"}, {"GD-101", "o2"}, {"GD-102", "h2s"}, {"TK-101", "level_mm"}, {"WS-01", "wind_ms"}, {"WS-01", "rain_mm"}} {
		if !regexp.MustCompile(`(?m)^` + row[0] + ` +` + row[1] + ` +\S+ .*good$`).MatchString(readOut.String()) {
			t.Errorf("hazardgw read: no good %s %s in\n%s", row[0], row[1], readOut.String())
		}
	}

	gw := startProcess(t, gwBin, env, "run", "-config", cfgPath)
	gw.waitLog("hazardgw started", 1)

	// The tank stops answering once its readings are stored (device_status
	// gets an error, device-offline fires); GD-101's methane rises past
	// the first alarm level (combustible-gas fires).
	testenv.Eventually(t, 20*time.Second, func() bool { return db.Count("hazard", "tank", "") > 0 }, "tank readings in InfluxDB")
	simPut(t, "http://"+control+"/api/units/3/fault", `{"mode": "no_reply"}`)
	simPut(t, "http://"+control+"/api/units/1/points/ch4", `{"value": 31}`)

	// While waiting, stop at the first query without data (the gateway's
	// own measurement comes every 10 s); on failure, list them all.
	testenv.Eventually(t, 30*time.Second, func() bool {
		return len(emptyDashboardQueries(t, db, dash, true)) == 0
	}, "dashboard queries without data:\n%v", lazy(func() string {
		return strings.Join(emptyDashboardQueries(t, db, dash, false), "\n")
	}))

	gw.signal(syscall.SIGTERM)
	if code := gw.wait(); code != exitOK {
		t.Errorf("hazardgw exited %d", code)
	}
	site.signal(syscall.SIGTERM)
	if code := site.wait(); code != 0 {
		t.Errorf("sitesim exited %d", code)
	}
}

// lazy is a value whose text is computed when it is printed: for a
// failure message that costs queries.
type lazy func() string

func (l lazy) String() string { return l() }

func simPut(t *testing.T, url, body string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT %s: %s", url, resp.Status)
	}
}

// emptyDashboardQueries runs every query of the dashboard as Grafana would
// over the last hour and returns, one line each, those whose result lacks
// data: a query error, no series, or a column (besides time) that is null
// in every row; with firstOnly, it stops at the first. The site variable is
// first resolved by its own query, and each query runs for "All" and for
// each site on its own.
func emptyDashboardQueries(t *testing.T, db *testenv.Influx, dash *dashboard, firstOnly bool) []string {
	t.Helper()
	var bad []string
	type variable struct {
		name, all string
		values    []string
	}
	var vars []variable
	for _, v := range dash.Templating.List {
		res, err := db.Query("hazard", v.Query)
		if err != nil {
			bad = append(bad, fmt.Sprintf("variable %s: %v", v.Name, err))
			continue
		}
		var vals []string
		for _, s := range res.Series {
			for _, row := range s.Values { // SHOW TAG VALUES: key, value
				if len(row) == 2 {
					if s, ok := row[1].(string); ok {
						vals = append(vals, s)
					}
				}
			}
		}
		slices.Sort(vals) // one row per measurement that has the tag
		vals = slices.Compact(vals)
		if len(vals) == 0 {
			bad = append(bad, fmt.Sprintf("variable %s: no values from %s", v.Name, v.Query))
			continue
		}
		vars = append(vars, variable{v.Name, v.AllValue, vals})
	}
	if len(bad) > 0 {
		return bad
	}
	// Grafana's choices for the variables: All, then each value alone.
	choices := []map[string]string{{}}
	for _, v := range vars {
		choices[0][v.name] = v.all
		for _, val := range v.values {
			choices = append(choices, map[string]string{v.name: regexp.QuoteMeta(val)})
		}
	}
	queries := map[string]string{}
	for _, a := range dash.Annotations.List {
		queries["annotation "+a.Name] = a.Query
	}
	for _, p := range dash.Panels {
		for _, q := range p.Targets {
			queries[fmt.Sprintf("panel %q %s", p.Title, q.RefID)] = q.Query
		}
	}
	where := slices.Sorted(func(yield func(string) bool) {
		for k := range queries {
			if !yield(k) {
				return
			}
		}
	})
	for _, choice := range choices {
		for _, w := range where {
			if firstOnly && len(bad) > 0 {
				return bad
			}
			q := grafanaInterpolate(queries[w], choice, time.Now())
			if grafanaMacro.MatchString(q) {
				bad = append(bad, fmt.Sprintf("%s: a macro left: %s", w, q))
				continue
			}
			res, err := db.Query("hazard", q)
			if err != nil {
				bad = append(bad, fmt.Sprintf("%s: %v", w, err))
				continue
			}
			if missing := emptyColumns(res); missing != "" {
				bad = append(bad, fmt.Sprintf("%s (site %q): %s: %s", w, choice["site"], missing, q))
			}
		}
	}
	return bad
}

// grafanaInterpolate fills in a query as Grafana 11's InfluxQL datasource
// does for a dashboard showing the hour before now: variables (each value
// already formatted as a regex) and the time macros.
func grafanaInterpolate(q string, vars map[string]string, now time.Time) string {
	from, to := now.Add(-time.Hour).UnixMilli(), now.UnixMilli()
	timeFilter := fmt.Sprintf("time >= %dms and time <= %dms", from, to)
	var pairs []string
	for name, v := range vars {
		pairs = append(pairs, "${"+name+":regex}", v, "${"+name+"}", v, "[["+name+"]]", v, "$"+name, v)
	}
	pairs = append(pairs,
		"$__timeFilter", timeFilter, "$timeFilter", timeFilter,
		// 1 h over a panel about 1000 pixels wide: Grafana rounds 3.6 s to 5 s.
		"$__interval_ms", "5000", "$__interval", "5s", "$interval", "5s")
	return strings.NewReplacer(pairs...).Replace(q)
}

// grafanaMacro is a Grafana variable or macro ($name, ${name...},
// [[name]]); a `$` ending a regex is not one.
var grafanaMacro = regexp.MustCompile(`\$(\{|[A-Za-z_])|\[\[`)

// emptyColumns describes what res lacks: "no series", or the columns
// (besides time) that are null in every row of every series; "" if
// nothing.
func emptyColumns(res *testenv.Result) string {
	if len(res.Series) == 0 {
		return "no series"
	}
	seen := map[string]bool{}
	for _, s := range res.Series {
		for i, c := range s.Columns {
			if c == "time" {
				continue
			}
			for _, row := range s.Values {
				if i < len(row) && row[i] != nil {
					seen[c] = true
				}
			}
			if !seen[c] {
				seen[c] = false
			}
		}
	}
	var none []string
	for c, ok := range seen {
		if !ok {
			none = append(none, c)
		}
	}
	if len(none) == 0 {
		return ""
	}
	sort.Strings(none)
	return "no data in column " + strings.Join(none, ", ")
}

// pointUnits maps "measurement.field" to its unit: the Modbus points of the
// gateway config (kind.point), and the gateway's own fields that have one.
func pointUnits(t *testing.T, cfg []byte) map[string]string {
	t.Helper()
	var f struct {
		Modbus struct {
			Links []struct {
				Devices []struct {
					Kind   string `yaml:"kind"`
					Points []struct {
						Name string `yaml:"name"`
						Unit string `yaml:"unit"`
					} `yaml:"points"`
				} `yaml:"devices"`
			} `yaml:"links"`
		} `yaml:"modbus"`
	}
	if err := yaml.Unmarshal(cfg, &f); err != nil {
		t.Fatal(err)
	}
	units := map[string]string{"device_status.rtt_ms": "ms"}
	for _, l := range f.Modbus.Links {
		for _, d := range l.Devices {
			for _, p := range d.Points {
				if p.Unit != "" {
					units[d.Kind+"."+p.Name] = p.Unit
				}
			}
		}
	}
	return units
}

// grafanaUnits is the Grafana unit id of each unit the gateway config uses.
var grafanaUnits = map[string]string{
	"%LEL": "suffix: %LEL", "%VOL": "suffix: %VOL", "ppm": "ppm", "mm": "lengthmm", "ms": "ms",
	"°C": "celsius", "kPa": "pressurekpa", "m/s": "velocityms", "%": "percent", "m3/h": "flowcms",
}

// selectFields matches the measurement and the fields a panel plots:
// `max("ch4") AS "ch4" FROM "gas_detector"`.
var (
	selectedField = regexp.MustCompile(`\(\"([a-z0-9_]+)\"\)`)
	fromClause    = regexp.MustCompile(`FROM "([a-z_]+)"`)
)

// checkPanelUnits: a time-series panel whose points all have one unit shows
// it (Grafana's unit id for it) and names it in the title; one whose points
// have several units shows none (a single axis unit would mislabel all but
// one) and names each in the title. Combustible gas and oxygen must be
// among the panels checked.
func checkPanelUnits(t *testing.T, dash *dashboard, units map[string]string) {
	t.Helper()
	checked := map[string]bool{}
	for _, p := range dash.Panels {
		if p.Type != "timeseries" {
			continue
		}
		set := map[string]bool{}
		for _, q := range p.Targets {
			m := fromClause.FindStringSubmatch(q.Query)
			if m == nil {
				t.Errorf("panel %q: no FROM in %s", p.Title, q.Query)
				continue
			}
			for _, f := range selectedField.FindAllStringSubmatch(q.Query, -1) {
				if u, ok := units[m[1]+"."+f[1]]; ok {
					set[u] = true
					checked[m[1]+"."+f[1]] = true
				}
			}
		}
		us := slices.Sorted(func(yield func(string) bool) {
			for u := range set {
				if !yield(u) {
					return
				}
			}
		})
		for _, u := range us {
			if _, ok := grafanaUnits[u]; !ok {
				t.Errorf("panel %q: no Grafana unit known for %q (add it to grafanaUnits)", p.Title, u)
			}
			if !strings.Contains(p.Title, u) {
				t.Errorf("panel %q: the title does not name the unit %s", p.Title, u)
			}
		}
		got := p.FieldConfig.Defaults.Unit
		switch {
		case len(us) == 1 && got != grafanaUnits[us[0]]:
			t.Errorf("panel %q: unit %q, want %q (%s)", p.Title, got, grafanaUnits[us[0]], us[0])
		case len(us) > 1 && got != "":
			t.Errorf("panel %q: unit %q for points in %s: want none", p.Title, got, strings.Join(us, ", "))
		}
	}
	for _, f := range []string{"gas_detector.ch4", "gas_detector.o2", "gas_detector.h2s", "tank.level_mm"} {
		if !checked[f] {
			t.Errorf("no time-series panel plots %s with its unit %q", f, units[f])
		}
	}
	if t.Failed() {
		t.Logf("units by field: %s", strconv.Quote(fmt.Sprint(units)))
	}
}

// checkFireDangerPanel: a time-series panel plots the fire_danger
// measurement's level and index, one series per station.
func checkFireDangerPanel(t *testing.T, dash *dashboard) {
	t.Helper()
	for _, p := range dash.Panels {
		if p.Type != "timeseries" {
			continue
		}
		for _, q := range p.Targets {
			m := fromClause.FindStringSubmatch(q.Query)
			if m == nil || m[1] != "fire_danger" {
				continue
			}
			fields := map[string]bool{}
			for _, f := range selectedField.FindAllStringSubmatch(q.Query, -1) {
				fields[f[1]] = true
			}
			if fields["level"] && fields["index"] && strings.Contains(q.Query, `GROUP BY time($__interval), "station"`) {
				return
			}
		}
	}
	t.Error(`no time-series panel plots fire_danger's "level" and "index" grouped by "station"`)
}
