package modbus

import (
	"fmt"

	"github.com/goburrow/modbus"
)

// conn is a link's Modbus client. Only the link's goroutine uses it, so
// requests are serialised and the unit id can live on the handler.
type conn interface {
	// connect opens the connection or serial port if it is not open.
	connect() error
	// close closes it; the next connect opens a fresh one.
	close() error
	// read sends one read request to unit and returns the response data
	// (after the byte count). The slice is valid until the next call.
	read(unit byte, a area, start, count uint16) ([]byte, error)
}

// goburrowConn drives a goburrow TCP or RTU handler. goburrow v0.1.0 keeps
// the slave id on the handler and (RTU) sends without a lock, which is safe
// only because one goroutine owns the conn.
type goburrowConn struct {
	handler interface {
		Connect() error
		Close() error
	}
	setUnit func(byte)
	client  modbus.Client
}

// newConn builds the client for a link. It does no I/O.
func newConn(ep endpoint, l LinkConfig) conn {
	if ep.rtu {
		h := modbus.NewRTUClientHandler(ep.addr)
		h.BaudRate = l.Serial.Baud
		h.DataBits = l.Serial.DataBits
		h.Parity = l.Serial.Parity
		h.StopBits = l.Serial.StopBits
		h.Timeout = l.Timeout
		// goburrow's idle timer closes the port from another goroutine
		// while the unlocked RTU Send may be using it: keep it off; the
		// link closes idle connections itself.
		h.IdleTimeout = 0
		return &goburrowConn{handler: h, setUnit: func(u byte) { h.SlaveId = u }, client: modbus.NewClient(h)}
	}
	h := modbus.NewTCPClientHandler(ep.addr)
	h.Timeout = l.Timeout
	h.IdleTimeout = 0 // no timer goroutine outliving Run
	return &goburrowConn{handler: h, setUnit: func(u byte) { h.SlaveId = u }, client: modbus.NewClient(h)}
}

func (c *goburrowConn) connect() error { return c.handler.Connect() }
func (c *goburrowConn) close() error   { return c.handler.Close() }

func (c *goburrowConn) read(unit byte, a area, start, count uint16) ([]byte, error) {
	c.setUnit(unit)
	var data []byte
	var err error
	switch a {
	case areaHolding:
		data, err = c.client.ReadHoldingRegisters(start, count)
	case areaInput:
		data, err = c.client.ReadInputRegisters(start, count)
	case areaCoil:
		data, err = c.client.ReadCoils(start, count)
	case areaDiscrete:
		data, err = c.client.ReadDiscreteInputs(start, count)
	default:
		return nil, fmt.Errorf("read %s: unknown area", a)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s %d+%d from unit %d: %w", a, start, count, unit, err)
	}
	return data, nil
}
