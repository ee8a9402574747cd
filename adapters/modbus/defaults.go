package modbus

import (
	"strings"
	"time"
)

// DefaultInterval is a device's polling interval when none is configured.
const DefaultInterval = time.Second

// linkDefaults are the values that a zero Config field stands for (listed
// in docs/configuration.md); compile applies them.
var linkDefaults = struct {
	Timeout, Interval, MaxBackoff time.Duration
	MaxGap                        int
	Baud, DataBits, StopBits      int
	Parity                        string
	TCPPort                       string
}{
	Timeout:    time.Second,
	Interval:   DefaultInterval,
	MaxBackoff: 30 * time.Second,
	MaxGap:     16,
	Baud:       9600,
	DataBits:   8,
	StopBits:   1,
	Parity:     "E",
	TCPPort:    "502",
}

// Tuning that is not configurable.
const (
	// minBackoff is the first reconnect delay after a connection failure;
	// it doubles per consecutive failure up to LinkConfig.MaxBackoff.
	minBackoff = 100 * time.Millisecond
	// idleClose: before waiting longer than this for the next poll, the
	// link closes its connection rather than let a firewall or NAT drop it
	// silently (which would cost the next poll a timeout).
	idleClose = 30 * time.Second
	// bitGapFactor scales MaxGap (in registers) for coil and discrete
	// areas: 16 bits cost as much on the wire as one register.
	bitGapFactor = 16
)

// withLinkDefaults returns l with every zero field replaced by its default.
// A negative MaxGap means "bridge no gaps".
func withLinkDefaults(l LinkConfig) LinkConfig {
	if l.Timeout <= 0 {
		l.Timeout = linkDefaults.Timeout
	}
	switch {
	case l.MaxGap == 0:
		l.MaxGap = linkDefaults.MaxGap
	case l.MaxGap < 0:
		l.MaxGap = 0
	}
	if l.MaxBackoff <= 0 {
		l.MaxBackoff = linkDefaults.MaxBackoff
	}
	if l.Serial != nil {
		s := *l.Serial // never write through the caller's pointer
		l.Serial = &s
	} else {
		l.Serial = &SerialConfig{}
	}
	if l.Serial.Baud <= 0 {
		l.Serial.Baud = linkDefaults.Baud
	}
	if l.Serial.DataBits <= 0 {
		l.Serial.DataBits = linkDefaults.DataBits
	}
	if l.Serial.StopBits <= 0 {
		l.Serial.StopBits = linkDefaults.StopBits
	}
	if l.Serial.Parity == "" {
		l.Serial.Parity = linkDefaults.Parity
	}
	l.Serial.Parity = strings.ToUpper(l.Serial.Parity)
	return l
}

// deviceInterval returns the polling interval of d, defaulted.
func deviceInterval(d DeviceConfig) time.Duration {
	if d.Interval <= 0 {
		return linkDefaults.Interval
	}
	return d.Interval
}

// endpoint is a parsed link URL.
type endpoint struct {
	rtu  bool
	addr string // host:port for TCP, device path for RTU
}
