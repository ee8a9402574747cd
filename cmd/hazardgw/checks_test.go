package main

import "testing"

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
