package testenv

import (
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A Broker is a Mosquitto started by Mosquitto. Its port and persistence
// directory stay the same across Stop and Start.
type Broker struct {
	t    testing.TB
	cfg  mosquittoConfig
	dir  string
	port int
	proc proc
}

type mosquittoConfig struct {
	maxQueued   int
	maxInflight int
	persistence bool
	users       map[string]string
	extra       []string
}

// A MosquittoOption changes the broker's configuration.
type MosquittoOption func(*mosquittoConfig)

// WithMaxQueuedMessages sets max_queued_messages, the number of QoS 1 and 2
// messages the broker queues per client beyond those in flight; beyond it, it
// drops them. The default here is 1,000,000, so that tests can queue a large
// backlog for a persistent session; Mosquitto's own default is 1000.
func WithMaxQueuedMessages(n int) MosquittoOption {
	return func(c *mosquittoConfig) { c.maxQueued = n }
}

// WithMaxInflightMessages sets max_inflight_messages, the number of
// unacknowledged QoS 1 and 2 messages the broker sends a client at a time. The
// default here is 100; Mosquitto's own default is 20.
func WithMaxInflightMessages(n int) MosquittoOption {
	return func(c *mosquittoConfig) { c.maxInflight = n }
}

// WithPersistence turns persistence on (the default) or off. With it on, the
// broker saves its sessions and queued messages when stopped and loads them
// when started again.
func WithPersistence(on bool) MosquittoOption {
	return func(c *mosquittoConfig) { c.persistence = on }
}

// WithUser adds a user with a password and turns anonymous access off.
func WithUser(name, password string) MosquittoOption {
	return func(c *mosquittoConfig) {
		if c.users == nil {
			c.users = map[string]string{}
		}
		c.users[name] = password
	}
}

// WithMosquittoConfig appends lines to mosquitto.conf verbatim, for settings
// the other options do not cover. Mosquitto uses the last value of a
// repeated setting.
func WithMosquittoConfig(lines ...string) MosquittoOption {
	return func(c *mosquittoConfig) { c.extra = append(c.extra, lines...) }
}

// Mosquitto starts a Mosquitto broker on a free 127.0.0.1 port with its own
// temporary directory, waits until it accepts connections, and stops it when
// the test ends. Anonymous access is allowed unless WithUser is given.
func Mosquitto(t testing.TB, opts ...MosquittoOption) *Broker {
	t.Helper()
	return newBroker(t, freePort, opts...)
}

func newBroker(t testing.TB, ports func() (int, error), opts ...MosquittoOption) *Broker {
	t.Helper()
	bin, err := mosquittoBinary()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	cfg := mosquittoConfig{maxQueued: 1_000_000, maxInflight: 100, persistence: true}
	for _, o := range opts {
		o(&cfg)
	}
	b := &Broker{t: t, cfg: cfg, dir: t.TempDir()}
	b.proc = proc{name: "mosquitto", bin: bin, logPath: filepath.Join(b.dir, "mosquitto.log")}
	newPort := func() error {
		p, err := ports()
		b.port = p
		return err
	}
	if err := newPort(); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	// Registered after t.TempDir, so it runs before the directory is removed.
	t.Cleanup(func() {
		if err := b.proc.stop(); err != nil {
			t.Errorf("testenv: %v", err)
		}
	})
	b.proc.dumpOnFailure(t)
	if err := b.proc.startRetrying(b.args, b.ready, newPort); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return b
}

// URL returns the broker's address as an MQTT URL: "tcp://127.0.0.1:PORT".
func (b *Broker) URL() string { return "tcp://" + b.Addr() }

// Addr returns the broker's address: "127.0.0.1:PORT".
func (b *Broker) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(b.port)) }

// Stop stops the broker cleanly; with persistence on, it saves its sessions
// and queued messages first. Clients see the connection close. Stopping a
// stopped broker does nothing.
func (b *Broker) Stop() {
	b.t.Helper()
	if err := b.proc.stop(); err != nil {
		b.t.Fatalf("testenv: %v", err)
	}
}

// Start starts a stopped broker again on the same port with the same
// persistence directory, and waits until it accepts connections.
func (b *Broker) Start() {
	b.t.Helper()
	if err := b.proc.startRetrying(b.args, b.ready, nil); err != nil {
		b.t.Fatalf("testenv: %v", err)
	}
}

// Restart stops the broker and starts it again.
func (b *Broker) Restart() {
	b.t.Helper()
	b.Stop()
	b.Start()
}

// Log returns everything the broker has logged so far.
func (b *Broker) Log() string { return b.proc.log() }

func (b *Broker) args() ([]string, error) {
	conf := filepath.Join(b.dir, "mosquitto.conf")
	text, err := b.config()
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		return nil, fmt.Errorf("write mosquitto config: %w", err)
	}
	return []string{"-c", conf}, nil
}

func (b *Broker) config() (string, error) {
	var s strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&s, format+"\n", args...) }
	line("# written by hazardgw internal/testenv")
	line("listener %d 127.0.0.1", b.port)
	line("set_tcp_nodelay true")
	if len(b.cfg.users) == 0 {
		line("allow_anonymous true")
	} else {
		pw := filepath.Join(b.dir, "passwords")
		if err := writePasswordFile(pw, b.cfg.users); err != nil {
			return "", err
		}
		line("allow_anonymous false")
		line("password_file %s", pw)
	}
	line("persistence %t", b.cfg.persistence)
	line("persistence_location %s/", b.dir)
	line("max_queued_messages %d", b.cfg.maxQueued)
	line("max_inflight_messages %d", b.cfg.maxInflight)
	// The log goes to stderr, which is the log file: that also catches what
	// Mosquitto prints before it has read its configuration.
	line("log_dest stderr")
	for _, typ := range []string{"error", "warning", "notice", "information"} {
		line("log_type %s", typ)
	}
	line("log_timestamp_format %%Y-%%m-%%dT%%H:%%M:%%S")
	line("connection_messages true")
	// Started as root, Mosquitto switches to the user "mosquitto", which
	// cannot write to the temporary directory; stay who we are.
	if u, err := user.Current(); err == nil {
		line("user %s", u.Username)
	}
	for _, l := range b.cfg.extra {
		line("%s", l)
	}
	return s.String(), nil
}

// ready: Mosquitto logs "running" only after it has opened every listener,
// so the line in this start's log proves that the port is ours.
func (b *Broker) ready() readiness {
	return func(logSince string) error {
		if !strings.Contains(logSince, " running\n") {
			return fmt.Errorf("no \"running\" line in its log yet")
		}
		c, err := net.DialTimeout("tcp", b.Addr(), time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	}
}

// writePasswordFile writes users in Mosquitto's salted SHA-512 format ("$6$"),
// which Mosquitto 2 reads without the mosquitto_passwd tool.
func writePasswordFile(path string, users map[string]string) error {
	var s strings.Builder
	for name, pass := range users {
		salt := make([]byte, 12)
		_, _ = rand.Read(salt)
		sum := sha512.Sum512(append([]byte(pass), salt...))
		fmt.Fprintf(&s, "%s:$6$%s$%s\n", name,
			base64.StdEncoding.EncodeToString(salt), base64.StdEncoding.EncodeToString(sum[:]))
	}
	if err := os.WriteFile(path, []byte(s.String()), 0o600); err != nil {
		return fmt.Errorf("write mosquitto password file: %w", err)
	}
	return nil
}
