package modbus

import (
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/goburrow/modbus"
	"github.com/goburrow/serial"
)

// Error classes, the first word of device_status.error and of the logs.
const (
	classConnect    = "connect"    // dial / open failed; the link backs off
	classTimeout    = "timeout"    // no (complete) answer within the timeout
	classException  = "exception"  // the device answered with a Modbus exception
	classConnection = "connection" // the connection broke (reset, closed, EOF)
	classDecode     = "decode"     // the answer had the wrong length for the request
	classProtocol   = "protocol"   // anything else the client rejected (bad CRC, transaction id, ...)
)

// connectError is a failure to open the link (dial, open the serial port).
type connectError struct{ err error }

func (e *connectError) Error() string { return "connect: " + e.err.Error() }
func (e *connectError) Unwrap() error { return e.err }

// classify names the class of a poll error. It looks at the error's
// identity, not its text.
func classify(err error) string {
	var ce *connectError
	var me *modbus.ModbusError
	var le *lengthError
	var ne net.Error
	switch {
	case errors.As(err, &ce):
		return classConnect
	case errors.As(err, &me):
		return classException
	case errors.As(err, &le):
		return classDecode
	case errors.Is(err, serial.ErrTimeout), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return classTimeout
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED):
		return classConnection
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return classConnection
	}
	return classProtocol
}

// metricClasses are the classes of hazardgw_modbus_errors_total, coarser
// than the error classes: timeout (no answer: often a wrong unit id),
// exception (the device refused), crc (a serial frame failed its check:
// noise, wiring, a second master), io (the link: dial or open failed,
// connection broken) and protocol (any other malformed or mismatched
// reply).
var metricClasses = [...]string{"timeout", "exception", "crc", "io", "protocol"}

// metricClass is the index in metricClasses of err's class.
func metricClass(err error) int {
	switch classify(err) {
	case classTimeout:
		return 0
	case classException:
		return 1
	case classConnect, classConnection:
		return 3
	case classProtocol:
		// goburrow/modbus reports a bad CRC by text only.
		if strings.Contains(err.Error(), "crc") {
			return 2
		}
	}
	return 4
}

// statusText is the device_status.error text of err: its class, then what
// happened. Link URLs can carry user info; errors here are built from the
// dialled host:port or device path only, so nothing secret gets in.
func statusText(err error) string {
	c := classify(err)
	if c == classConnect {
		return err.Error() // already starts with "connect: "
	}
	return c + ": " + err.Error()
}
