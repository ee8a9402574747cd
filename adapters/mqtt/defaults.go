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
)

// Tuning that is not configuration.
const (
	// maxBatch is how many waiting messages one worker decodes and hands to
	// Accept at once. Together with the pipeline's group commit it turns a
	// stream of messages into few fsyncs.
	maxBatch = 500
	// queueLen bounds the messages handed over by paho and not yet taken by
	// a worker. The broker's in-flight window (max_inflight_messages) bounds
	// QoS 1 messages before they get here; QoS 0 ones beyond queueLen are
	// dropped (reason overload).
	queueLen = 1024
	// connectTimeout bounds one connection attempt.
	connectTimeout = 10 * time.Second
	// subscribeTimeout bounds the wait for a SUBACK.
	subscribeTimeout = 30 * time.Second
	// disconnectQuiesce is how long Disconnect waits for the last
	// acknowledgements to be written.
	disconnectQuiesce = time.Second
	// rejectLogEvery is the rate limit of rejected-payload log lines, per reason.
	rejectLogEvery = 10 * time.Second
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
	return c
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
