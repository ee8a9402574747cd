package mqtt

import (
	"bufio"
	"fmt"
	"net"
	"net/url"
	"os"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// readBufSize is the read buffer of a plain TCP broker connection.
const readBufSize = 32 << 10

// bufConn is a TCP connection read through a buffer. paho reads a packet
// straight from the connection a few bytes at a time (the fixed header,
// then the remaining length byte by byte, then the rest): on a plain
// socket that is three or more read system calls per message, a large
// part of the cost of draining a backlog. Through the buffer, one call
// reads many messages. Writes and deadlines go to the connection itself.
type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// bufferedOpener returns paho's connection function for brokers reached
// over plain TCP (tcp:// and mqtt:// URLs), or nil for every other case,
// which paho then handles itself: TLS (whose records are buffered
// already), websockets, unix sockets, and a proxy set in the environment.
func bufferedOpener(rawURL string) paho.OpenConnectionFunc {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "tcp" && u.Scheme != "mqtt") {
		return nil
	}
	if os.Getenv("all_proxy") != "" || os.Getenv("ALL_PROXY") != "" {
		return nil
	}
	return openBuffered
}

func openBuffered(uri *url.URL, o paho.ClientOptions) (net.Conn, error) {
	d := o.Dialer
	if d == nil {
		d = &net.Dialer{Timeout: connectTimeout}
	}
	conn, err := d.Dial("tcp", uri.Host)
	if err != nil {
		return nil, fmt.Errorf("dial mqtt broker: %w", err)
	}
	return &bufConn{Conn: conn, r: bufio.NewReaderSize(conn, readBufSize)}, nil
}
