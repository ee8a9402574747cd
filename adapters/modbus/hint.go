package modbus

import (
	"context"
	"errors"
	"os"
	"syscall"

	"github.com/goburrow/modbus"
)

// Hint explains a poll or probe error to the engineer commissioning a
// device: what the failure usually means on site and what to check. It is
// "" for an error it has nothing to add to.
func Hint(err error) string {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return "" // stopped by the caller: nothing about the device
	}
	var re *requestError
	if errors.As(err, &re) {
		return "" // says itself what is wrong
	}
	var me *modbus.ModbusError
	if errors.As(err, &me) {
		return exceptionHint(me.ExceptionCode)
	}
	switch classify(err) {
	case classConnect:
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			return "connection refused: the host is up but nothing listens on that port; check the port (Modbus TCP is 502) and that the device's Modbus server is enabled"
		case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
			return "no route to the host: check the address, the network cable and the gateway's IP settings"
		case errors.Is(err, os.ErrNotExist):
			return "the serial device does not exist: check the path (ls -l /dev/serial/by-id/) and that the adapter is plugged in"
		case errors.Is(err, os.ErrPermission):
			return "no permission to open the serial device: run as a member of its group (usually dialout)"
		case isTimeout(err):
			return "the connection attempt timed out: the host does not answer; check the address, the route and firewalls"
		}
		return "could not open the link: check the URL"
	case classTimeout:
		return "no reply within the timeout although the link is open: the unit id is probably wrong or the device is off; on a serial bus also check baud rate, parity and the A/B wiring"
	case classConnection:
		return "the device closed the connection: many devices accept only one Modbus TCP client at a time; is another master (a SCADA, a second gateway) connected?"
	case classDecode:
		return "the reply has the wrong length for the request: the device does not implement this read properly; try fewer registers"
	case classProtocol:
		return "a garbled or mismatched reply: on a serial bus check baud rate, parity, termination and that there is one master; on TCP, that the port speaks Modbus TCP (not RTU over TCP)"
	}
	return ""
}

// exceptionHint explains a Modbus exception code (Modbus Application
// Protocol v1.1b3 §7), by name.
func exceptionHint(code byte) string {
	switch code {
	case modbus.ExceptionCodeIllegalFunction:
		return "exception 1, illegal function: the device does not support reading this area; try the other register area (holding / input)"
	case modbus.ExceptionCodeIllegalDataAddress:
		return "exception 2, illegal data address: part of the range does not exist on the device; check the address (zero-based: register 40001 is holding 0, 30001 is input 0) and the count"
	case modbus.ExceptionCodeIllegalDataValue:
		return "exception 3, illegal data value: the device refuses the request as sent; read fewer registers"
	case modbus.ExceptionCodeServerDeviceFailure:
		return "exception 4, server device failure: the device failed while answering; check its own diagnostics"
	case modbus.ExceptionCodeAcknowledge, modbus.ExceptionCodeServerDeviceBusy:
		return "the device is busy; try again"
	case modbus.ExceptionCodeGatewayPathUnavailable:
		return "exception 10, gateway path unavailable: the TCP-to-serial gateway has no route to this unit id; check the unit id and the gateway's routing"
	case modbus.ExceptionCodeGatewayTargetDeviceFailedToRespond:
		return "exception 11, gateway target device failed to respond: the TCP-to-serial gateway got no answer from the unit; check the unit id, and baud rate, parity and wiring behind the gateway"
	}
	return "the device answered with an exception"
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
