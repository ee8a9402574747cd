package modbussim

import (
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/internal/testenv"
)

// testLogger logs through t, so output shows only for failing tests.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

// newTestServer returns a server closed at the end of the test.
func newTestServer(t testing.TB) *Server {
	t.Helper()
	s := New(Options{Logger: testLogger(t)})
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

// requireTool fails the test when an external tool the tests depend on is
// missing: CI installs it, so a skip would hide a broken environment.
func requireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is required for this test and was not found in PATH (Debian: apt-get install %s): %v", name, name, err)
	}
	return p
}

// replyTimeout bounds every wait for a reply that must come; it is a guard
// against hanging, never a timing assertion.
const replyTimeout = 10 * time.Second

// tcpClient is a minimal Modbus TCP client written from the MBAP spec.
type tcpClient struct {
	conn net.Conn
	txid uint16
}

func dialTCP(t testing.TB, addr string) *tcpClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &tcpClient{conn: c}
}

// send writes one request and returns its transaction id.
func (c *tcpClient) send(t testing.TB, unit byte, pdu []byte) uint16 {
	t.Helper()
	c.txid++
	frame := binary.BigEndian.AppendUint16(nil, c.txid)
	frame = binary.BigEndian.AppendUint16(frame, 0)
	frame = binary.BigEndian.AppendUint16(frame, uint16(len(pdu)+1))
	frame = append(frame, unit)
	frame = append(frame, pdu...)
	if _, err := c.conn.Write(frame); err != nil {
		t.Fatalf("write request: %v", err)
	}
	return c.txid
}

// recv reads one reply frame, waiting at most d.
func (c *tcpClient) recv(d time.Duration) (txid uint16, unit byte, pdu []byte, err error) {
	if err := c.conn.SetReadDeadline(time.Now().Add(d)); err != nil {
		return 0, 0, nil, err
	}
	var hdr [7]byte
	if _, err := io.ReadFull(c.conn, hdr[:]); err != nil {
		return 0, 0, nil, err
	}
	if p := binary.BigEndian.Uint16(hdr[2:]); p != 0 {
		return 0, 0, nil, errors.New("protocol id not 0")
	}
	n := int(binary.BigEndian.Uint16(hdr[4:]))
	if n < 2 {
		return 0, 0, nil, errors.New("length below 2")
	}
	pdu = make([]byte, n-1)
	if _, err := io.ReadFull(c.conn, pdu); err != nil {
		return 0, 0, nil, err
	}
	return binary.BigEndian.Uint16(hdr[:]), hdr[6], pdu, nil
}

// call sends a request and returns the reply PDU, checking the transaction
// and unit ids.
func (c *tcpClient) call(t testing.TB, unit byte, pdu []byte) []byte {
	t.Helper()
	id := c.send(t, unit, pdu)
	txid, u, resp, err := c.recv(replyTimeout)
	if err != nil {
		t.Fatalf("read reply to unit %d %x: %v", unit, pdu, err)
	}
	if txid != id || u != unit {
		t.Fatalf("reply txid/unit %d/%d, want %d/%d", txid, u, id, unit)
	}
	return resp
}

// Request PDU builders, straight from the function code definitions.

func readReq(fc byte, addr, n uint16) []byte {
	return binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16([]byte{fc}, addr), n)
}

func writeSingleReq(fc byte, addr, v uint16) []byte { return readReq(fc, addr, v) }

func writeRegsReq(addr uint16, words ...uint16) []byte {
	p := readReq(fcWriteMultipleRegs, addr, uint16(len(words)))
	p = append(p, byte(2*len(words)))
	for _, w := range words {
		p = binary.BigEndian.AppendUint16(p, w)
	}
	return p
}

func writeCoilsReq(addr uint16, vals ...bool) []byte {
	p := readReq(fcWriteMultipleCoils, addr, uint16(len(vals)))
	packed := make([]byte, (len(vals)+7)/8)
	for i, v := range vals {
		if v {
			packed[i/8] |= 1 << (i % 8)
		}
	}
	return append(append(p, byte(len(packed))), packed...)
}

// regsOf decodes the registers of a function 3/4 reply.
func regsOf(t testing.TB, pdu []byte) []uint16 {
	t.Helper()
	if len(pdu) < 2 || pdu[0]&0x80 != 0 || int(pdu[1]) != len(pdu)-2 || len(pdu)%2 != 0 {
		t.Fatalf("not a register reply: %x", pdu)
	}
	out := make([]uint16, (len(pdu)-2)/2)
	for i := range out {
		out[i] = binary.BigEndian.Uint16(pdu[2+2*i:])
	}
	return out
}

// waitFor polls cond until it holds, failing the test after replyTimeout.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, replyTimeout, cond, "%s", what)
}

func mustNoErr(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
