package main

import (
	"net/http"
	"time"
)

// httpTimeouts bound how long one client may hold a connection of the
// gateway's HTTP server. Without them a client that sends its headers or
// body a byte at a time, or opens connections and idles, keeps a goroutine
// and a file descriptor for as long as it likes; enough of them starve the
// /readyz probe and /metrics scrapes that watch the gateway.
type httpTimeouts struct {
	ReadHeader time.Duration // the request line and headers
	Read       time.Duration // the whole request, body included
	Write      time.Duration // from the end of the headers to the end of the response
	Idle       time.Duration // a keep-alive connection between requests
}

// defaultHTTPTimeouts are generous for the gateway's clients (a Prometheus
// scrape, a probe, a duty officer's acknowledgement of at most 64 KiB, all
// on a LAN) and short against a client that never finishes.
var defaultHTTPTimeouts = httpTimeouts{
	ReadHeader: 5 * time.Second,
	Read:       15 * time.Second,
	Write:      30 * time.Second,
	Idle:       60 * time.Second,
}

// maxHeaderBytes bounds the request line and headers; the API's requests
// carry a bearer token and little else.
const maxHeaderBytes = 64 << 10

// newHTTPServer returns the server of the gateway's endpoints.
func newHTTPServer(h http.Handler, t httpTimeouts) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: t.ReadHeader,
		ReadTimeout:       t.Read,
		WriteTimeout:      t.Write,
		IdleTimeout:       t.Idle,
		MaxHeaderBytes:    maxHeaderBytes,
	}
}
