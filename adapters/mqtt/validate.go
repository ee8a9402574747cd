package mqtt

import (
	"maps"
	"slices"
	"strings"

	"github.com/hazardgw/hazardgw/gateway"
	"github.com/hazardgw/hazardgw/internal/conf"
)

// Built-in payload formats and the generic mapping.
const (
	FormatCameraEvent       = "camera_event"
	FormatCheckpointPassage = "checkpoint_passage"
	FormatDeviceStatus      = "device_status"
	FormatJSON              = "json"
)

// Validate reports every problem of the `mqtt` section at path. An empty
// url means MQTT is not used; then nothing else may be configured.
func (c *Config) Validate(path string, p *conf.Problems) {
	at := func(key string) string { return conf.Join(path, key) }
	if c.URL == "" {
		if len(c.Subscriptions) > 0 || len(c.Devices) > 0 {
			p.Addf(at("url"), "required when subscriptions or devices are configured")
		}
	} else {
		validateBroker(c, path, p)
		if len(c.Subscriptions) == 0 {
			p.Addf(at("subscriptions"), "at least one subscription when url is set (or remove url)")
		}
	}
	conf.NotNegative(p, at("keep_alive"), c.KeepAlive)
	conf.NotNegative(p, at("max_backoff"), c.MaxBackoff)
	conf.NotNegative(p, at("alert_after"), c.AlertAfter)
	if c.Workers < 0 || c.Workers > 1024 {
		p.Addf(at("workers"), "must be 1..1024, or 0 for the default (got %d)", c.Workers)
	}
	topics := conf.Seen{}
	for i := range c.Subscriptions {
		sp := conf.Index(at("subscriptions"), i)
		s := &c.Subscriptions[i]
		if validateSubscription(s, sp, p) {
			topics.Check(p, conf.Join(sp, "topic"), "topic", s.Topic)
		}
	}
	c.validateDevices(path, p)
}

// validateDevices reports the problems of mqtt.devices and
// mqtt.max_devices. New applies it too, so that check and run agree.
func (c *Config) validateDevices(path string, p *conf.Problems) {
	if c.MaxDevices < 0 || c.MaxDevices > MaxMaxDevices {
		p.Addf(conf.Join(path, "max_devices"), "must be 1..%d, or 0 for the default %d (got %d)", MaxMaxDevices, DefaultMaxDevices, c.MaxDevices)
	}
	kinds := map[string]bool{}
	status := false
	for _, s := range c.Subscriptions {
		kinds[formatKind(s)] = true
		status = status || s.Format == FormatDeviceStatus
	}
	ids := conf.Seen{}
	for i := range c.Devices {
		d := &c.Devices[i]
		dp := conf.Index(conf.Join(path, "devices"), i)
		at := func(key string) string { return conf.Join(dp, key) }
		if conf.CheckID(p, at("id"), d.ID) {
			ids.Check(p, at("id"), "device id", d.ID)
		}
		if conf.CheckName(p, at("kind"), d.Kind) {
			k := canonicalKind(d.Kind)
			switch {
			case gateway.IsReservedMeasurement(k):
				p.Addf(at("kind"), "%q is a measurement of the gateway itself; choose another", d.Kind)
			case !kinds[k] && !status && c.URL != "":
				p.Warnf(at("kind"), "no subscription delivers %s messages and none is format device_status: the device can only be reported offline", k)
			}
		}
		if conf.HasControl(d.Label) || len(d.Label) > 1024 {
			p.Addf(at("label"), "must be printable and at most 1024 bytes")
		}
		conf.NotNegative(p, at("stale"), d.Stale)
		if l := d.Location; l != nil {
			coord := func(key string, v *float64, limit float64) {
				switch {
				case v == nil:
					p.Addf(conf.Join(at("location"), key), "required in a location")
				case !conf.CheckFinite(p, conf.Join(at("location"), key), *v):
				case *v < -limit || *v > limit:
					p.Addf(conf.Join(at("location"), key), "must be within ±%g degrees (got %g)", limit, *v)
				}
			}
			coord("lat", l.Lat, 90)
			coord("lon", l.Lon, 180)
			if l.ElevationM != nil && conf.CheckFinite(p, conf.Join(at("location"), "elevation_m"), *l.ElevationM) &&
				(*l.ElevationM < -500 || *l.ElevationM > 9000) {
				p.Addf(conf.Join(at("location"), "elevation_m"), "must be within -500..9000 m (got %g)", *l.ElevationM)
			}
		}
	}
}

