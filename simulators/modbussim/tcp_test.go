package modbussim

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

func startTCP(t testing.TB) (*Server, string) {
	t.Helper()
	s := newTestServer(t)
	addr, err := s.ListenTCP("127.0.0.1:0")
	mustNoErr(t, err)
	return s, addr
}

func TestTCPReadFunctions(t *testing.T) {
	s, addr := startTCP(t)
	u := s.Unit(1)
	mustNoErr(t, u.SetRegisters(Holding, 10, 0x1234, 0x5678))
	mustNoErr(t, u.SetRegisters(Input, 100, 0xBEEF))
	mustNoErr(t, u.SetBits(Coil, 20, true, false, true, true, false, false, false, false, true))
	mustNoErr(t, u.SetBits(Discrete, 0, false, true))
	c := dialTCP(t, addr)

	tests := []struct {
		name string
		req  []byte
		want []byte
	}{
		{"fc3 holding", readReq(fcReadHolding, 10, 2), []byte{0x03, 4, 0x12, 0x34, 0x56, 0x78}},
		{"fc3 unwritten is zero", readReq(fcReadHolding, 40000, 1), []byte{0x03, 2, 0, 0}},
		{"fc4 input", readReq(fcReadInput, 100, 1), []byte{0x04, 2, 0xBE, 0xEF}},
		// 9 coils: 1,0,1,1,0,0,0,0 -> 0b00001101, then 1 -> 0x01 (first coil in the LSB).
		{"fc1 coils", readReq(fcReadCoils, 20, 9), []byte{0x01, 2, 0x0D, 0x01}},
		{"fc2 discrete", readReq(fcReadDiscrete, 0, 2), []byte{0x02, 1, 0x02}},
		{"fc3 at the top", readReq(fcReadHolding, 65535, 1), []byte{0x03, 2, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.call(t, 1, tt.req); !bytes.Equal(got, tt.want) {
				t.Fatalf("reply % X, want % X", got, tt.want)
			}
		})
	}
}

func TestTCPWriteFunctions(t *testing.T) {
	s, addr := startTCP(t)
	u := s.Unit(7)
	c := dialTCP(t, addr)

	req := writeSingleReq(fcWriteCoil, 3, 0xFF00)
	if got := c.call(t, 7, req); !bytes.Equal(got, req) {
		t.Fatalf("fc5 reply % X, want the request echoed", got)
	}
	req = writeSingleReq(fcWriteRegister, 9, 0xABCD)
	if got := c.call(t, 7, req); !bytes.Equal(got, req) {
		t.Fatalf("fc6 reply % X, want the request echoed", got)
	}
	req = writeRegsReq(100, 1, 2, 3)
	if got := c.call(t, 7, req); !bytes.Equal(got, []byte{0x10, 0, 100, 0, 3}) {
		t.Fatalf("fc16 reply % X", got)
	}
	req = writeCoilsReq(10, true, false, true, true, false, false, false, false, true, true)
	if got := c.call(t, 7, req); !bytes.Equal(got, []byte{0x0F, 0, 10, 0, 10}) {
		t.Fatalf("fc15 reply % X", got)
	}
	req = writeSingleReq(fcWriteCoil, 3, 0x0000)
	if got := c.call(t, 7, req); !bytes.Equal(got, req) {
		t.Fatalf("fc5 off reply % X", got)
	}

	regs, _ := u.Registers(Holding, 9, 1)
	more, _ := u.Registers(Holding, 100, 3)
	bits, _ := u.Bits(Coil, 10, 10)
	coil3, _ := u.Bits(Coil, 3, 1)
	switch {
	case regs[0] != 0xABCD:
		t.Errorf("holding 9 = %04X", regs[0])
	case !slices.Equal(more, []uint16{1, 2, 3}):
		t.Errorf("holding 100.. = %v", more)
	case !slices.Equal(bits, []bool{true, false, true, true, false, false, false, false, true, true}):
		t.Errorf("coils 10.. = %v", bits)
	case coil3[0]:
		t.Errorf("coil 3 still on")
	}
	// Writes go to the read/write areas only, and read back over the wire.
	if got := regsOf(t, c.call(t, 7, readReq(fcReadHolding, 100, 3))); !slices.Equal(got, []uint16{1, 2, 3}) {
		t.Errorf("read back %v", got)
	}
}

