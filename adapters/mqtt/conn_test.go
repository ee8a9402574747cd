package mqtt

import "testing"

// TestBufferedOpenerOnlyForPlainTCP: the buffered connection replaces
// paho's own only for plain TCP brokers without a proxy in the environment.
func TestBufferedOpenerOnlyForPlainTCP(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want bool
	}{
		{"tcp://127.0.0.1:1883", true},
		{"mqtt://broker.local:1883", true},
		{"ssl://broker.local:8883", false},
		{"tls://broker.local:8883", false},
		{"ws://broker.local:8080/mqtt", false},
		{"wss://broker.local:8443/mqtt", false},
		{"unix:///run/mosquitto.sock", false},
	} {
		if got := bufferedOpener(tc.url) != nil; got != tc.want {
			t.Errorf("%s: buffered %v, want %v", tc.url, got, tc.want)
		}
	}
	t.Setenv("ALL_PROXY", "socks5://127.0.0.1:1080")
	if bufferedOpener("tcp://127.0.0.1:1883") != nil {
		t.Error("buffered with ALL_PROXY set: paho's proxy support would be bypassed")
	}
}
