package mqtt

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hazardgw/hazardgw/gateway"
)

func TestTemplateMatch(t *testing.T) {
	tests := []struct {
		tmpl, filter, topic string
		match               bool
		tags                string // "k=v,k=v"
	}{
		{"site/{site}/camera/{camera}/event", "site/+/camera/+/event", "site/qz/camera/CAM-01/event", true, "camera=CAM-01"},
		{"site/{site}/camera/{camera}/event", "site/+/camera/+/event", "site/qz/camera/CAM-01/status", false, ""},
		{"site/{site}/camera/{camera}/event", "site/+/camera/+/event", "site/qz/camera/event", false, ""},
		{"site/{site}/camera/{camera}/event", "site/+/camera/+/event", "site/qz/camera/CAM-01/event/x", false, ""},
		{"a/{x}", "a/+", "a/", true, "x="},
		{"a/{x}", "a/+", "a", false, ""},
		{"a/#", "a/#", "a", true, ""},
		{"a/#", "a/#", "a/b/c", true, ""},
		{"a/{x}/#", "a/+/#", "a/b", true, "x=b"},
		{"a/{x}/#", "a/+/#", "a/b/c/d", true, "x=b"},
		{"#", "#", "x/y", true, ""},
		{"#", "#", "$SYS/broker", false, ""},
		{"+/x", "+/x", "$SYS/x", false, ""},
		{"$SYS/{k}", "$SYS/+", "$SYS/load", true, "k=load"},
		{"vendor/+/telemetry", "vendor/+/telemetry", "vendor/acme/telemetry", true, ""},
		{"/{lead}", "/+", "/x", true, "lead=x"},
		{"{a}/{b}", "+/+", "中文/设备", true, "a=中文,b=设备"},
	}
	for _, tc := range tests {
		t.Run(tc.tmpl+" "+tc.topic, func(t *testing.T) {
			tp, err := CompileTemplate(tc.tmpl)
			if err != nil {
				t.Fatal(err)
			}
			if tp.Filter() != tc.filter {
				t.Errorf("filter %q, want %q", tp.Filter(), tc.filter)
			}
			tags, ok := tp.Match(tc.topic, nil)
			if ok != tc.match {
				t.Fatalf("match = %v, want %v", ok, tc.match)
			}
			if got := tagString(tags); got != tc.tags {
				t.Errorf("tags %q, want %q", got, tc.tags)
			}
		})
	}
}

func tagString(tags []gateway.Tag) string {
	var s []string
	for _, t := range tags {
		s = append(s, t.Key+"="+t.Value)
	}
	return strings.Join(s, ",")
}

func TestCompileTemplateErrors(t *testing.T) {
	for _, tmpl := range []string{
		"", "a/#/b", "a/b#", "a+/b", "a/{x}/{x}", "a/{}", "a/{1x}", "a/{x-y}", "a/x{y}", "a/{x", "a/{time}", "a/\x00",
	} {
		if _, err := CompileTemplate(tmpl); err == nil {
			t.Errorf("CompileTemplate(%q) = nil error", tmpl)
		}
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	tp, _ := CompileTemplate("site/{site}/camera/{camera}/event")
	dst := make([]gateway.Tag, 0, 4)
	if n := testing.AllocsPerRun(100, func() { tp.Match("site/qz/camera/CAM-01/event", dst[:0]) }); n != 0 {
		t.Errorf("Match allocates %v times", n)
	}
}

// refMatch is MQTT topic matching written the obvious way, to check Match.
func refMatch(filter, topic string) bool {
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	f, tp := strings.Split(filter, "/"), strings.Split(topic, "/")
	for i, l := range f {
		if l == "#" {
			return true
		}
		if i >= len(tp) {
			return false
		}
		if l != "+" && l != tp[i] {
			return false
		}
	}
	return len(f) == len(tp)
}

func FuzzTopicMatch(f *testing.F) {
	for _, s := range [][2]string{
		{"site/{site}/camera/{camera}/event", "site/qz/camera/CAM-01/event"},
		{"a/#", "a"}, {"a/{x}/#", "a//b"}, {"+/x", "$SYS/x"}, {"{a}/{b}", "中文/设备"}, {"#", ""}, {"a/+", "a/"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, tmpl, topic string) {
		tp, err := CompileTemplate(tmpl)
		if err != nil {
			return
		}
		if strings.ContainsAny(topic, "+#") {
			return // not a topic a broker delivers
		}
		tags, ok := tp.Match(topic, nil)
		if want := refMatch(tp.Filter(), topic); ok != want {
			t.Fatalf("Match(%q, %q) = %v, reference says %v (filter %q)", tmpl, topic, ok, want, tp.Filter())
		}
		if !ok && len(tags) != 0 {
			t.Fatalf("tags on no match: %v", tags)
		}
		for _, tag := range tags {
			if strings.Contains(tag.Value, "/") || isReserved(tag.Key) {
				t.Fatalf("bad tag %+v from %q on %q", tag, topic, tmpl)
			}
		}
		if ok && len(tags) > len(tp.Names()) {
			t.Fatalf("%d tags from %d names", len(tags), len(tp.Names()))
		}
		_ = fmt.Sprint(tp)
	})
}