func TestTCPExceptions(t *testing.T) {
	s, addr := startTCP(t)
	s.Unit(1)
	c := dialTCP(t, addr)
	tests := []struct {
		name string
		req  []byte
		want []byte
	}{
		{"unknown function 7", []byte{0x07}, []byte{0x87, 0x01}},
		{"unknown function 0x2B", []byte{0x2B, 0x0E, 0x01, 0x00}, []byte{0xAB, 0x01}},
		{"fc3 quantity 0", readReq(fcReadHolding, 0, 0), []byte{0x83, 0x03}},
		{"fc3 quantity 126", readReq(fcReadHolding, 0, 126), []byte{0x83, 0x03}},
		{"fc4 quantity 126", readReq(fcReadInput, 0, 126), []byte{0x84, 0x03}},
		{"fc1 quantity 2001", readReq(fcReadCoils, 0, 2001), []byte{0x81, 0x03}},
		{"fc2 quantity 0", readReq(fcReadDiscrete, 0, 0), []byte{0x82, 0x03}},
		{"fc3 past 65535", readReq(fcReadHolding, 65535, 2), []byte{0x83, 0x02}},
		{"fc1 past 65535", readReq(fcReadCoils, 65000, 600), []byte{0x81, 0x02}},
		{"fc3 short pdu", []byte{0x03, 0x00, 0x00}, []byte{0x83, 0x03}},
		{"fc3 long pdu", []byte{0x03, 0, 0, 0, 1, 0}, []byte{0x83, 0x03}},
		{"fc5 bad value", writeSingleReq(fcWriteCoil, 0, 0x1234), []byte{0x85, 0x03}},
		{"fc6 short", []byte{0x06, 0, 1}, []byte{0x86, 0x03}},
		{"fc16 byte count mismatch", append(readReq(fcWriteMultipleRegs, 0, 2), 3, 0, 1, 0), []byte{0x90, 0x03}},
		{"fc16 quantity 124", append(readReq(fcWriteMultipleRegs, 0, 124), 248, 0, 0), []byte{0x90, 0x03}},
		{"fc16 past 65535", writeRegsReq(65535, 1, 2), []byte{0x90, 0x02}},
		{"fc16 past 65535 and a bad byte count", append(readReq(fcWriteMultipleRegs, 65535, 2), 3, 0, 1, 0), []byte{0x90, 0x03}},
		{"fc15 past 65535", writeCoilsReq(65535, true, true), []byte{0x8F, 0x02}},
		{"fc15 quantity 1969", writeCoilsReq(0, make([]bool, 1969)...), []byte{0x8F, 0x03}},
		{"fc15 missing data", append(readReq(fcWriteMultipleCoils, 0, 8), 1), []byte{0x8F, 0x03}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.call(t, 1, tt.req); !bytes.Equal(got, tt.want) {
				t.Fatalf("reply % X, want % X", got, tt.want)
			}
		})
	}
}

func TestTCPLimitsAccepted(t *testing.T) {
	s, addr := startTCP(t)
	s.Unit(1)
	c := dialTCP(t, addr)
	if got := c.call(t, 1, readReq(fcReadHolding, 0, 125)); len(got) != 2+250 {
		t.Errorf("fc3 125 registers: reply of %d bytes", len(got))
	}
	if got := c.call(t, 1, readReq(fcReadCoils, 0, 2000)); len(got) != 2+250 || got[1] != 250 {
		t.Errorf("fc1 2000 coils: reply of %d bytes", len(got))
	}
	if got := c.call(t, 1, writeRegsReq(0, make([]uint16, 123)...)); !bytes.Equal(got, []byte{0x10, 0, 0, 0, 123}) {
		t.Errorf("fc16 123 registers: % X", got)
	}
	if got := c.call(t, 1, writeCoilsReq(0, make([]bool, 1968)...)); !bytes.Equal(got, []byte{0x0F, 0, 0, 0x07, 0xB0}) {
		t.Errorf("fc15 1968 coils: % X", got)
	}
}

