package main

import (
	"encoding"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/adapters/dutydesk"
	"github.com/hazardgw/hazardgw/adapters/influx"
	"github.com/hazardgw/hazardgw/adapters/modbus"
	"github.com/hazardgw/hazardgw/adapters/mqtt"
	"github.com/hazardgw/hazardgw/alerting"
	"github.com/hazardgw/hazardgw/forest"
	"github.com/hazardgw/hazardgw/gateway"
	"github.com/hazardgw/hazardgw/internal/conf"
)

// documentedKeys reads the key column of every table in
// docs/configuration.md: `a.b.c`, `…c.d` (a suffix of a longer key), and
// siblings after the first key of a cell (`mqtt.username`, `password`).
func documentedKeys(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	tick := regexp.MustCompile("`([^`]+)`")
	var keys []string
	for _, line := range strings.Split(string(b), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 3 || !strings.HasPrefix(line, "|") {
			continue
		}
		first := ""
		for _, m := range tick.FindAllStringSubmatch(cells[1], -1) {
			k := m[1]
			if first == "" {
				first = k
			} else if !strings.ContainsAny(k, ".…") { // a sibling of the first key
				if i := strings.LastIndexByte(first, '.'); i >= 0 {
					k = first[:i+1] + k
				} else if strings.HasPrefix(first, "…") {
					k = "…" + k
				}
			}
			keys = append(keys, k)
		}
	}
	return keys
}

// configKeys returns the dotted keys of File's yaml tags, "[]" after a
// list; it descends into a mapping only when documented does not accept
// the mapping's own key (a row may describe a small mapping inline).
func configKeys(t reflect.Type, prefix string, documented func(string) bool, out *[]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "" || name == "-" {
			continue
		}
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Slice {
			key += "[]"
			ft = ft.Elem()
		}
		nested := ft.Kind() == reflect.Struct && ft != reflect.TypeFor[time.Duration]() &&
			!reflect.PointerTo(ft).Implements(reflect.TypeFor[encoding.TextUnmarshaler]())
		if nested && !documented(key) {
			configKeys(ft, key, documented, out)
			continue
		}
		*out = append(*out, key)
	}
}

// TestDocsListEveryKey: every key of the configuration file is in a table
// of docs/configuration.md, so that a new setting cannot go undocumented.
func TestDocsListEveryKey(t *testing.T) {
	docs := documentedKeys(t)
	documented := func(key string) bool {
		key = strings.TrimSuffix(key, "[]") // `…thresholds` documents thresholds[]
		for _, d := range docs {
			if d == key {
				return true
			}
			if s, ok := strings.CutPrefix(d, "…"); ok && (key == s || strings.HasSuffix(key, "."+s)) {
				return true
			}
		}
		return false
	}
	var keys []string
	configKeys(reflect.TypeFor[File](), "", documented, &keys)
	if len(keys) < 50 {
		t.Fatalf("only %d keys found: %v", len(keys), keys)
	}
	for _, k := range keys {
		if !documented(k) {
			t.Errorf("docs/configuration.md lacks %s", k)
		}
	}
}

// TestDocsDefaults: the default column of docs/configuration.md says what
// the code's exported defaults are.
func TestDocsDefaults(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	defaultOf := map[string]string{} // first key of a row -> its default cell
	for _, line := range strings.Split(string(b), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) >= 4 {
			if m := regexp.MustCompile("`([^`]+)`").FindStringSubmatch(cells[1]); m != nil {
				defaultOf[m[1]] = strings.TrimSpace(cells[2])
			}
		}
	}
	size := func(n conf.ByteSize) string { return fmt.Sprintf("%dGiB", int64(n)>>30) }
	for key, want := range map[string]string{
		"site.language":                    gateway.DefaultLanguage,
		"gateway.data_dir":                 gateway.DefaultDataDir,
		"gateway.spool_max_bytes":          size(gateway.DefaultSpoolMaxBytes),
		"gateway.shutdown_timeout":         gateway.DefaultShutdownTimeout.String(),
		"gateway.http.listen":              gateway.DefaultListen,
		"gateway.log.level":                gateway.DefaultLogLevel,
		"gateway.log.format":               gateway.DefaultLogFormat,
		"influxdb.batch_size":              fmt.Sprint(influx.DefaultBatchSize),
		"influxdb.flush_interval":          influx.DefaultFlushInterval.String(),
		"influxdb.timeout":                 influx.DefaultTimeout.String(),
		"…devices[].interval":              modbus.DefaultInterval.String(),
		"mqtt.keep_alive":                  mqtt.DefaultKeepAlive.String(),
		"mqtt.max_backoff":                 mqtt.DefaultMaxBackoff.String(),
		"mqtt.workers":                     fmt.Sprint(mqtt.DefaultWorkers),
		"…subscriptions[].qos":             fmt.Sprint(mqtt.DefaultQoS),
		"…subscriptions[].stale":           strings.TrimSuffix(mqtt.DefaultStale.String(), "0s"),
		"alerting.retention":               fmt.Sprintf("%dd", alerting.DefaultRetention/(24*time.Hour)),
		"forest.triangulate_window":        strings.TrimSuffix(alerting.DefaultTriangulateWindow.String(), "0s"),
		"forest.max_event_age":             strings.TrimSuffix(alerting.DefaultMaxEventAge.String(), "0s"),
		"…timeout":                         dutydesk.DefaultTimeout.String(),
		"forest.danger.rain_mode":          forest.RainDaily,
		"forest.danger.day_start":          forest.DefaultDayStart,
		"forest.checkpoints.command_topic": forest.DefaultCommandTopic,
		"alerting.max_shelve":              strings.TrimSuffix(alerting.DefaultMaxShelve.String(), "0m0s"),
		"alerting.chatter.count":           fmt.Sprint(alerting.DefaultChatterCount),
		"alerting.notify[].group_wait":     shortDur(alerting.DefaultGroupWait),
		"alerting.notify[].group_interval": shortDur(alerting.DefaultGroupInterval),
		"alerting.notify[].give_up_after":  shortDur(alerting.DefaultGiveUpAfter),
		"alerting.notify[].rate":           alerting.DefaultRates["dingtalk"].Short(),
	} {
		got, ok := defaultOf[key]
		if !ok {
			t.Errorf("no row for %s", key)
			continue
		}
		if !strings.Contains(got, "`"+want+"`") {
			t.Errorf("%s: docs say %s, the code %q", key, got, want)
		}
	}
}

// shortDur writes a duration as the docs do: 1m, not 1m0s.
func shortDur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
