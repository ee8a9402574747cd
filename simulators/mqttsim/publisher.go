package mqttsim

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// PublisherOptions configure a Publisher.
type PublisherOptions struct {
	URL      string // tcp://host:port
	ClientID string // default "mqttsim-<site>"
	Username string
	Password string
	Site     string // site id in the topics
	// Window is how many QoS 1 messages may await their PUBACK before a
	// publish waits for the oldest. Default 256.
	Window int
}

// A Publisher publishes device messages at QoS 1 with paho, pipelining up to
// Window unacknowledged messages. Messages not yet acknowledged when the
// broker goes away are sent again after reconnection (at least once: the
// gateway must, and does, tolerate duplicates).
// Publish methods are safe for concurrent use.
type Publisher struct {
	opts   PublisherOptions
	client paho.Client

	mu      sync.Mutex
	pending []pendingMsg // FIFO of unacknowledged publishes
}

// pendingMsg is a publish awaiting its PUBACK, kept to be sent again if
// the connection breaks under it.
type pendingMsg struct {
	tok     paho.Token
	topic   string
	qos     byte
	retain  bool
	payload []byte
}

// NewPublisher connects to the broker.
func NewPublisher(ctx context.Context, opts PublisherOptions) (*Publisher, error) {
	if opts.ClientID == "" {
		opts.ClientID = "mqttsim-" + opts.Site
	}
	if opts.Window <= 0 {
		opts.Window = 256
	}
	o := paho.NewClientOptions().
		AddBroker(opts.URL).
		SetClientID(opts.ClientID).
		SetProtocolVersion(4).
		SetCleanSession(false).
		SetAutoReconnect(true).
		SetMaxReconnectInterval(time.Second).
		SetConnectTimeout(5 * time.Second).
		SetConnectRetry(true).
		SetConnectRetryInterval(200 * time.Millisecond).
		SetKeepAlive(30 * time.Second)
	if opts.Username != "" {
		o.SetUsername(opts.Username).SetPassword(opts.Password)
	}
	p := &Publisher{opts: opts, client: paho.NewClient(o)}
	tok := p.client.Connect()
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return nil, fmt.Errorf("connect publisher: %w", err)
		}
	case <-ctx.Done():
		p.client.Disconnect(0)
		return nil, fmt.Errorf("connect publisher: %w", ctx.Err())
	}
	return p, nil
}

// PublishCamera publishes ev on its camera's topic.
func (p *Publisher) PublishCamera(ctx context.Context, ev CameraEvent) error {
	return p.publish(ctx, CameraTopic(p.opts.Site, ev.CameraID), 1, ev.JSON())
}

// PublishCameraOn publishes ev on the topic of camera, which may differ
// from ev.CameraID (or stand in for a payload without one).
func (p *Publisher) PublishCameraOn(ctx context.Context, camera string, ev CameraEvent) error {
	return p.publish(ctx, CameraTopic(p.opts.Site, camera), 1, ev.JSON())
}

// PublishPassage publishes ev on its checkpoint's topic.
func (p *Publisher) PublishPassage(ctx context.Context, ev Passage) error {
	return p.publish(ctx, CheckpointTopic(p.opts.Site, ev.CheckpointID), 1, ev.JSON())
}

// PublishRaw publishes any payload on any topic at QoS 1.
func (p *Publisher) PublishRaw(ctx context.Context, topic string, payload []byte) error {
	return p.publish(ctx, topic, 1, payload)
}

// PublishQoS0 publishes at QoS 0 (fire and forget).
func (p *Publisher) PublishQoS0(ctx context.Context, topic string, payload []byte) error {
	return p.publish(ctx, topic, 0, payload)
}

// PublishRetained publishes ev on its camera's topic at QoS 1, retained:
// the broker hands it to every new subscription, as a camera that
// publishes its last event retained does.
func (p *Publisher) PublishRetained(ctx context.Context, ev CameraEvent) error {
	return p.publishRetain(ctx, CameraTopic(p.opts.Site, ev.CameraID), 1, true, ev.JSON())
}

func (p *Publisher) publish(ctx context.Context, topic string, qos byte, payload []byte) error {
	return p.publishRetain(ctx, topic, qos, false, payload)
}

func (p *Publisher) publishRetain(ctx context.Context, topic string, qos byte, retain bool, payload []byte) error {
	tok := p.client.Publish(topic, qos, retain, payload)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pending = append(p.pending, pendingMsg{tok, topic, qos, retain, payload})
	for len(p.pending) > p.opts.Window {
		if err := p.settleOldest(ctx); err != nil {
			return err
		}
	}
	return nil
}

// settleOldest waits for the oldest pending publish. A publish that failed
// because the connection broke (a broker restart) is sent again once paho
// has reconnected: at least once, as a device with a persistent session
// behaves. Only ctx ends the retrying.
func (p *Publisher) settleOldest(ctx context.Context) error {
	m := &p.pending[0]
	for {
		err := wait(ctx, m.tok)
		if err == nil || ctx.Err() != nil {
			if err == nil {
				p.pending[0] = pendingMsg{}
				p.pending = p.pending[1:]
			}
			return err
		}
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("publish: %w", ctx.Err())
		case <-t.C:
		}
		m.tok = p.client.Publish(m.topic, m.qos, m.retain, m.payload)
	}
}

// Flush waits until the broker has acknowledged every message published so far.
func (p *Publisher) Flush(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.pending) > 0 {
		if err := p.settleOldest(ctx); err != nil {
			return err
		}
	}
	return nil
}

func wait(ctx context.Context, tok paho.Token) error {
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("publish: %w", ctx.Err())
	}
}

// Close flushes (for at most timeout) and disconnects.
func (p *Publisher) Close(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := p.Flush(ctx)
	p.client.Disconnect(250)
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("close publisher: messages still unacknowledged after %v", timeout)
	}
	return err
}
