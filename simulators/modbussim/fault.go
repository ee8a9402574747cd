package modbussim

import (
	"fmt"
	"time"
)

// FaultMode says how a unit misbehaves. The zero value "" means None.
type FaultMode string

// Fault modes. They apply to every request addressed to the unit, reads and
// writes alike, on every transport.
const (
	// None: answer normally.
	None FaultMode = "none"
	// NoReply: read the request and never answer it. The connection stays
	// open and later requests are served (as when a device behind a gateway
	// is dead).
	NoReply FaultMode = "no_reply"
	// Slow: answer normally after Fault.Delay.
	Slow FaultMode = "slow"
	// Exception: answer with exception Fault.Code (default 04, server
	// device failure; 06 busy and 0B gateway target failed to respond are
	// the other usual ones).
	Exception FaultMode = "exception"
	// Drop: close the TCP connection when the unit is addressed. On RTU,
	// where there is no connection, it behaves like NoReply.
	Drop FaultMode = "drop"
	// Garbage: answer with a frame of the right length and random content;
	// on TCP with a wrong transaction id, on RTU with a bad CRC.
	Garbage FaultMode = "garbage"
)

// Fault is the misbehaviour of one unit. The zero Fault is None.
type Fault struct {
	Mode  FaultMode
	Delay time.Duration // Slow: how long to wait before answering
	Code  byte          // Exception: the exception code; 0 means 04
}

// normalize validates f and fills defaults.
func (f Fault) normalize() (Fault, error) {
	switch f.Mode {
	case "", None:
		return Fault{Mode: None}, nil
	case NoReply, Drop, Garbage:
		return Fault{Mode: f.Mode}, nil
	case Slow:
		if f.Delay < 0 {
			return Fault{}, fmt.Errorf("check fault: negative delay %v", f.Delay)
		}
		return Fault{Mode: Slow, Delay: f.Delay}, nil
	case Exception:
		if f.Code == 0 {
			f.Code = ExServerDeviceFailure
		}
		if f.Code >= 0x80 {
			return Fault{}, fmt.Errorf("check fault: exception code %#02x must be below 0x80", f.Code)
		}
		return Fault{Mode: Exception, Code: f.Code}, nil
	}
	return Fault{}, fmt.Errorf("check fault: unknown mode %q (want none, no_reply, slow, exception, drop or garbage)", f.Mode)
}