// expectNoReply proves that the request just sent to a unit got no answer:
// it sends a request to a healthy unit on the same connection and checks
// that the next frame is the answer to that one. Requests on a connection
// are answered in order, so a late reply to the first would come first.
func expectNoReply(t *testing.T, c *tcpClient, healthy byte) {
	t.Helper()
	id := c.send(t, healthy, readReq(fcReadHolding, 0, 1))
	txid, _, pdu, err := c.recv(replyTimeout)
	if err != nil {
		t.Fatalf("read sentinel reply: %v", err)
	}
	if txid != id {
		t.Fatalf("got a reply to transaction %d (% X) before the sentinel %d", txid, pdu, id)
	}
}

func TestTCPMultipleUnitsAndMissingUnit(t *testing.T) {
	s, addr := startTCP(t)
	mustNoErr(t, s.Unit(1).SetRegisters(Holding, 0, 111))
	mustNoErr(t, s.Unit(2).SetRegisters(Holding, 0, 222))
	mustNoErr(t, s.Unit(255).SetRegisters(Holding, 0, 255))
	c := dialTCP(t, addr)
	for unit, want := range map[byte]uint16{1: 111, 2: 222, 255: 255} {
		if got := regsOf(t, c.call(t, unit, readReq(fcReadHolding, 0, 1))); got[0] != want {
			t.Errorf("unit %d: %d, want %d", unit, got[0], want)
		}
	}
	c.send(t, 9, readReq(fcReadHolding, 0, 1)) // unit 9 does not exist
	expectNoReply(t, c, 1)
	c.send(t, 0, readReq(fcReadHolding, 0, 1)) // nor does 0
	expectNoReply(t, c, 2)
}

func TestTCPFaults(t *testing.T) {
	s, addr := startTCP(t)
	s.Unit(1) // healthy
	u := s.Unit(3)
	mustNoErr(t, u.SetRegisters(Holding, 0, 42))

	t.Run("no reply", func(t *testing.T) {
		mustNoErr(t, u.SetFault(Fault{Mode: NoReply}))
		c := dialTCP(t, addr)
		c.send(t, 3, readReq(fcReadHolding, 0, 1))
		if _, _, _, err := c.recv(50 * time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read: %v, want a timeout", err)
		}
		c.send(t, 3, writeSingleReq(fcWriteRegister, 0, 1)) // writes are ignored too
		expectNoReply(t, c, 1)
		if regs, _ := u.Registers(Holding, 0, 1); regs[0] != 42 {
			t.Fatalf("write to a silent unit took effect: %d", regs[0])
		}
	})
	t.Run("exception", func(t *testing.T) {
		mustNoErr(t, u.SetFault(Fault{Mode: Exception, Code: ExServerDeviceBusy}))
		c := dialTCP(t, addr)
		if got := c.call(t, 3, readReq(fcReadHolding, 0, 1)); !bytes.Equal(got, []byte{0x83, 0x06}) {
			t.Fatalf("reply % X, want 83 06", got)
		}
		mustNoErr(t, u.SetFault(Fault{Mode: Exception}))
		if got := c.call(t, 3, readReq(fcReadInput, 0, 1)); !bytes.Equal(got, []byte{0x84, 0x04}) {
			t.Fatalf("reply % X, want 84 04 (default code)", got)
		}
	})
	t.Run("slow", func(t *testing.T) {
		mustNoErr(t, u.SetFault(Fault{Mode: Slow, Delay: 20 * time.Millisecond}))
		c := dialTCP(t, addr)
		if got := regsOf(t, c.call(t, 3, readReq(fcReadHolding, 0, 1))); got[0] != 42 {
			t.Fatalf("slow reply %v", got)
		}
	})
	t.Run("drop", func(t *testing.T) {
		mustNoErr(t, u.SetFault(Fault{Mode: Drop}))
		c := dialTCP(t, addr)
		c.send(t, 3, readReq(fcReadHolding, 0, 1))
		if _, _, _, err := c.recv(replyTimeout); !errors.Is(err, io.EOF) {
			t.Fatalf("read: %v, want EOF", err)
		}
	})
	t.Run("garbage", func(t *testing.T) {
		mustNoErr(t, u.SetFault(Fault{Mode: Garbage}))
		c := dialTCP(t, addr)
		for range 20 {
			id := c.send(t, 3, readReq(fcReadHolding, 0, 1))
			txid, _, pdu, err := c.recv(replyTimeout)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if txid == id {
				t.Fatalf("garbage reply has the request's transaction id: % X", pdu)
			}
			if len(pdu) != 4 {
				t.Fatalf("garbage reply of %d bytes, want the real reply's 4", len(pdu))
			}
		}
	})
	t.Run("none", func(t *testing.T) {
		mustNoErr(t, u.SetFault(Fault{}))
		c := dialTCP(t, addr)
		if got := regsOf(t, c.call(t, 3, readReq(fcReadHolding, 0, 1))); got[0] != 42 {
			t.Fatalf("reply %v", got)
		}
	})
	if err := u.SetFault(Fault{Mode: "melt"}); err == nil {
		t.Error("unknown fault mode: want an error")
	}
}

