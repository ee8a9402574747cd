package modbussim

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"syscall"
	"time"
)

// RTU framing (Modbus over Serial Line v1.02 §2.5): address (1), PDU, CRC-16
// (low byte first). The smallest frame is address + function + CRC.
const (
	rtuMinFrame     = 4
	rtuMaxFrame     = 256
	maxRequestFrame = 7 + 255 + 2 // write multiple with the largest byte count
)

// crc16 is the Modbus CRC: polynomial 0xA001 (0x8005 reflected), initial
// value 0xFFFF, sent low byte first.
func crc16(b []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, c := range b {
		crc ^= uint16(c)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xA001
			} else {
				crc >>= 1
			}
		}
	}
	return crc
}

func appendCRC(b []byte) []byte {
	c := crc16(b)
	return append(b, byte(c), byte(c>>8))
}

func crcOK(frame []byte) bool {
	n := len(frame)
	return n >= rtuMinFrame && crc16(frame[:n-2]) == uint16(frame[n-2])|uint16(frame[n-1])<<8
}

// requestLen returns the length of the request frame at the start of b,
// told from its function code: 0 if more bytes are needed to tell, -1 if
// the function code does not say (then the frame ends at a silence).
func requestLen(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	switch b[1] {
	case fcReadCoils, fcReadDiscrete, fcReadHolding, fcReadInput, fcWriteCoil, fcWriteRegister:
		return 8 // address, function, 4 data bytes, CRC
	case fcWriteMultipleCoils, fcWriteMultipleRegs:
		if len(b) < 7 {
			return 0
		}
		return 7 + int(b[6]) + 2 // address, function, start, quantity, byte count, values, CRC
	}
	return -1
}

// rtuFramer cuts a serial byte stream into request frames: by the length
// the function code implies, or at a silence when it implies none. After a
// CRC error it discards everything until the next silence, which is how a
// slave resynchronises on a real bus. It does no I/O, so it can be fuzzed.
type rtuFramer struct {
	buf    []byte
	resync bool
}

// feed adds bytes received from the line and calls emit for each complete
// frame with a good CRC. emit must not retain the frame.
func (f *rtuFramer) feed(p []byte, emit func(frame []byte)) {
	if f.resync {
		return
	}
	f.buf = append(f.buf, p...)
	for len(f.buf) > 0 {
		n := requestLen(f.buf)
		if n <= 0 || len(f.buf) < n {
			break // wait for more bytes, or for the silence
		}
		if !crcOK(f.buf[:n]) {
			f.discard()
			return
		}
		emit(f.buf[:n])
		f.buf = f.buf[:copy(f.buf, f.buf[n:])]
	}
	if len(f.buf) > maxRequestFrame {
		f.discard() // no request is this long: noise on the line
	}
}

// silence ends the current frame: a buffered frame with a good CRC (a
// function code requestLen does not know) is emitted, anything else dropped.
func (f *rtuFramer) silence(emit func(frame []byte)) {
	if !f.resync && crcOK(f.buf) {
		emit(f.buf)
	}
	f.buf = f.buf[:0]
	f.resync = false
}

// pending reports whether the framer is waiting for a silence or a frame's
// remaining bytes.
func (f *rtuFramer) pending() bool { return f.resync || len(f.buf) > 0 }

func (f *rtuFramer) discard() {
	f.buf = f.buf[:0]
	f.resync = true
}

// rtuPort is one serial line being served. file changes when the line is
// reopened after an error.
type rtuPort struct {
	path string

	mu     sync.Mutex
	file   *os.File
	closed bool
}

func (p *rtuPort) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.file != nil {
		_ = p.file.Close()
	}
}

// reopen replaces the port's file; it fails once the port is closed.
func (p *rtuPort) reopen() (*os.File, error) {
	f, err := openSerial(p.path)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		_ = f.Close()
		return nil, ErrClosed
	}
	p.file = f
	return f, nil
}

// openSerial opens a serial device or pty. Line settings are not touched:
// a pty made by `socat pty,raw,echo=0` is already raw; a real port should be
// configured with stty beforehand.
func openSerial(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("open serial line: %w", err)
	}
	return f, nil
}

// ServeRTU opens the serial line at path (a tty or pty) and serves Modbus
// RTU on it in the background until Close. Units answer on every line the
// server serves. If the line fails (the other end of a pty goes away) it is
// reopened every second until Close.
func (s *Server) ServeRTU(path string) error {
	p := &rtuPort{path: path}
	f, err := p.reopen()
	if err != nil {
		return fmt.Errorf("serve rtu %s: %w", path, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.goOwnedLocked(func() { s.rtuLoop(p, f) }) {
		_ = f.Close()
		return fmt.Errorf("serve rtu %s: %w", path, ErrClosed)
	}
	s.ports[p] = struct{}{}
	s.log.Info("modbus rtu serving", "path", path)
	return nil
}

func (s *Server) rtuLoop(p *rtuPort, f *os.File) {
	log := s.log.With("path", p.path)
	defer func() {
		s.mu.Lock()
		delete(s.ports, p)
		s.mu.Unlock()
		p.close()
	}()
	for {
		err := s.serveRTULine(f)
		select {
		case <-s.done:
			return
		default:
		}
		log.Warn("modbus rtu line failed, reopening", "err", err)
		for {
			if !s.sleep(time.Second) {
				return
			}
			if f, err = p.reopen(); err == nil {
				log.Info("modbus rtu line reopened")
				break
			}
			if errors.Is(err, ErrClosed) {
				return
			}
		}
	}
}

// serveRTULine serves one open line until it fails or is closed.
func (s *Server) serveRTULine(f *os.File) error {
	var fr rtuFramer
	in := make([]byte, 512)
	out := make([]byte, 0, rtuMaxFrame)
	var werr error
	emit := func(frame []byte) {
		if werr == nil {
			out, werr = s.answerRTU(frame, out[:0])
			if werr == nil && len(out) > 0 {
				_, werr = f.Write(out)
			}
		}
	}
	deadlines := true
	for {
		if deadlines {
			var d time.Time
			if fr.pending() {
				d = time.Now().Add(s.rtuGap)
			}
			if err := f.SetReadDeadline(d); err != nil {
				deadlines = false // not pollable: frame by length only
			}
		}
		n, err := f.Read(in)
		fr.feed(in[:n], emit)
		if werr != nil {
			return fmt.Errorf("write rtu reply: %w", werr)
		}
		switch {
		case err == nil:
		case errors.Is(err, os.ErrDeadlineExceeded):
			fr.silence(emit)
			if werr != nil {
				return fmt.Errorf("write rtu reply: %w", werr)
			}
		default:
			return fmt.Errorf("read rtu line: %w", err)
		}
	}
}

// answerRTU dispatches one request frame and appends the reply frame to
// out; out stays empty when nothing is to be sent.
func (s *Server) answerRTU(frame, out []byte) ([]byte, error) {
	addr := frame[0]
	out = append(out, addr)
	resp, what := s.dispatch(onRTU, addr, frame[1:len(frame)-2], out)
	switch what {
	case reply:
		return appendCRC(resp), nil
	case garble:
		return garbleRTU(resp), nil
	}
	return out[:0], nil
}

// garbleRTU turns a reply (without CRC yet) into random bytes of the reply's
// length followed by a CRC that is certainly wrong.
func garbleRTU(frame []byte) []byte {
	for i := range frame {
		frame[i] = byte(rand.Uint32())
	}
	c := crc16(frame) ^ 0xFFFF
	return append(frame, byte(c), byte(c>>8))
}
