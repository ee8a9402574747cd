package main

import (
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hazardgw/hazardgw/adapters/influx"
	"github.com/hazardgw/hazardgw/adapters/modbus"
	"github.com/hazardgw/hazardgw/adapters/mqtt"
	"github.com/hazardgw/hazardgw/adapters/receivers"
	"github.com/hazardgw/hazardgw/alerting"
	"github.com/hazardgw/hazardgw/gateway"
	"github.com/hazardgw/hazardgw/internal/conf"
)

// File is the configuration file (docs/configuration.md): one section per package, each
// package owning its Config and its Validate.
type File struct {
	Site     gateway.SiteConfig `yaml:"site"`
	Gateway  gateway.Config     `yaml:"gateway"`
	InfluxDB influx.Config      `yaml:"influxdb"`
	Modbus   modbus.Config      `yaml:"modbus"`
	MQTT     mqtt.Config        `yaml:"mqtt"`
	Alerting alerting.Config    `yaml:"alerting"`
	Forest   ForestConfig       `yaml:"forest"`

	warnings []string // "FILE:LINE: path: warning: what", from loading
}

// Warnings returns what loading found valid but probably unintended, one
// line each.
func (f *File) Warnings() []string { return f.warnings }

// maxConfigSize bounds what LoadFile reads: a configuration is text written
// by people, and a runaway file must not exhaust memory.
const maxConfigSize = 16 << 20

// LoadFile reads, expands, decodes and validates the configuration file at
// path, looking ${NAME} up with lookup (os.LookupEnv in production).
//
// It returns the File only when it is valid. Otherwise the error is a
// *conf.Error whose text is every problem, one per line, sorted by line:
//
//	FILE:LINE: path.to.field: what is wrong
//
// (or a plain error when the file cannot be read). No error text contains
// the value of a secret.
func LoadFile(path string, lookup func(string) (string, bool)) (*File, error) {
	src, err := readConfig(path)
	if err != nil {
		return nil, err
	}
	return loadBytes(path, src, lookup)
}

func readConfig(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	defer f.Close()
	src, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("read config %s: %w", path, err)
	}
	if len(src) > maxConfigSize {
		return nil, fmt.Errorf("read config %s: larger than %d MiB", path, maxConfigSize>>20)
	}
	return src, nil
}

// loadBytes is LoadFile for a file already read; name is used in messages.
func loadBytes(name string, src []byte, lookup func(string) (string, bool)) (*File, error) {
	var f File
	ws, err := conf.LoadWithWarnings(name, src, &f, conf.Options{Lookup: lookup}, f.Validate)
	if err != nil {
		return nil, err
	}
	f.warnings = ws
	return &f, nil
}

// Validate reports the problems of every section, and of how they fit
// together.
func (f *File) Validate(p *conf.Problems) {
	f.Site.Validate("site", p)
	f.Gateway.Validate("gateway", p)
	f.InfluxDB.Validate("influxdb", p)
	f.Modbus.Validate("modbus", p)
	f.MQTT.Validate("mqtt", p)
	f.Alerting.Validate("alerting", p)
	f.Forest.Validate("forest", p)
	f.checkNotifySecrets(p)
	f.checkReceivers(p)
	if len(f.Modbus.Links) == 0 && f.MQTT.URL == "" {
		p.Addf("modbus.links", "no data source: configure modbus.links or mqtt.url")
		return
	}
	f.checkForest(p)
	f.Alerting.CheckSite("alerting", f.siteSeries(), p)
}

// Secrets returns the secret values of f, for the log redactor.
func (f *File) Secrets() []string {
	s := []string{f.Gateway.HTTP.Token, f.InfluxDB.Token, f.MQTT.Password}
	if _, pass, ok := strings.Cut(f.InfluxDB.Token, ":"); ok { // InfluxDB 1.8 "user:password"
		s = append(s, pass)
	}
	for _, n := range f.Alerting.Notify {
		if receivers.Handles(n) {
			s = append(s, receivers.Secrets(n)...)
			continue
		}
		key := strings.TrimPrefix(n.Secret, alerting.SecretPrefix)
		s = append(s, n.Secret, key)
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding} {
			if raw, err := enc.DecodeString(key); err == nil {
				s = append(s, string(raw)) // the HMAC key itself
				break
			}
		}
	}
	out := s[:0]
	for _, v := range s {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// Summary is the one line `check` prints for a valid file.
func (f *File) Summary() string {
	devices, points := 0, 0
	for _, l := range f.Modbus.Links {
		devices += len(l.Devices)
		for _, d := range l.Devices {
			points += len(d.Points)
		}
	}
	return fmt.Sprintf("site %s: %s, %s, %s, %s, %s, %s%s",
		f.Site.ID,
		plural(len(f.Modbus.Links), "Modbus link"), plural(devices, "device"), plural(points, "point"),
		plural(len(f.MQTT.Subscriptions), "MQTT subscription"),
		plural(len(f.Alerting.Rules), "alert rule"), plural(len(f.Alerting.Notify), "notify receiver"), f.receiverTypes())
}

// receiverTypes names each receiver's type, " (duty-desk: webhook,
// duty-group: dingtalk)", when any is not a webhook: an operator sees
// which ones are group chats or SMS.
func (f *File) receiverTypes() string {
	var parts []string
	other := false
	for _, n := range f.Alerting.Notify {
		parts = append(parts, n.Name+": "+n.NotifyType())
		other = other || n.NotifyType() != alerting.NotifyWebhook
	}
	if !other {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
