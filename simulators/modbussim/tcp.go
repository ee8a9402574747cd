package modbussim

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"time"
)

// MBAP header (Modbus Messaging on TCP/IP Implementation Guide v1.0b §3.1.3):
// transaction id (2), protocol id (2, always 0), length (2, counting the unit
// id and the PDU), unit id (1).
const (
	mbapHeaderLen = 7
	mbapMaxLength = 254 // unit id + 253-byte PDU: the 260-byte ADU limit
)

// errFrame ends a connection whose byte stream cannot be framed any more.
var errFrame = errors.New("bad mbap frame")

// ListenTCP listens on addr (host:port; port 0 picks a free one) and serves
// Modbus TCP there in the background until Close. It returns the bound
// address.
func (s *Server) ListenTCP(addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("listen modbus tcp: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.goOwnedLocked(func() { s.acceptLoop(ln) }) {
		_ = ln.Close()
		return "", fmt.Errorf("listen modbus tcp: %w", ErrClosed)
	}
	s.listeners = append(s.listeners, ln)
	s.log.Info("modbus tcp listening", "addr", ln.Addr().String())
	return ln.Addr().String(), nil
}

func (s *Server) acceptLoop(ln net.Listener) {
	backoff := 5 * time.Millisecond
	for {
		c, err := ln.Accept()
		if err != nil {
			select {
			case <-s.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait, as net/http does.
			s.log.Warn("modbus tcp accept failed", "err", err, "retry_in", backoff)
			if !s.sleep(backoff) {
				return
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		s.mu.Lock()
		ok := s.goOwnedLocked(func() { s.serveConn(c) })
		if ok {
			s.conns[c] = struct{}{}
		}
		s.mu.Unlock()
		if !ok {
			_ = c.Close()
			return
		}
	}
}

func (s *Server) serveConn(c net.Conn) {
	log := s.log.With("remote", c.RemoteAddr().String())
	log.Debug("modbus tcp connection opened")
	err := s.serveTCPStream(c, c)
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	_ = c.Close()
	log.Debug("modbus tcp connection closed", "reason", err)
}

// serveTCPStream reads MBAP requests from r and writes replies to w until r
// fails, the stream cannot be framed, or a fault hangs up. It returns why it
// stopped. Requests are answered in order.
func (s *Server) serveTCPStream(r io.Reader, w io.Writer) error {
	br := bufio.NewReaderSize(r, 512)
	var hdr [mbapHeaderLen]byte
	pdu := make([]byte, mbapMaxLength)
	out := make([]byte, 0, mbapHeaderLen+mbapMaxLength)
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return fmt.Errorf("read mbap header: %w", err)
		}
		proto := binary.BigEndian.Uint16(hdr[2:])
		length := int(binary.BigEndian.Uint16(hdr[4:]))
		// A wrong protocol id or length leaves no way to find the next frame.
		if proto != 0 || length < 2 || length > mbapMaxLength {
			return fmt.Errorf("read mbap header: %w: protocol %d length %d", errFrame, proto, length)
		}
		req := pdu[:length-1]
		if _, err := io.ReadFull(br, req); err != nil {
			return fmt.Errorf("read mbap pdu: %w", err)
		}
		out = append(out[:0], hdr[:mbapHeaderLen]...)
		resp, what := s.dispatch(onTCP, hdr[6], req, out)
		switch what {
		case silent:
			continue
		case hangup:
			return errors.New("fault: drop")
		case garble:
			garbleTCP(resp)
		default:
			binary.BigEndian.PutUint16(resp[4:], uint16(len(resp)-6))
		}
		if _, err := w.Write(resp); err != nil {
			return fmt.Errorf("write mbap reply: %w", err)
		}
		out = resp
	}
}

// garbleTCP turns a reply frame into one of the same length with a wrong
// transaction id and random PDU bytes: a client that checks transaction ids
// rejects it, one that does not gets nonsense.
func garbleTCP(frame []byte) {
	frame[0] ^= 0xA5 // guaranteed to differ from the request's id
	binary.BigEndian.PutUint16(frame[4:], uint16(len(frame)-6))
	for i := mbapHeaderLen; i < len(frame); i++ {
		frame[i] = byte(rand.Uint32())
	}
}
