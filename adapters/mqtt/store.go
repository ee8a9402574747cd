package mqtt

import (
	"strings"
	"sync"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// sessionStore is paho's in-memory session store without what the source
// never reads back: paho stores every received QoS 1 PUBLISH until its
// PUBACK is sent, and on reconnection discards inbound PUBLISH packets
// unread (the broker sends unacknowledged messages again itself). Keeping
// them cost a map entry per message in flight and, in paho's MemoryStore,
// a debug line built per store and delete. Everything else — our own
// QoS 1 publishes until their PUBACK, inbound QoS 2 state — is kept as
// MemoryStore keeps it.
type sessionStore struct {
	mu   sync.Mutex
	msgs map[string]packets.ControlPacket
}

var _ paho.Store = (*sessionStore)(nil)

func newSessionStore() *sessionStore { return &sessionStore{} }

// inboundQoS1 reports whether key and m are a received QoS 1 PUBLISH.
func inboundQoS1(key string, m packets.ControlPacket) bool {
	p, ok := m.(*packets.PublishPacket)
	return ok && p.Qos == 1 && strings.HasPrefix(key, "i.")
}

func (s *sessionStore) Open() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.msgs == nil {
		s.msgs = map[string]packets.ControlPacket{}
	}
}

func (s *sessionStore) Put(key string, m packets.ControlPacket) {
	if inboundQoS1(key, m) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.msgs != nil {
		s.msgs[key] = m
	}
}

func (s *sessionStore) Get(key string) packets.ControlPacket {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.msgs[key]
}

func (s *sessionStore) All() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.msgs))
	for k := range s.msgs {
		keys = append(keys, k)
	}
	return keys
}

func (s *sessionStore) Del(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.msgs, key)
}

// Close keeps the contents: paho closes the store on Disconnect, and a
// later Connect of the same client opens it again.
func (s *sessionStore) Close() {}

func (s *sessionStore) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.msgs)
}
