package modbussim

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

func TestCRC16Vectors(t *testing.T) {
	// Request frames from the Modbus serial line guide and vendor manuals,
	// CRC low byte first.
	tests := []struct {
		frame []byte
		crc   [2]byte
	}{
		{[]byte{0x01, 0x03, 0x00, 0x00, 0x00, 0x0A}, [2]byte{0xC5, 0xCD}},
		{[]byte{0x01, 0x03, 0x00, 0x00, 0x00, 0x01}, [2]byte{0x84, 0x0A}},
		{[]byte{0x11, 0x03, 0x00, 0x6B, 0x00, 0x03}, [2]byte{0x76, 0x87}},
	}
	for _, tt := range tests {
		got := appendCRC(slices.Clone(tt.frame))
		if !bytes.Equal(got[len(got)-2:], tt.crc[:]) {
			t.Errorf("crc of % X = % X, want % X", tt.frame, got[len(got)-2:], tt.crc)
		}
		if !crcOK(got) {
			t.Errorf("crcOK(% X) = false", got)
		}
	}
}

func rtuFrame(unit byte, pdu []byte) []byte { return appendCRC(append([]byte{unit}, pdu...)) }

func TestRTUFramer(t *testing.T) {
	a := rtuFrame(1, readReq(fcReadHolding, 0, 2))
	b := rtuFrame(2, writeRegsReq(10, 1, 2, 3))
	odd := rtuFrame(3, []byte{0x2B, 0x0E, 0x01, 0x00}) // function 43: length unknown
	bad := slices.Clone(a)
	bad[3] ^= 0xFF
	tests := []struct {
		name   string
		chunks [][]byte // a nil chunk is a silence
		want   [][]byte
	}{
		{"one frame", [][]byte{a}, [][]byte{a}},
		{"byte by byte", splitEach(b), [][]byte{b}},
		{"two frames in one read", [][]byte{append(slices.Clone(a), b...)}, [][]byte{a, b}},
		{"split across reads", [][]byte{b[:3], b[3:9], b[9:]}, [][]byte{b}},
		{"unknown function ends at silence", [][]byte{odd, nil}, [][]byte{odd}},
		{"bad crc dropped until silence", [][]byte{bad, a, nil, a}, [][]byte{a}},
		{"partial frame dropped at silence", [][]byte{a[:5], nil, a}, [][]byte{a}},
		{"noise without a frame", [][]byte{{0xFF, 0x00, 0x13}, nil, a}, [][]byte{a}},
		{"overlong run of noise", [][]byte{bytes.Repeat([]byte{0x01, 0x2B}, 200), nil, a}, [][]byte{a}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f rtuFramer
			var got [][]byte
			emit := func(fr []byte) { got = append(got, slices.Clone(fr)) }
			for _, c := range tt.chunks {
				if c == nil {
					f.silence(emit)
				} else {
					f.feed(c, emit)
				}
			}
			if !slices.EqualFunc(got, tt.want, bytes.Equal) {
				t.Fatalf("frames % X, want % X", got, tt.want)
			}
		})
	}
}

func splitEach(b []byte) [][]byte {
	out := make([][]byte, len(b))
	for i := range b {
		out[i] = b[i : i+1]
	}
	return out
}

