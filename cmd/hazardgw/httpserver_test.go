package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestHTTPServerTimeouts: the server runGateway builds has every timeout
// set, and no larger than a LAN client needs.
func TestHTTPServerTimeouts(t *testing.T) {
	srv := newHTTPServer(http.NotFoundHandler(), defaultHTTPTimeouts)
	for _, f := range []struct {
		name     string
		got, max time.Duration
	}{
		{"ReadHeaderTimeout", srv.ReadHeaderTimeout, 10 * time.Second},
		{"ReadTimeout", srv.ReadTimeout, 30 * time.Second},
		{"WriteTimeout", srv.WriteTimeout, time.Minute},
		{"IdleTimeout", srv.IdleTimeout, 2 * time.Minute},
	} {
		if f.got <= 0 || f.got > f.max {
			t.Errorf("%s = %s, want in (0, %s]", f.name, f.got, f.max)
		}
	}
	if srv.MaxHeaderBytes <= 0 || srv.MaxHeaderBytes > 1<<20 {
		t.Errorf("MaxHeaderBytes = %d", srv.MaxHeaderBytes)
	}
}

// slowServer serves newHTTPServer with short timeouts on loopback. Its
// handler reads the whole body and records the read error.
func slowServer(t *testing.T) (addr string, bodyErr *atomic.Value) {
	t.Helper()
	bodyErr = &atomic.Value{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			bodyErr.Store(err)
			http.Error(w, "body", http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	srv := newHTTPServer(h, httpTimeouts{
		ReadHeader: 200 * time.Millisecond, Read: 300 * time.Millisecond,
		Write: 5 * time.Second, Idle: 300 * time.Millisecond,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), bodyErr
}

// dripper writes s, then one byte of more every 20ms until the connection
// fails or stop is closed; it reports how many bytes of more it wrote.
func dripper(c net.Conn, s, more string, stop <-chan struct{}) <-chan int {
	sent := make(chan int, 1)
	go func() {
		n := 0
		defer func() { sent <- n }()
		if _, err := io.WriteString(c, s); err != nil {
			return
		}
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for ; n < len(more); n++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if _, err := c.Write([]byte{more[n]}); err != nil {
				return
			}
		}
	}()
	return sent
}

// waitClosed reads c until the server closes it. The deadline is only a
// bound on a test that would otherwise hang: a server without the timeout
// would hold the connection for the hour the client needs.
func waitClosed(t *testing.T, c net.Conn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(60 * time.Second))
	b, err := io.ReadAll(c)
	if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server kept the connection open; read so far %q", b)
	}
	return string(b) // EOF or a reset: closed
}

// TestHTTPSlowClientsCutOff: a client sending its body or its headers at
// a byte per 20ms, or idling after a request, is disconnected by the
// server's timeouts (injected short here).
func TestHTTPSlowClientsCutOff(t *testing.T) {
	t.Run("body", func(t *testing.T) {
		addr, bodyErr := slowServer(t)
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		stop := make(chan struct{})
		body := strings.Repeat("x", 100_000) // an hour and a half at this rate
		sent := dripper(c, "POST /api/v1/alerts/a1/ack HTTP/1.1\r\nHost: gw\r\nContent-Length: 100000\r\n\r\n", body, stop)
		waitClosed(t, c)
		close(stop)
		if n := <-sent; n >= len(body) {
			t.Errorf("the whole body went through (%d bytes)", n)
		}
		err, _ = bodyErr.Load().(error)
		if ne := net.Error(nil); !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("handler's body read ended with %v, want a timeout", err)
		}
	})
	t.Run("headers", func(t *testing.T) {
		addr, _ := slowServer(t)
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		stop := make(chan struct{})
		sent := dripper(c, "GET /healthz HTTP/1.1\r\n", "X-Slow: "+strings.Repeat("y", 10_000)+"\r\n\r\n", stop)
		waitClosed(t, c)
		close(stop)
		if n := <-sent; n >= 10_000 {
			t.Errorf("the whole header went through (%d bytes)", n)
		}
	})
	t.Run("idle", func(t *testing.T) {
		addr, _ := slowServer(t)
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, "POST /x HTTP/1.1\r\nHost: gw\r\nContent-Length: 2\r\n\r\n{}"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent || resp.Close {
			t.Fatalf("first request: %d, close %v", resp.StatusCode, resp.Close)
		}
		if rest := waitClosed(t, c); rest != "" {
			t.Errorf("after the response: %q", rest)
		}
	})
}
