package mqttsim

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// VoiceCommand is what the gateway sends a checkpoint's speaker (decoded
// here from the published JSON, not with the gateway's types):
//
//	{"cmd":"voice","level":4,"text":"当前森林火险等级为四级（高），严禁携带火种进山","ts":"…"}
type VoiceCommand struct {
	Cmd   string    `json:"cmd"`
	Level int       `json:"level"`
	Text  string    `json:"text"`
	TS    time.Time `json:"ts"`
}

// DefaultCommandTopic is the checkpoints' command topic template.
const DefaultCommandTopic = "site/{site}/checkpoint/{checkpoint}/command"

// Speakers are the voice units of a site's checkpoints: subscribed to
// their command topic, each keeps the last voice command it received and
// announces it to everyone passing. A checkpoint that has received none
// has nothing to say: its passages report voice_played false. A muted
// checkpoint (a broken speaker) receives its commands but plays nothing.
//
// Methods are safe for concurrent use.
type Speakers struct {
	site, tmpl string
	client     paho.Client

	mu    sync.Mutex
	last  map[string]VoiceCommand
	muted map[string]bool
	heard int
}

// NewSpeakers connects a client to the broker at url and subscribes to the
// command topics of every checkpoint of site (tmpl "" is
// DefaultCommandTopic; {checkpoint} becomes the + wildcard). Retained
// commands arrive at once.
func NewSpeakers(ctx context.Context, url, site, tmpl, clientID string) (*Speakers, error) {
	if tmpl == "" {
		tmpl = DefaultCommandTopic
	}
	if !strings.Contains(tmpl, "{checkpoint}") {
		return nil, fmt.Errorf("speakers: command topic %q has no {checkpoint}", tmpl)
	}
	s := &Speakers{site: site, tmpl: tmpl, last: map[string]VoiceCommand{}, muted: map[string]bool{}}
	filter := strings.NewReplacer("{site}", site, "{checkpoint}", "+").Replace(tmpl)
	o := paho.NewClientOptions().AddBroker(url).SetClientID(clientID).SetProtocolVersion(4).
		SetCleanSession(true).SetAutoReconnect(true).SetMaxReconnectInterval(time.Second).
		SetConnectRetry(true).SetConnectRetryInterval(200 * time.Millisecond).
		SetOnConnectHandler(func(c paho.Client) { c.Subscribe(filter, 1, s.onCommand) })
	s.client = paho.NewClient(o)
	tok := s.client.Connect()
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return nil, fmt.Errorf("connect speakers: %w", err)
		}
	case <-ctx.Done():
		s.client.Disconnect(0)
		return nil, fmt.Errorf("connect speakers: %w", ctx.Err())
	}
	return s, nil
}

// checkpointOf returns the {checkpoint} level of topic under the template.
func (s *Speakers) checkpointOf(topic string) string {
	want := strings.Split(strings.ReplaceAll(s.tmpl, "{site}", s.site), "/")
	got := strings.Split(topic, "/")
	if len(want) != len(got) {
		return ""
	}
	id := ""
	for i := range want {
		switch {
		case want[i] == "{checkpoint}":
			id = got[i]
		case want[i] != got[i]:
			return ""
		}
	}
	return id
}

func (s *Speakers) onCommand(_ paho.Client, m paho.Message) {
	id := s.checkpointOf(m.Topic())
	var c VoiceCommand
	if id == "" || json.Unmarshal(m.Payload(), &c) != nil || c.Cmd != "voice" || c.Text == "" {
		return // not a voice command this speaker understands
	}
	s.mu.Lock()
	s.last[id] = c
	s.heard++
	s.mu.Unlock()
}

// Mute breaks (or, with false, repairs) a checkpoint's speaker.
func (s *Speakers) Mute(checkpoint string, muted bool) {
	s.mu.Lock()
	s.muted[checkpoint] = muted
	s.mu.Unlock()
}

// Plays reports whether a passage at checkpoint hears the warning: it has
// a command and its speaker works.
func (s *Speakers) Plays(checkpoint string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.last[checkpoint]
	return ok && !s.muted[checkpoint]
}

// Last returns the last command checkpoint received.
func (s *Speakers) Last(checkpoint string) (VoiceCommand, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.last[checkpoint]
	return c, ok
}

// Close disconnects.
func (s *Speakers) Close() { s.client.Disconnect(250) }