// ptyPair starts socat with two linked raw ptys and returns their paths.
// socat is stopped at the end of the test.
func ptyPair(t *testing.T) (string, string) {
	t.Helper()
	bin := requireTool(t, "socat")
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	cmd := exec.Command(bin, "-d", "-d", "pty,raw,echo=0,link="+a, "pty,raw,echo=0,link="+b)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	mustNoErr(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	deadline := time.After(replyTimeout)
	for !exists(a) || !exists(b) {
		select {
		case err := <-exited:
			t.Fatalf("socat exited: %v\n%s", err, stderr.String())
		case <-deadline:
			t.Fatalf("socat did not create %s and %s", a, b)
		case <-time.After(5 * time.Millisecond):
		}
	}
	return a, b
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// rtuClient is a minimal RTU master on the other end of the pty.
type rtuClient struct{ f *os.File }

func openRTUClient(t *testing.T, path string) *rtuClient {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOCTTY, 0)
	mustNoErr(t, err)
	t.Cleanup(func() { _ = f.Close() })
	return &rtuClient{f: f}
}

func (c *rtuClient) send(t *testing.T, unit byte, pdu []byte) {
	t.Helper()
	if _, err := c.f.Write(rtuFrame(unit, pdu)); err != nil {
		t.Fatalf("write rtu request: %v", err)
	}
}

// recv reads one reply frame, telling its length from the function code.
func (c *rtuClient) recv(d time.Duration) ([]byte, error) {
	if err := c.f.SetReadDeadline(time.Now().Add(d)); err != nil {
		return nil, err
	}
	var buf []byte
	chunk := make([]byte, 300)
	for {
		if n := replyLen(buf); n > 0 && len(buf) >= n {
			if len(buf) > n {
				return buf, errors.New("stray bytes after the reply")
			}
			return buf, nil
		}
		n, err := c.f.Read(chunk)
		buf = append(buf, chunk[:n]...)
		if err != nil {
			return buf, err
		}
	}
}

func replyLen(b []byte) int {
	switch {
	case len(b) < 3:
		return 0
	case b[1]&0x80 != 0:
		return 5
	case b[1] <= fcReadInput:
		return 3 + int(b[2]) + 2
	}
	return 8
}

func (c *rtuClient) call(t *testing.T, unit byte, pdu []byte) []byte {
	t.Helper()
	c.send(t, unit, pdu)
	frame, err := c.recv(replyTimeout)
	if err != nil {
		t.Fatalf("read rtu reply from unit %d: % X: %v", unit, frame, err)
	}
	if !crcOK(frame) || frame[0] != unit {
		t.Fatalf("bad rtu reply from unit %d: % X", unit, frame)
	}
	return frame[1 : len(frame)-2]
}

func startRTU(t *testing.T) (*Server, *rtuClient, string) {
	t.Helper()
	s := newTestServer(t)
	srvPath, cliPath := ptyPair(t) // cleaned up before the server: exercises a vanishing line
	mustNoErr(t, s.ServeRTU(srvPath))
	return s, openRTUClient(t, cliPath), cliPath
}

func TestRTUOverPty(t *testing.T) {
	s, c, _ := startRTU(t)
	mustNoErr(t, s.Unit(1).SetRegisters(Holding, 0, 0x0101, 0x0102))
	mustNoErr(t, s.Unit(2).SetValue(Input, 3, "float32", "DCBA", 1, 0, 23.5))
	mustNoErr(t, s.Unit(2).SetBits(Coil, 0, true))

	if got := c.call(t, 1, readReq(fcReadHolding, 0, 2)); !bytes.Equal(got, []byte{0x03, 4, 1, 1, 1, 2}) {
		t.Errorf("unit 1 fc3: % X", got)
	}
	if got := c.call(t, 2, readReq(fcReadInput, 3, 2)); !bytes.Equal(got, []byte{0x04, 4, 0x00, 0x00, 0xBC, 0x41}) {
		t.Errorf("unit 2 fc4: % X", got)
	}
	if got := c.call(t, 2, readReq(fcReadCoils, 0, 1)); !bytes.Equal(got, []byte{0x01, 1, 1}) {
		t.Errorf("unit 2 fc1: % X", got)
	}
	if got := c.call(t, 2, writeRegsReq(7, 7, 8)); !bytes.Equal(got, []byte{0x10, 0, 7, 0, 2}) {
		t.Errorf("unit 2 fc16: % X", got)
	}
	if regs, _ := s.Unit(2).Registers(Holding, 7, 2); !slices.Equal(regs, []uint16{7, 8}) {
		t.Errorf("unit 2 holding 7.. = %v", regs)
	}
	if got := c.call(t, 1, readReq(fcReadHolding, 0, 126)); !bytes.Equal(got, []byte{0x83, 0x03}) {
		t.Errorf("unit 1 oversized read: % X", got)
	}
	if got := c.call(t, 1, []byte{0x2B, 0x0E, 0x01, 0x00}); !bytes.Equal(got, []byte{0xAB, 0x01}) {
		t.Errorf("unit 1 function 43: % X", got) // framed by silence
	}

	// A missing unit and a silent unit say nothing: the next reply on the
	// line is the answer to the next request.
	mustNoErr(t, s.Unit(2).SetFault(Fault{Mode: NoReply}))
	c.send(t, 9, readReq(fcReadHolding, 0, 1))
	c.send(t, 2, readReq(fcReadHolding, 0, 1))
	if got := c.call(t, 1, readReq(fcReadHolding, 1, 1)); !bytes.Equal(got, []byte{0x03, 2, 1, 2}) {
		t.Errorf("after silent units: % X", got)
	}

	mustNoErr(t, s.Unit(2).SetFault(Fault{Mode: Exception, Code: ExGatewayTargetTimeout}))
	if got := c.call(t, 2, readReq(fcReadHolding, 0, 1)); !bytes.Equal(got, []byte{0x83, 0x0B}) {
		t.Errorf("exception fault: % X", got)
	}

	mustNoErr(t, s.Unit(2).SetFault(Fault{Mode: Garbage}))
	c.send(t, 2, readReq(fcReadHolding, 0, 1))
	garbage := make([]byte, 7) // as long as the real reply
	mustNoErr(t, c.f.SetReadDeadline(time.Now().Add(replyTimeout)))
	if _, err := io.ReadFull(c.f, garbage); err != nil || crcOK(garbage) {
		t.Fatalf("garbage reply % X (%v): want 7 bytes with a bad CRC", garbage, err)
	}
	mustNoErr(t, s.Unit(2).SetFault(Fault{}))
	if got := c.call(t, 2, readReq(fcReadHolding, 7, 1)); !bytes.Equal(got, []byte{0x03, 2, 0, 7}) {
		t.Errorf("after garbage: % X", got)
	}
}

func TestRTUGarbageHasBadCRC(t *testing.T) {
	for range 50 {
		frame := garbleRTU(append([]byte{1}, 0x03, 2, 0, 7))
		if len(frame) != 7 || crcOK(frame) {
			t.Fatalf("garbage frame % X", frame)
		}
	}
}

func TestRTUResyncAfterCorruptFrame(t *testing.T) {
	s, c, _ := startRTU(t)
	mustNoErr(t, s.Unit(1).SetRegisters(Holding, 0, 77))
	bad := rtuFrame(1, readReq(fcReadHolding, 0, 1))
	bad[len(bad)-1] ^= 0xFF
	if _, err := c.f.Write(bad); err != nil {
		t.Fatal(err)
	}
	// Like a real master, retry until the slave has seen the silence that
	// ends the corrupt frame.
	for attempt := 0; ; attempt++ {
		c.send(t, 1, readReq(fcReadHolding, 0, 1))
		frame, err := c.recv(200 * time.Millisecond)
		if err == nil {
			if !bytes.Equal(frame[:5], []byte{1, 3, 2, 0, 77}) || !crcOK(frame) {
				t.Fatalf("reply % X", frame)
			}
			return
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) || attempt == 20 {
			t.Fatalf("no reply after a corrupt frame: % X %v", frame, err)
		}
	}
}

func TestRTUUnitsOnlyOnTheirTransport(t *testing.T) {
	s, c, _ := startRTU(t)
	tcpOnly := s.Unit(5)
	tcpOnly.on.Store(uint32(onTCP))
	s.Unit(6)
	c.send(t, 5, readReq(fcReadHolding, 0, 1))
	if got := c.call(t, 6, readReq(fcReadHolding, 0, 1)); !bytes.Equal(got, []byte{3, 2, 0, 0}) {
		t.Fatalf("reply % X", got)
	}
}

func TestMbpollRTU(t *testing.T) {
	s, _, cliPath := startRTU(t)
	mustNoErr(t, s.Unit(1).SetRegisters(Holding, 0, 1111, 2222))
	mustNoErr(t, s.Unit(17).SetValue(Holding, 4, "float32", "ABCD", 1, 0, -40.25))
	run := func(unit string, args ...string) map[int]string {
		t.Helper()
		base := []string{"-m", "rtu", "-a", unit, "-b", "9600", "-P", "none", "-1", "-o", "5"}
		return mbpoll(t, append(append(base, args...), cliPath)...)
	}
	wantInts(t, run("1", "-t", "4", "-r", "1", "-c", "2"), 1, 1111, 2222)
	wantFloat(t, run("17", "-t", "4:float", "-B", "-r", "5", "-c", "1"), 5, -40.25)
}

func TestServeRTUMissingPath(t *testing.T) {
	s := newTestServer(t)
	if err := s.ServeRTU(filepath.Join(t.TempDir(), "nope")); err == nil {
		t.Fatal("ServeRTU on a missing path: want an error")
	}
}
