package mqtt

import (
	"fmt"
	"time"
)

// Defaults for zero Config fields.
const (
	DefaultKeepAlive  = 30 * time.Second
	DefaultMaxBackoff = 30 * time.Second
	DefaultWorkers    = 4
	DefaultQoS        = 1
	DefaultStale      = 2 * time.Minute
	DefaultMaxDevices = 1000
	// MaxMaxDevices bounds max_devices: the liveness map and the devices
	// file grow with it.
	MaxMaxDevices = 100_000
)

// Tuning that is not configuration.
const (
	// maxBatch is how many waiting messages one worker decodes and hands to
	// Accept at once. Together with the pipeline's group commit it turns a
	// stream of messages into few fsyncs.
	maxBatch = 500
	// queueLen bounds the messages handed over by paho and not yet taken by
	// a worker. Beyond it paho's handler waits (QoS 1), and paho stops
	// reading the connection; QoS 0 messages are dropped (reason overload).
	queueLen = 1024
	// handoffCheck is how often a handler waiting for room in the queue
	// looks whether its connection is still up.
	handoffCheck = 100 * time.Millisecond
	// connectTimeout bounds one connection attempt.
	connectTimeout = 10 * time.Second
	// subscribeTimeout bounds the wait for a SUBACK.
	subscribeTimeout = 30 * time.Second
	// disconnectQuiesce is how long Disconnect waits for the last
	// acknowledgements to be written.
	disconnectQuiesce = time.Second
	// rejectLogEvery is the rate limit of rejected-payload log lines, per reason.
	rejectLogEvery = 10 * time.Second
	// saveEvery is the least time between two writes of the devices file.
	saveEvery = 5 * time.Second
	// maxRefused bounds the ids remembered to count the distinct devices
	// refused by max_devices; beyond it the count stops growing.
	maxRefused = 10_000
)

// WithDefaults returns c with zero fields set to their defaults. site
// names the default client id, hazardgw-<site>: stable, so that the broker
// keeps the persistent session across restarts.
func (c Config) WithDefaults(site string) Config {
	if c.ClientID == "" {
		c.ClientID = "hazardgw-" + site
	}
	if c.KeepAlive <= 0 {
		c.KeepAlive = DefaultKeepAlive
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.Workers <= 0 {
		c.Workers = DefaultWorkers
	}
	if c.MaxDevices <= 0 {
		c.MaxDevices = DefaultMaxDevices
	}
	subs := make([]Subscription, len(c.Subscriptions))
	for i, s := range c.Subscriptions {
		if s.QoS == nil {
			q := DefaultQoS
			s.QoS = &q
		}
		if s.Stale <= 0 {
			s.Stale = DefaultStale
		}
		subs[i] = s
	}
	c.Subscriptions = subs
	devs := make([]Device, len(c.Devices))
	for i, d := range c.Devices {
		d.Kind = canonicalKind(d.Kind)
		if d.Stale <= 0 {
			d.Stale = staleFor(subs, d.Kind)
		}
		devs[i] = d
	}
	c.Devices = devs
	return c
}

// DeclaredDevices returns the declared devices (mqtt.devices) as the
// gateway tracks them: Kind is the kind tag of their device_status points
// (camera and checkpoint resolved to fire_detection and
// checkpoint_passage), Stale the silence after which they are reported
// offline. Call it on a valid Config.
func (c Config) DeclaredDevices() []Device {
	return c.WithDefaults("").Devices
}

// Kind aliases of declared devices: the measurements their events go to.
var kindAliases = map[string]string{"camera": measurementFire, "checkpoint": measurementPassage}

func canonicalKind(k string) string {
	if m, ok := kindAliases[k]; ok {
		return m
	}
	return k
}

// formatKind is the kind of the devices a subscription hears: the
// measurement of its points; "" for device_status, whose heartbeats say
// nothing about the kind.
func formatKind(s Subscription) string {
	switch s.Format {
	case FormatCameraEvent:
		return measurementFire
	case FormatCheckpointPassage:
		return measurementPassage
	case FormatJSON:
		if s.JSON != nil {
			return s.JSON.Measurement
		}
	}
	return ""
}

// staleFor is the stale duration of a device of kind that has not spoken
// yet (or whose declaration sets none): the longest of the subscriptions
// that would deliver its messages (those of its kind, and the
// device_status ones), else DefaultStale. subs have their defaults.
func staleFor(subs []Subscription, kind string) time.Duration {
	var d time.Duration
	for _, s := range subs {
		if s.Format == FormatDeviceStatus || (kind != "" && formatKind(s) == kind) {
			d = max(d, s.Stale)
		}
	}
	if d <= 0 {
		return DefaultStale
	}
	return d
}

// subscription is a compiled Subscription.
type subscription struct {
	tmpl   *Template
	qos    byte
	dec    decoder
	kind   string // device kind for liveness
	stale  time.Duration
	format string
}

func compileSubscription(s Subscription) (*subscription, error) {
	t, err := CompileTemplate(s.Topic)
	if err != nil {
		return nil, err
	}
	out := &subscription{tmpl: t, stale: s.Stale, format: s.Format}
	switch q := *s.QoS; q {
	case 0, 1:
		out.qos = byte(q)
	default:
		return nil, fmt.Errorf("qos %d not supported (0 or 1)", q)
	}
	switch s.Format {
	case FormatCameraEvent:
		out.dec = cameraDecoder{}
	case FormatCheckpointPassage:
		out.dec = passageDecoder{}
	case FormatDeviceStatus:
		out.dec = statusDecoder{}
	case FormatJSON:
		d, err := compileMapping(s.JSON)
		if err != nil {
			return nil, err
		}
		out.dec = d
	default:
		return nil, fmt.Errorf("unknown format %q", s.Format)
	}
	out.kind = out.dec.kind()
	return out, nil
}
