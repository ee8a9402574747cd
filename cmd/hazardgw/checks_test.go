package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hazardgw/hazardgw/adapters/modbus"
	"github.com/hazardgw/hazardgw/internal/conf"
)

// TestRulesOnSelfMonitoring: every field of the `hazardgw` measurement
// (docs/configuration.md) can be matched by a rule.
func TestRulesOnSelfMonitoring(t *testing.T) {
	src := `site: {id: s1}
influxdb: {url: "http://127.0.0.1:8086", bucket: b}
modbus:
  links:
    - name: panel
      url: tcp://127.0.0.1:5020
      devices:
        - id: GD-101
          kind: gas_detector
          points:
            - {name: ch4, area: holding, address: 0, type: float32}
alerting:
  rules:
    - name: influx-down
      match: {kind: hazardgw, point: sink_failing}
      state: {value: true, level: alarm}
      severity: orange
    - name: spool-filling
      match: {device: gateway, point: spool_fill}
      thresholds: [{level: high, above: 0.5, severity: yellow}]
    - name: backlog
      match: {kind: hazardgw, point: spool_oldest_age_s}
      thresholds: [{level: high, above: 600, severity: yellow}]
`
	f, err := loadBytes("config.yaml", []byte(src), mapLookup(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Warnings()) > 0 {
		t.Errorf("warnings: %v", f.Warnings())
	}
}

// TestCheckAndModbusNewAgree: for every golden case of check, the modbus
// section's problems as check reports them are exactly the lines of
// modbus.New's error, and New succeeds exactly when there are none: a
// configuration check accepts always starts, and New refuses nothing
// without check saying so first.
func TestCheckAndModbusNewAgree(t *testing.T) {
	withProblems := 0
	for _, c := range goldenCases(t) {
		t.Run(c.name, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join(c.dir, "config.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			var f File
			if r := conf.Decode(src, &f, conf.Options{Lookup: mapLookup(testEnv(t, c.dir))}); r == nil {
				t.Fatal("no decode result")
			}
			var p conf.Problems
			f.Modbus.Validate("modbus", &p)
			var want []string
			for _, pr := range p.List {
				want = append(want, pr.Path+": "+pr.Msg)
			}
			_, err = modbus.New(f.Modbus, "s1", nil)
			var got []string
			if err != nil {
				msg, ok := strings.CutPrefix(err.Error(), "plan modbus polling: ")
				if !ok {
					t.Fatalf("New: %v", err)
				}
				got = strings.Split(msg, "\n")
			}
			if !slices.Equal(got, want) {
				t.Errorf("New's problems:\n%s\ncheck's:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if len(want) > 0 {
				withProblems++
			}
		})
	}
	if withProblems < 5 {
		t.Errorf("only %d golden cases have Modbus problems", withProblems)
	}
}
