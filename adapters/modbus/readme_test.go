package modbus

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/hazardgw/hazardgw/internal/conf"
)

// TestReadmeSnippets: the README's configuration example is valid as it
// stands (Validate reports nothing, New plans it), and each block of point
// lines is valid as the points of a device.
func TestReadmeSnippets(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(b), -1)
	if len(blocks) < 2 {
		t.Fatalf("%d yaml blocks in README.md", len(blocks))
	}
	for i, blk := range blocks {
		src := blk[1]
		if first := strings.TrimLeft(src, " "); strings.HasPrefix(first, "- {") { // point lines
			indent := src[:len(src)-len(first)]
			var pts strings.Builder
			for _, line := range strings.SplitAfter(strings.TrimRight(src, "\n"), "\n") {
				pts.WriteString("            " + strings.TrimPrefix(line, indent))
			}
			src = "modbus:\n  links:\n    - name: l\n      url: tcp://127.0.0.1:502\n      devices:\n" +
				"        - id: d\n          kind: k\n          points:\n" + pts.String() + "\n"
		}
		var f struct {
			Modbus Config `yaml:"modbus"`
		}
		if err := yaml.Unmarshal([]byte(src), &f); err != nil {
			t.Errorf("yaml block %d: %v\n%s", i+1, err, src)
			continue
		}
		if len(f.Modbus.Links) == 0 {
			t.Errorf("yaml block %d: no links", i+1)
		}
		var p conf.Problems
		f.Modbus.Validate("modbus", &p)
		if err := problemsError(p); err != nil || len(p.Warnings) > 0 {
			t.Errorf("yaml block %d: %v %v", i+1, err, p.Warnings)
		}
		if _, err := New(f.Modbus, "s1", nil); err != nil {
			t.Errorf("yaml block %d: %v", i+1, err)
		}
	}
}
