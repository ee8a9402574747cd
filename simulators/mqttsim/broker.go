package mqttsim

import (
	"fmt"
	"log/slog"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Broker is an embedded MQTT broker (mochi-mqtt) for demos without
// Mosquitto. It keeps sessions and queues in memory only: a restart loses
// them, so the gateway's at-least-once tests use Mosquitto. Its inline
// client publishes without a network connection.
type Broker struct {
	srv *mochi.Server
	tcp *listeners.TCP
}

// NewBroker starts a broker listening on addr ("127.0.0.1:1883", or port 0
// for a free one), allowing anonymous clients.
func NewBroker(addr string, logger *slog.Logger) (*Broker, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	caps := mochi.NewDefaultServerCapabilities()
	caps.MaximumInflight = 65535 // a queue for a persistent session that falls behind
	srv := mochi.New(&mochi.Options{InlineClient: true, Logger: logger, Capabilities: caps})
	if err := srv.AddHook(new(allowAll), nil); err != nil {
		return nil, fmt.Errorf("start embedded broker: %w", err)
	}
	tcp := listeners.NewTCP(listeners.Config{ID: "tcp", Address: addr})
	if err := srv.AddListener(tcp); err != nil {
		return nil, fmt.Errorf("start embedded broker on %s: %w", addr, err)
	}
	if err := srv.Serve(); err != nil {
		srv.Close()
		return nil, fmt.Errorf("start embedded broker: %w", err)
	}
	return &Broker{srv: srv, tcp: tcp}, nil
}

// Addr is the address the broker listens on.
func (b *Broker) Addr() string { return b.tcp.Address() }

// URL is the broker's address as an MQTT URL.
func (b *Broker) URL() string { return "tcp://" + b.Addr() }

// Publish publishes through the inline client.
func (b *Broker) Publish(topic string, payload []byte, qos byte) error {
	if err := b.srv.Publish(topic, payload, false, qos); err != nil {
		return fmt.Errorf("publish inline: %w", err)
	}
	return nil
}

// Close stops the broker.
func (b *Broker) Close() error { return b.srv.Close() }

// allowAll admits every client and topic. (mochi's own auth hook would
// bring a YAML library along for its ledger; this is all a demo needs.)
type allowAll struct{ mochi.HookBase }

func (*allowAll) ID() string { return "allow-all" }

func (*allowAll) Provides(b byte) bool {
	return b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck
}

func (*allowAll) OnConnectAuthenticate(*mochi.Client, packets.Packet) bool { return true }

func (*allowAll) OnACLCheck(*mochi.Client, string, bool) bool { return true }
