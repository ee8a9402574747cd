package mqtt

import (
	"context"
	"errors"
	"fmt"
	"strings"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// Publisher is the optional ability of a Source to publish through its
// broker connection (the gateway's commands to devices, such as the voice
// warnings of the forest checkpoints). Publish returns nil once the broker
// has the message (acknowledged for QoS 1); without a connection it fails
// at once with ErrNotConnected, and the caller tries again later (see
// Source.OnConnect). It is safe for concurrent use.
type Publisher interface {
	Publish(ctx context.Context, topic string, payload []byte, qos byte, retained bool) error
}

var _ Publisher = (*Source)(nil)

// ErrNotConnected is returned by Publish while there is no broker
// connection.
var ErrNotConnected = errors.New("not connected to the MQTT broker")

// Publish publishes payload to topic. See Publisher.
func (s *Source) Publish(ctx context.Context, topic string, payload []byte, qos byte, retained bool) error {
	if topic == "" || strings.ContainsAny(topic, "+#\x00") || qos > 1 {
		return fmt.Errorf("publish to %q: invalid topic or qos %d", topic, qos)
	}
	c := s.client.Load()
	if c == nil || !s.connected.Load() {
		return fmt.Errorf("publish to %s: %w", topic, ErrNotConnected)
	}
	tok := (*c).Publish(topic, qos, retained, payload)
	select {
	case <-tok.Done():
	case <-ctx.Done():
		return fmt.Errorf("publish to %s: %w", topic, ctx.Err())
	case <-s.stop:
		return fmt.Errorf("publish to %s: %w", topic, ErrNotConnected)
	}
	if err := tok.Error(); err != nil {
		return fmt.Errorf("publish to %s: %w", topic, err)
	}
	return nil
}

// OnConnect registers f to be called after every connection to the broker
// (the first and each reconnection), once the subscriptions are made. f
// runs on the client's goroutine and must not block. Call it before Run.
func (s *Source) OnConnect(f func()) { s.onConn = append(s.onConn, f) }

// storeClient keeps the client for Publish.
func (s *Source) storeClient(c paho.Client) { s.client.Store(&c) }