func TestTCPUnframeableStreamClosesConnection(t *testing.T) {
	for name, frame := range map[string][]byte{
		"protocol id 1": {0, 1, 0, 1, 0, 6, 1, 3, 0, 0, 0, 1},
		"length 1":      {0, 1, 0, 0, 0, 1, 1},
		"length 300":    {0, 1, 0, 0, 0x01, 0x2C, 1, 3},
	} {
		t.Run(name, func(t *testing.T) {
			s, addr := startTCP(t)
			s.Unit(1)
			c := dialTCP(t, addr)
			if _, err := c.conn.Write(frame); err != nil {
				t.Fatal(err)
			}
			if _, _, _, err := c.recv(replyTimeout); !errors.Is(err, io.EOF) {
				t.Fatalf("read: %v, want EOF", err)
			}
		})
	}
}

func TestTCPPipelinedRequestsInOneSegment(t *testing.T) {
	s, addr := startTCP(t)
	mustNoErr(t, s.Unit(1).SetRegisters(Holding, 0, 1, 2))
	c := dialTCP(t, addr)
	var buf bytes.Buffer
	for i := range uint16(2) {
		buf.Write(binary.BigEndian.AppendUint16(nil, 100+i))
		buf.Write([]byte{0, 0, 0, 6, 1})
		buf.Write(readReq(fcReadHolding, i, 1))
	}
	if _, err := c.conn.Write(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	for i := range uint16(2) {
		txid, _, pdu, err := c.recv(replyTimeout)
		if err != nil || txid != 100+i || regsOf(t, pdu)[0] != i+1 {
			t.Fatalf("reply %d: txid %d % X %v", i, txid, pdu, err)
		}
	}
}

func TestTCPConcurrentClients(t *testing.T) {
	s, addr := startTCP(t)
	for id := range byte(4) {
		mustNoErr(t, s.Unit(id+1).SetRegisters(Holding, 0, uint16(id+1)))
	}
	var wg sync.WaitGroup
	for i := range 8 {
		c := dialTCP(t, addr)
		wg.Go(func() {
			unit := byte(i%4 + 1)
			for range 100 {
				id := c.send(t, unit, readReq(fcReadHolding, 0, 1))
				txid, _, pdu, err := c.recv(replyTimeout)
				if err != nil || txid != id || len(pdu) != 4 {
					t.Errorf("unit %d: reply % X txid %d/%d: %v", unit, pdu, txid, id, err)
					return
				}
				if got := binary.BigEndian.Uint16(pdu[2:]); got != uint16(unit) {
					t.Errorf("unit %d read %d", unit, got)
					return
				}
			}
		})
	}
	// Change values while clients read.
	for i := range 100 {
		mustNoErr(t, s.Unit(1).SetRegisters(Holding, 2, uint16(i)))
	}
	wg.Wait()
}

func TestOnServeAndServedLog(t *testing.T) {
	s, addr := startTCP(t)
	u := s.Unit(4)
	mustNoErr(t, u.SetRegisters(Input, 7, 0xCAFE, 0xF00D))
	mustNoErr(t, u.SetBits(Discrete, 1, true))
	got := make(chan Served, 10)
	s.OnServe(func(e Served) { got <- e })
	c := dialTCP(t, addr)
	c.call(t, 4, readReq(fcReadInput, 7, 2))
	c.call(t, 4, readReq(fcReadDiscrete, 0, 3))
	c.call(t, 4, writeSingleReq(fcWriteRegister, 0, 1)) // writes are not reported
	c.call(t, 4, readReq(fcReadHolding, 0, 200))        // nor exceptions

	e := <-got // the hook ran before the reply was written
	if e.Unit != 4 || e.Function != 4 || e.Area != Input || e.Address != 7 || e.Count != 2 ||
		!slices.Equal(e.Words, []uint16{0xCAFE, 0xF00D}) || e.Transport != "tcp" || e.Seq != 1 {
		t.Fatalf("served %+v", e)
	}
	e = <-got
	if e.Area != Discrete || !slices.Equal(e.Bits, []bool{false, true, false}) {
		t.Fatalf("served %+v", e)
	}
	select {
	case e := <-got:
		t.Fatalf("unexpected served %+v", e)
	default:
	}
	if log := s.ServedLog(); len(log) != 2 || log[0].Seq != 1 || log[1].Seq != 2 {
		t.Fatalf("served log %+v", log)
	}
}

func TestServedRingBounded(t *testing.T) {
	s := New(Options{ServedLog: 3})
	defer s.Close()
	addr, err := s.ListenTCP("127.0.0.1:0")
	mustNoErr(t, err)
	s.Unit(1)
	c := dialTCP(t, addr)
	for i := range uint16(5) {
		c.call(t, 1, readReq(fcReadHolding, i, 1))
	}
	log := s.ServedLog()
	if len(log) != 3 || log[0].Address != 2 || log[2].Address != 4 {
		t.Fatalf("log %+v", log)
	}
}

func TestCloseStopsEverything(t *testing.T) {
	s := New(Options{Logger: testLogger(t)})
	addr, err := s.ListenTCP("127.0.0.1:0")
	mustNoErr(t, err)
	_, err = s.ListenTCP("127.0.0.1:0")
	mustNoErr(t, err)
	mustNoErr(t, s.Unit(1).SetFault(Fault{Mode: Slow, Delay: time.Hour}))
	c := dialTCP(t, addr)
	served := make(chan struct{})
	s.Unit(2)
	s.OnServe(func(Served) { close(served) })
	c.call(t, 2, readReq(fcReadHolding, 0, 1)) // the connection goroutine is up
	<-served
	c.send(t, 1, readReq(fcReadHolding, 0, 1)) // parks the connection in a one-hour delay
	mustNoErr(t, s.Close())                    // returns only once every goroutine has
	if _, _, _, err := c.recv(replyTimeout); !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read after Close: %v, want EOF or reset", err)
	}
	if _, err := s.ListenTCP("127.0.0.1:0"); !errors.Is(err, ErrClosed) {
		t.Fatalf("ListenTCP after Close: %v", err)
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Fatal("listener still accepting after Close")
	}
	mustNoErr(t, s.Close()) // twice is fine
}

func BenchmarkTCPReadHolding(b *testing.B) {
	s := New(Options{})
	defer s.Close()
	addr, err := s.ListenTCP("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s.Unit(1)
	c := dialTCP(b, addr)
	req := readReq(fcReadHolding, 0, 10)
	b.ReportAllocs()
	for b.Loop() {
		c.call(b, 1, req)
	}
}

func BenchmarkDispatchReadHolding(b *testing.B) {
	s := New(Options{ServedLog: -1})
	s.Unit(1)
	req := readReq(fcReadHolding, 0, 10)
	dst := make([]byte, 0, 300)
	b.ReportAllocs()
	for b.Loop() {
		s.dispatch(onTCP, 1, req, dst)
	}
}
