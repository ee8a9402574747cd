package modbus

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// frame is a Modbus TCP frame: MBAP header for unit 1 and pdu.
func frame(tid uint16, pdu ...byte) []byte {
	b := make([]byte, mbapHeader, mbapHeader+len(pdu))
	binary.BigEndian.PutUint16(b, tid)
	binary.BigEndian.PutUint16(b[4:], uint16(len(pdu)+1))
	b[6] = 1
	return append(b, pdu...)
}

// scriptedServer accepts one connection and answers the n-th request
// (read as one 12-byte read request) with replies[n], written in chunks
// of chunk bytes (all at once if 0); a nil reply closes the connection.
// After the last reply it closes the connection if hangUp, else waits for
// the client to.
func scriptedServer(t *testing.T, chunk int, hangUp bool, replies ...[]byte) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		req := make([]byte, 12)
		for _, r := range replies {
			if _, err := io.ReadFull(c, req); err != nil {
				return
			}
			if r == nil {
				return
			}
			for len(r) > 0 {
				n := len(r)
				if chunk > 0 {
					n = min(n, chunk)
				}
				if _, err := c.Write(r[:n]); err != nil {
					return
				}
				r = r[n:]
			}
		}
		if !hangUp {
			io.Copy(io.Discard, c) // until the client closes
		}
	}()
	return ln.Addr().String()
}

var readReq = frame(1, 3, 0, 0, 0, 1) // read 1 holding register

// countingConn counts SetDeadline calls.
type countingConn struct {
	net.Conn
	deadlines int
}

func (c *countingConn) SetDeadline(t time.Time) error {
	c.deadlines++
	return c.Conn.SetDeadline(t)
}

func TestTCPTransport(t *testing.T) {
	r1, r2 := frame(1, 3, 2, 0x12, 0x34), frame(2, 3, 2, 0x56, 0x78)
	long := frame(3, append([]byte{3, 250}, make([]byte, 250)...)...)
	cases := []struct {
		name    string
		chunk   int
		hangUp  bool     // after the last reply
		replies [][]byte // the server's, per request
		want    [][]byte // Send's results; nil: an error of class wantErr
		wantErr string
	}{
		{name: "a reply in one segment", replies: [][]byte{r1, r2}, want: [][]byte{r1, r2}},
		{name: "a reply a byte at a time", chunk: 1, replies: [][]byte{r1, r2}, want: [][]byte{r1, r2}},
		{name: "header split from the rest", chunk: mbapHeader, replies: [][]byte{long, r1}, want: [][]byte{long, r1}},
		{name: "two frames at once: the second answers the next request",
			replies: [][]byte{append(append([]byte{}, r1...), r2...), {}}, want: [][]byte{r1, r2}},
		{name: "zero length", replies: [][]byte{{0, 1, 0, 0, 0, 0, 1}}, want: [][]byte{nil}, wantErr: classProtocol},
		{name: "length beyond a frame", replies: [][]byte{{0, 1, 0, 0, 1, 0, 1}}, want: [][]byte{nil}, wantErr: classProtocol},
		{name: "closed in the middle of a frame", hangUp: true, replies: [][]byte{r1[:9]}, want: [][]byte{nil}, wantErr: classConnection},
		{name: "closed before answering", replies: [][]byte{nil}, want: [][]byte{nil}, wantErr: classConnection},
		{name: "no answer", replies: [][]byte{{}}, want: [][]byte{nil}, wantErr: classTimeout},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := &tcpTransport{addr: scriptedServer(t, c.chunk, c.hangUp, c.replies...), timeout: 300 * time.Millisecond}
			defer tr.Close()
			if err := tr.Connect(); err != nil || tr.raw == nil {
				t.Fatalf("connect: %v; raw conn %v", err, tr.raw)
			}
			for i, want := range c.want {
				got, err := tr.Send(readReq)
				if want == nil {
					if err == nil || classify(err) != c.wantErr {
						t.Fatalf("request %d: %x, %v; want an error of class %s", i, got, err, c.wantErr)
					}
					// As net.Conn says it, for device_status.error.
					if c.wantErr == classTimeout && !strings.HasPrefix(err.Error(), "read tcp 127.0.0.1:") {
						t.Fatalf("request %d: %q, want a net.Conn read error", i, err)
					}
					continue
				}
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("request %d: %x, %v; want %x", i, got, err, want)
				}
			}
		})
	}
}

// Back-to-back requests share the connection's deadline; it moves once
// less than nine tenths of the timeout is left.
func TestTCPTransportSharesDeadline(t *testing.T) {
	r := frame(1, 3, 2, 0, 1)
	tr := &tcpTransport{addr: scriptedServer(t, 0, false, r, r, r, r, r, r), timeout: time.Hour}
	defer tr.Close()
	if err := tr.Connect(); err != nil {
		t.Fatal(err)
	}
	cc := &countingConn{Conn: tr.conn}
	tr.conn = cc
	for i := range 5 {
		if _, err := tr.Send(readReq); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if cc.deadlines != 1 {
		t.Fatalf("%d deadlines set for 5 back-to-back requests, want 1", cc.deadlines)
	}
	tr.until = time.Now().Add(tr.timeout / 2) // as if half the timeout had passed
	if _, err := tr.Send(readReq); err != nil {
		t.Fatal(err)
	}
	if cc.deadlines != 2 || time.Until(tr.until) < tr.timeout*9/10 {
		t.Fatalf("after half the timeout: %d deadlines, %v left; want a fresh one", cc.deadlines, time.Until(tr.until))
	}
}

// FuzzTCPTransport: whatever a server sends, Send never panics and returns
// either an error or one whole frame as its header gives its length.
func FuzzTCPTransport(f *testing.F) {
	f.Add(frame(1, 3, 2, 0x12, 0x34), uint8(0))
	f.Add(frame(1, 0x83, 2), uint8(1))
	f.Add([]byte{0, 1, 0, 0, 0, 0}, uint8(3))
	f.Add([]byte{0, 1, 0, 0, 0xFF, 0xFF, 1, 3}, uint8(0))
	f.Add(append(frame(1, 3, 2, 1, 2), frame(2, 3, 2, 3, 4)...), uint8(5))
	f.Fuzz(func(t *testing.T, reply []byte, chunk uint8) {
		client, server := net.Pipe()
		go func() {
			defer server.Close()
			req := make([]byte, 12)
			if _, err := io.ReadFull(server, req); err != nil {
				return
			}
			for r := reply; len(r) > 0; {
				n := len(r)
				if chunk > 0 {
					n = min(n, int(chunk))
				}
				if _, err := server.Write(r[:n]); err != nil {
					return
				}
				r = r[n:]
			}
		}()
		tr := &tcpTransport{timeout: time.Second}
		tr.setConn(client) // a pipe: read and write, no RawConn
		got, err := tr.Send(readReq)
		tr.Close() // unblocks the server
		if err != nil {
			if got != nil {
				t.Fatalf("error %v with a frame %x", err, got)
			}
			return
		}
		if len(got) < mbapHeader || len(got) > tcpMaxADU || len(got) != mbapHeader-1+int(binary.BigEndian.Uint16(got[4:])) {
			t.Fatalf("frame %x: its length does not match its header", got)
		}
		if !bytes.Equal(got, reply[:len(got)]) {
			t.Fatalf("frame %x is not the start of what was sent, %x", got, reply)
		}
	})
}
