package modbus

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// DefaultInterval is a device's polling interval when none is configured.
const DefaultInterval = time.Second

// linkDefaults are the values that a zero Config field stands for (SPEC §3).
// They live here, not in config.go, so that Validate and the adapter can
// evolve separately; New applies them.
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

// parseEndpoint parses tcp://host[:port] (port default 502) or
// rtu:///dev/ttyX. User info in a URL is ignored and never echoed.
func parseEndpoint(raw string) (endpoint, error) {
	if path, ok := strings.CutPrefix(raw, "rtu://"); ok {
		if path == "" || !strings.HasPrefix(path, "/") {
			return endpoint{}, errors.New("rtu url must name an absolute device path, e.g. rtu:///dev/ttyUSB0")
		}
		return endpoint{rtu: true, addr: path}, nil
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "tcp" || u.Host == "" {
		return endpoint{}, errors.New("url must be tcp://host:port or rtu:///dev/ttyX")
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return endpoint{}, errors.New("tcp url has no host")
	}
	if port == "" {
		port = linkDefaults.TCPPort
	}
	return endpoint{addr: net.JoinHostPort(host, port)}, nil
}

// checkSerial reports serial settings goburrow/serial cannot apply.
func checkSerial(s *SerialConfig) error {
	var errs []error
	switch s.Parity {
	case "N", "E", "O":
	default:
		errs = append(errs, fieldErr("parity", fmt.Errorf("%q must be N, E or O", s.Parity)))
	}
	if !slices.Contains(standardBauds, s.Baud) { // standardBauds: validate.go
		errs = append(errs, fieldErr("baud", fmt.Errorf("%d is not a standard rate (1200 ... 921600)", s.Baud)))
	}
	if s.DataBits < 5 || s.DataBits > 8 {
		errs = append(errs, fieldErr("data_bits", fmt.Errorf("%d must be 5..8", s.DataBits)))
	}
	if s.StopBits != 1 && s.StopBits != 2 {
		errs = append(errs, fieldErr("stop_bits", fmt.Errorf("%d must be 1 or 2", s.StopBits)))
	}
	return errors.Join(errs...)
}
