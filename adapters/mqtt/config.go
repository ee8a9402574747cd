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
	Devices       []Device       `yaml:"devices"`     // declared devices, known before they speak
	MaxDevices    int            `yaml:"max_devices"` // devices learnt from traffic and tracked, beyond the declared ones; default 1000
	Subscriptions []Subscription `yaml:"subscriptions"`
	// AlertAfter is how long the broker may be unreachable before the
	// built-in alarm gateway:mqtt-unreachable fires; default 30s.
	AlertAfter time.Duration `yaml:"alert_after"`

	// DataDir is where devices learnt from traffic are remembered across
	// restarts (file mqtt-devices.json). It is not part of the `mqtt`
	// section: the gateway sets it from gateway.data_dir. Empty: learnt
	// devices are forgotten at restart.
	DataDir string `yaml:"-"`
}

// TLSConfig holds file paths for ssl:// connections.
type TLSConfig struct {
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// Device declares an MQTT device (a camera, a checkpoint), so that it is
// known from start: one that never speaks is reported offline once its
// stale duration has passed.
type Device struct {
	ID string `yaml:"id"` // the device id its messages carry (camera_id, checkpoint_id, device_id, json.device)
	// Kind is the device's kind: the `kind` tag of its device_status points
	// and what alert rules match. It is a measurement: camera stands for
	// fire_detection and checkpoint for checkpoint_passage (the measurements
	// their events go to); other kinds are used as written (a json
	// mapping's measurement, or a kind of its own for a device that only
	// sends device_status heartbeats). A device's events go to their
	// format's measurement whatever its kind.
	Kind  string        `yaml:"kind"`
	Label string        `yaml:"label"` // shown to duty officers, e.g. 东山瞭望塔1号摄像机
	Stale time.Duration `yaml:"stale"` // offline after this silence; default: its subscriptions' (see Subscription.Stale)
	// Location is where the device stands (optional).
	Location *Location `yaml:"location"`
}

// Location is a device's position (WGS 84).
type Location struct {
	Lat        *float64 `yaml:"lat" json:"lat"`                           // degrees, required, -90..90
	Lon        *float64 `yaml:"lon" json:"lon"`                           // degrees, required, -180..180
	ElevationM *float64 `yaml:"elevation_m" json:"elevation_m,omitempty"` // metres above sea level, optional
}

// Subscription maps a topic template to a payload format.
type Subscription struct {
	// Topic is an MQTT filter where a level written {name} matches one level
	// and becomes tag `name`; + and # are allowed too.
	Topic  string       `yaml:"topic"`
	Format string       `yaml:"format"` // camera_event | checkpoint_passage | device_status | json
	QoS    *int         `yaml:"qos"`    // 0 or 1, default 1
	JSON   *JSONMapping `yaml:"json"`   // required for format json
	// Stale is the silence after which a device heard on this subscription
	// is offline (default 2m). A device heard on several subscriptions
	// (events and heartbeats) keeps the longest of their durations, so that
	// its rarer messages do not make it flap offline; a declared device's
	// own stale wins over all of them.
	Stale time.Duration `yaml:"stale"`
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
