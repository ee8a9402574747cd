package mqtt

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/hazardgw/hazardgw/gateway"
	"github.com/hazardgw/hazardgw/internal/testenv"
)

// TestPublishRetainedAndOnConnect publishes a retained QoS 1 message
// through the source's connection against a real broker: a subscriber
// that connects afterwards receives it; OnConnect runs at the first
// connection and again after the broker restarts; without a connection
// Publish fails at once with ErrNotConnected.
func TestPublishRetainedAndOnConnect(t *testing.T) {
	broker := testenv.Mosquitto(t, testenv.WithPersistence(true))
	cfg := brokerConfig(broker.URL())
	cfg.MaxBackoff = 500 * time.Millisecond
	src, err := New(cfg, "bs", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Publish(context.Background(), "x/y", []byte("1"), 1, true); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("publish before Run: %v", err)
	}
	var connects atomic.Int32
	src.OnConnect(func() { connects.Add(1) })
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { src.Run(ctx, gateway.AcceptFunc(func(context.Context, []gateway.Point) error { return nil })) })
	defer func() { cancel(); wg.Wait() }()
	testenv.Eventually(t, 30*time.Second, func() bool { return connects.Load() == 1 }, "OnConnect at the first connection")

	topic := "site/bs/checkpoint/KK-03/command"
	if err := src.Publish(ctx, topic, []byte(`{"cmd":"voice","level":4}`), 1, true); err != nil {
		t.Fatal(err)
	}
	if err := src.Publish(ctx, "site/+/x", nil, 1, false); err == nil {
		t.Error("published to a wildcard topic")
	}

	got := make(chan string, 4)
	sub := paho.NewClient(paho.NewClientOptions().AddBroker(broker.URL()).SetClientID("fresh-sub"))
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber connect: %v", tok.Error())
	}
	defer sub.Disconnect(100)
	tok := sub.Subscribe(topic, 1, func(_ paho.Client, m paho.Message) {
		if m.Retained() {
			got <- string(m.Payload())
		}
	})
	tok.WaitTimeout(10 * time.Second)
	select {
	case p := <-got:
		if p != `{"cmd":"voice","level":4}` {
			t.Errorf("retained payload %q", p)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no retained message for a subscriber that came later")
	}

	broker.Restart()
	testenv.Eventually(t, 60*time.Second, func() bool { return connects.Load() >= 2 }, "OnConnect after the broker restarted")
}
