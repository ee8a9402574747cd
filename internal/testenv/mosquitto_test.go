package testenv

import (
	"errors"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

const waitFor = 10 * time.Second

// connect connects a paho client and disconnects it when the test ends.
func connect(t *testing.T, b *Broker, id string, clean bool, configure func(*mqtt.ClientOptions)) mqtt.Client {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID(id).
		SetCleanSession(clean).SetAutoReconnect(false).SetConnectTimeout(waitFor)
	if configure != nil {
		configure(o)
	}
	c := mqtt.NewClient(o)
	if err := wait(c.Connect()); err != nil {
		t.Fatalf("connect %s: %v", id, err)
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c
}

func wait(tok mqtt.Token) error {
	if !tok.WaitTimeout(waitFor) {
		return errTimeout
	}
	return tok.Error()
}

var errTimeout = errors.New("timed out")

func receive(t *testing.T, ch <-chan mqtt.Message, what string) mqtt.Message {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(waitFor):
		t.Fatalf("no %s within %v", what, waitFor)
		return nil
	}
}

func TestMosquittoPublishSubscribe(t *testing.T) {
	b := Mosquitto(t)
	if !strings.HasPrefix(b.URL(), "tcp://127.0.0.1:") || strings.HasSuffix(b.URL(), ":1883") {
		t.Errorf("URL() = %q, want tcp://127.0.0.1 on a free port", b.URL())
	}
	got := make(chan mqtt.Message, 1)
	sub := connect(t, b, "sub", true, nil)
	if err := wait(sub.Subscribe("site/+/camera/+/event", 1, func(_ mqtt.Client, m mqtt.Message) { got <- m })); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	pub := connect(t, b, "pub", true, nil)
	if err := wait(pub.Publish("site/qz/camera/CAM-07/event", 1, false, `{"type":"smoke"}`)); err != nil {
		t.Fatalf("publish: %v", err)
	}
	m := receive(t, got, "message")
	if m.Topic() != "site/qz/camera/CAM-07/event" || string(m.Payload()) != `{"type":"smoke"}` || m.Qos() != 1 {
		t.Errorf("received %s %q qos %d", m.Topic(), m.Payload(), m.Qos())
	}
}

// A QoS 1 message queued for an offline persistent session survives a broker
// restart and is delivered when the session reconnects.
func TestMosquittoRestartKeepsQueuedMessage(t *testing.T) {
	b := Mosquitto(t)
	sub := connect(t, b, "persistent", false, nil)
	if err := wait(sub.Subscribe("site/qz/checkpoint/KK-03/passage", 1, nil)); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	sub.Disconnect(250)

	pub := connect(t, b, "pub", true, nil)
	if err := wait(pub.Publish("site/qz/checkpoint/KK-03/passage", 1, false, "queued")); err != nil {
		t.Fatalf("publish: %v", err)
	}
	pub.Disconnect(250)

	port := b.Addr()
	b.Restart()
	if b.Addr() != port {
		t.Fatalf("restarted on %s, want the same address %s", b.Addr(), port)
	}

	got := make(chan mqtt.Message, 1)
	connect(t, b, "persistent", false, func(o *mqtt.ClientOptions) {
		o.SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) { got <- m })
	})
	if m := receive(t, got, "queued message after the restart"); string(m.Payload()) != "queued" {
		t.Errorf("received %q, want %q", m.Payload(), "queued")
	}
}

func TestMosquittoStopStart(t *testing.T) {
	b := Mosquitto(t)
	b.Stop()
	b.Stop() // stopping twice is fine
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("early").
		SetAutoReconnect(false).SetConnectTimeout(time.Second))
	if err := wait(c.Connect()); err == nil {
		c.Disconnect(0)
		t.Fatal("connected to a stopped broker")
	}
	b.Start()
	connect(t, b, "late", true, nil)
}

func TestMosquittoUser(t *testing.T) {
	b := Mosquitto(t, WithUser("gateway", "s3cret:pw"))
	for _, tc := range []struct {
		name, user, pass string
		ok               bool
	}{
		{"anonymous", "", "", false},
		{"wrong password", "gateway", "nope", false},
		{"right password", "gateway", "s3cret:pw", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("u").
				SetUsername(tc.user).SetPassword(tc.pass).SetAutoReconnect(false).SetConnectTimeout(waitFor))
			err := wait(c.Connect())
			if err == nil {
				c.Disconnect(0)
			}
			if (err == nil) != tc.ok {
				t.Errorf("connect error = %v, want success %t", err, tc.ok)
			}
		})
	}
}

func TestMosquittoConfigOptions(t *testing.T) {
	b := &Broker{cfg: mosquittoConfig{maxQueued: 1_000_000, maxInflight: 100, persistence: true}, dir: t.TempDir(), port: 4242}
	for _, o := range []MosquittoOption{
		WithMaxQueuedMessages(1000), WithMaxInflightMessages(20), WithPersistence(false),
		WithMosquittoConfig("max_keepalive 30"),
	} {
		o(&b.cfg)
	}
	text, err := b.config()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"listener 4242 127.0.0.1\n", "max_queued_messages 1000\n", "max_inflight_messages 20\n",
		"persistence false\n", "allow_anonymous true\n", "max_keepalive 30\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("config lacks %q:\n%s", want, text)
		}
	}
}
