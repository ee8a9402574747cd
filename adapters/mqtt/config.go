package mqtt

import "time"

// Config is the `mqtt` section. An empty URL means MQTT is not used.
type Config struct {
	URL           string         `yaml:"url"` // tcp://, ssl://, ws://, wss://
	ClientID      string         `yaml:"client_id"`
	Username      string         `yaml:"username"`
	Password      string         `yaml:"password"` // secret
	TLS           TLSConfig      `yaml:"tls"`
	KeepAlive     time.Duration  `yaml:"keep_alive"`  // default 30s
	MaxBackoff    time.Duration  `yaml:"max_backoff"` // reconnect cap, default 30s
	Workers       int            `yaml:"workers"`     // decode workers, default 4
	Subscriptions []Subscription `yaml:"subscriptions"`
	// AlertAfter is how long the broker may be unreachable before the
	// built-in alarm gateway:mqtt-unreachable fires; default 30s.
	AlertAfter time.Duration `yaml:"alert_after"`
}

// TLSConfig holds file paths for ssl:// connections.
type TLSConfig struct {
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// Subscription maps a topic template to a payload format.
type Subscription struct {
	// Topic is an MQTT filter where a level written {name} matches one level
	// and becomes tag `name`; + and # are allowed too.
	Topic  string        `yaml:"topic"`
	Format string        `yaml:"format"` // camera_event | checkpoint_passage | json
	QoS    *int          `yaml:"qos"`    // 0 or 1, default 1
	JSON   *JSONMapping  `yaml:"json"`   // required for format json
	Stale  time.Duration `yaml:"stale"`  // device considered offline after this silence; default 2m
}

// JSONMapping maps a vendor's JSON payload to a point. Paths are dotted
// (a.b.c; array elements as a.0.b).
type JSONMapping struct {
	Measurement string               `yaml:"measurement"` // required
	Time        string               `yaml:"time"`        // path of the timestamp; arrival time if empty
	TimeFormat  string               `yaml:"time_format"` // rfc3339 (default) | unix | unix_ms | unix_us | unix_ns | a Go layout
	Device      string               `yaml:"device"`      // path of the device id (tag `device`); optional
	Tags        map[string]string    `yaml:"tags"`        // tag -> path
	Fields      map[string]JSONField `yaml:"fields"`      // field -> path and type; at least one
}

// JSONField is one typed field path.
type JSONField struct {
	Path string `yaml:"path"`
	Type string `yaml:"type"` // float (default) | int | bool | string
}