func validateBroker(c *Config, path string, p *conf.Problems) {
	at := func(key string) string { return conf.Join(path, key) }
	u := conf.CheckURL(p, at("url"), c.URL, "tcp", "ssl", "ws", "wss")
	if u != nil {
		// paho dials tcp and ssl addresses as they are: the port is needed.
		conf.CheckHost(p, at("url"), u, u.Scheme == "tcp" || u.Scheme == "ssl")
	}
	if conf.Required(p, at("client_id"), c.ClientID) && (conf.HasControl(c.ClientID) || len(c.ClientID) > 65535) {
		p.Addf(at("client_id"), "must be printable and shorter than 64 KiB")
	}
	if c.Password != "" && c.Username == "" {
		p.Addf(at("password"), "needs a username (MQTT sends a password only with a username)")
	}
	t := c.TLS
	secure := u != nil && (u.Scheme == "ssl" || u.Scheme == "wss")
	if u != nil && !secure && (t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.InsecureSkipVerify) {
		p.Addf(at("tls"), "only for ssl:// and wss:// URLs (got %s://)", u.Scheme)
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		p.Addf(at("tls"), "cert_file and key_file go together")
	}
}

// validateSubscription reports the problems of one subscription and
// whether its topic is valid.
func validateSubscription(s *Subscription, sp string, p *conf.Problems) (topicOK bool) {
	at := func(key string) string { return conf.Join(sp, key) }
	if conf.Required(p, at("topic"), s.Topic) {
		// The adapter's own parser, so that check and run agree.
		if _, err := CompileTemplate(s.Topic); err != nil {
			p.Addf(at("topic"), "%v", err)
		} else {
			topicOK = true
		}
	}
	conf.OneOf(p, at("format"), s.Format, FormatCameraEvent, FormatCheckpointPassage, FormatDeviceStatus, FormatJSON)
	if s.QoS != nil {
		switch *s.QoS {
		case 0, 1:
		case 2:
			p.Addf(at("qos"), "qos 2 is not supported: use 1 (messages are acknowledged after the spool commit and replays are idempotent, so 1 loses nothing)")
		default:
			p.Addf(at("qos"), "must be 0 or 1 (got %d)", *s.QoS)
		}
	}
	switch {
	case s.Format == FormatJSON && s.JSON == nil:
		p.Addf(at("json"), "required for format json: {measurement: ..., fields: {...}}")
	case s.Format != FormatJSON && s.JSON != nil && s.Format != "":
		p.Addf(at("json"), "only for format json (this subscription is %s)", s.Format)
	case s.JSON != nil:
		validateJSONMapping(s.JSON, at("json"), p)
	}
	conf.NotNegative(p, at("stale"), s.Stale)
	return topicOK
}

func validateJSONMapping(m *JSONMapping, mp string, p *conf.Problems) {
	at := func(key string) string { return conf.Join(mp, key) }
	if conf.CheckName(p, at("measurement"), m.Measurement) &&
		gateway.IsReservedMeasurement(m.Measurement) {
		p.Addf(at("measurement"), "%q is a measurement of the gateway itself; choose another", m.Measurement)
	}
	jsonPath := func(path, v string) {
		if !conf.Required(p, path, v) {
			return
		}
		if slices.Contains(strings.Split(v, "."), "") {
			p.Addf(path, "invalid path %q: want dotted keys like a.b.c (array elements as a.0.b)", v)
		}
	}
	if m.Time != "" {
		jsonPath(at("time"), m.Time)
	}
	switch strings.ToLower(m.TimeFormat) {
	case "", "rfc3339", "unix", "unix_ms", "unix_us", "unix_ns":
	default:
		if !strings.ContainsAny(m.TimeFormat, "0123456789") {
			p.Addf(at("time_format"), "must be rfc3339, unix, unix_ms, unix_us, unix_ns or a Go layout like 2006-01-02 15:04:05 (got %q)", m.TimeFormat)
		}
	}
	if m.TimeFormat != "" && m.Time == "" {
		p.Addf(at("time_format"), "set time (the path of the timestamp) too, or remove time_format")
	}
	if m.Device != "" {
		jsonPath(at("device"), m.Device)
	}
	for _, k := range slices.Sorted(maps.Keys(m.Tags)) {
		tp := conf.Join(at("tags"), k)
		switch {
		case !conf.IsName(k):
			p.Addf(tp, "invalid tag name: want a letter followed by letters, digits or _")
		case k == gateway.TagDevice:
			p.Addf(tp, "tag %q comes from json.device; set the path there", k)
		case slices.Contains(ReservedTags, k):
			p.Addf(tp, "tag %q is reserved", k)
		default:
			jsonPath(tp, m.Tags[k])
		}
	}
	if len(m.Fields) == 0 {
		p.Addf(at("fields"), "at least one field: {name: {path: a.b, type: float}}")
	}
	for _, k := range slices.Sorted(maps.Keys(m.Fields)) {
		fp := conf.Join(at("fields"), k)
		f := m.Fields[k]
		if !conf.IsName(k) || k == "time" {
			p.Addf(fp, "invalid field name: want a letter followed by letters, digits or _ (not time)")
		}
		jsonPath(conf.Join(fp, "path"), f.Path)
		conf.OneOf(p, conf.Join(fp, "type"), f.Type, "", "float", "int", "bool", "string")
	}
}
