package modbus

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"
	"unsafe"

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
	// goburrow frames the requests and checks the replies; tcpTransport
	// carries them.
	h := &modbus.TCPClientHandler{}
	t := &tcpTransport{addr: ep.addr, timeout: l.Timeout}
	return &goburrowConn{handler: t, setUnit: func(u byte) { h.SlaveId = u }, client: modbus.NewClient2(h, t)}
}

// Modbus TCP framing: the MBAP header (transaction id, protocol id, length,
// unit id) and the largest frame.
const (
	mbapHeader = 7
	tcpMaxADU  = 260
)

// tcpTransport is the goburrow Transporter of a TCP link, in place of
// goburrow's own, which sets the connection's deadline before every request
// and reads every reply in two reads (header, then the rest). This one reads
// whatever the connection holds into one buffer and takes the reply from
// it: one read per reply when it arrives in one segment, as it does. And
// back-to-back requests share a deadline: it is moved only when less than
// nine tenths of the timeout is left, so each request still gets between
// 0.9 and 1 times the timeout, with one deadline per poll rather than per
// request.
//
// It reads and writes the socket with raw system calls through the
// connection's RawConn: the socket is non-blocking, so they never block,
// and the goroutine still waits for the socket in the runtime's network
// poller, under the deadline. A plain system call would also wake the
// runtime's monitor thread whenever the process was idle before it — on
// every request and every reply of a poll, which cost more CPU than the
// I/O itself. Only the link's goroutine uses it.
type tcpTransport struct {
	addr    string
	timeout time.Duration // of the dial, and of each request; 0: none
	conn    net.Conn
	raw     syscall.RawConn // conn's; nil if it has none (tests)
	until   time.Time       // conn's deadline
	// buf[r:w] was received and not yet taken: bytes after a reply stay
	// for the next request, as they would in the socket.
	buf  [2 * tcpMaxADU]byte
	r, w int
}

var _ modbus.Transporter = (*tcpTransport)(nil)

// Connect dials unless connected.
func (t *tcpTransport) Connect() error {
	if t.conn != nil {
		return nil
	}
	d := net.Dialer{Timeout: t.timeout}
	c, err := d.Dial("tcp", t.addr)
	if err != nil {
		return err
	}
	t.setConn(c)
	return nil
}

func (t *tcpTransport) setConn(c net.Conn) {
	t.conn, t.raw, t.until, t.r, t.w = c, nil, time.Time{}, 0, 0
	if sc, ok := c.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			t.raw = raw
		}
	}
}

// Close closes the connection, dropping whatever was received.
func (t *tcpTransport) Close() error {
	if t.conn == nil {
		return nil
	}
	err := t.conn.Close()
	t.conn, t.raw, t.r, t.w = nil, nil, 0, 0
	return err
}

// Send writes one request and returns the next frame received, valid
// until the next call. Like goburrow's, it checks the frame's length only:
// goburrow's packager checks the ids and decodes it.
func (t *tcpTransport) Send(req []byte) ([]byte, error) {
	if err := t.Connect(); err != nil {
		return nil, err
	}
	if t.timeout > 0 {
		if now := time.Now(); t.until.Sub(now) < t.timeout-t.timeout/10 {
			t.until = now.Add(t.timeout)
			if err := t.conn.SetDeadline(t.until); err != nil {
				return nil, err
			}
		}
	}
	if err := t.write(req); err != nil {
		return nil, err
	}
	if t.r > 0 {
		t.w = copy(t.buf[:], t.buf[t.r:t.w])
		t.r = 0
	}
	if err := t.fill(mbapHeader); err != nil {
		return nil, err
	}
	length := int(binary.BigEndian.Uint16(t.buf[4:]))
	if length <= 0 {
		t.r, t.w = 0, 0
		return nil, fmt.Errorf("modbus: length in response header '%v' must not be zero", length)
	}
	if length > tcpMaxADU-mbapHeader+1 {
		t.r, t.w = 0, 0
		return nil, fmt.Errorf("modbus: length in response header '%v' must not greater than '%v'", length, tcpMaxADU-mbapHeader+1)
	}
	size := mbapHeader - 1 + length // the length counts the unit id
	if err := t.fill(size); err != nil {
		return nil, err
	}
	t.r = size
	return t.buf[:size:size], nil
}

// fill reads until buf holds at least n bytes from r (which is 0).
func (t *tcpTransport) fill(n int) error {
	for t.w < n {
		k, err := t.read(t.buf[t.w:])
		t.w += k
		if err != nil && t.w < n {
			return err
		}
	}
	return nil
}

// read reads into b (not empty) what the socket holds, waiting for
// something to arrive.
func (t *tcpTransport) read(b []byte) (int, error) {
	if t.raw == nil {
		return t.conn.Read(b)
	}
	var n int
	var errno syscall.Errno
	for {
		err := t.raw.Read(func(fd uintptr) bool {
			r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
			n, errno = int(r), e
			return e != syscall.EAGAIN
		})
		switch {
		case err != nil: // the deadline, or closed
			return 0, t.opError("read", err)
		case errno == syscall.EINTR:
			continue
		case errno != 0:
			return 0, t.opError("read", os.NewSyscallError("read", errno))
		case n == 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

// opError is err as net.Conn's Read and Write report it.
func (t *tcpTransport) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: t.conn.LocalAddr(), Addr: t.conn.RemoteAddr(), Err: err}
}

// write writes all of b.
func (t *tcpTransport) write(b []byte) error {
	if t.raw == nil {
		_, err := t.conn.Write(b)
		return err
	}
	for len(b) > 0 {
		var n int
		var errno syscall.Errno
		err := t.raw.Write(func(fd uintptr) bool {
			r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
			n, errno = int(r), e
			return e != syscall.EAGAIN
		})
		switch {
		case err != nil:
			return t.opError("write", err)
		case errno == syscall.EINTR:
			continue
		case errno != 0:
			return t.opError("write", os.NewSyscallError("write", errno))
		}
		b = b[n:]
	}
	return nil
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
