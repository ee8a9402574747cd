package influx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	ihttp "github.com/influxdata/influxdb-client-go/v2/api/http"

	"github.com/hazardgw/hazardgw/gateway"
)

// Defaults for zero Config fields.
const (
	DefaultBatchSize     = 5000
	DefaultFlushInterval = time.Second
	DefaultTimeout       = 10 * time.Second
)

// Writer is the InfluxDB Sink. It posts line protocol to the v2 write
// endpoint through the client's HTTP service, one request per Write, with no
// retries of its own — the client's async API keeps retries in memory, which
// a crash loses; the spool and the forwarder own retrying instead — and
// classifies failures: network errors, 429 and 5xx are transient (with
// Retry-After honoured), other 4xx are permanent.
//
// The request body is read straight from the lines handed to Write (joined
// by newlines as it is sent), so a write does not build a copy of its batch.
//
// Write may be called from several goroutines at once.
type Writer struct {
	cfg    Config
	log    *slog.Logger
	client influxdb2.Client
	http   ihttp.Service
	url    string // the write endpoint with org, bucket and precision
}

var _ gateway.Sink = (*Writer)(nil)

// WithDefaults returns cfg with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	return c
}

// New returns a Writer. It does no I/O.
func New(cfg Config, logger *slog.Logger) (*Writer, error) {
	cfg = cfg.WithDefaults()
	if _, err := url.Parse(cfg.URL); err != nil || cfg.URL == "" {
		return nil, errors.New("influxdb: invalid url")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	opts := influxdb2.DefaultOptions().
		SetHTTPRequestTimeout(uint(max(1, cfg.Timeout/time.Second))).
		SetPrecision(time.Nanosecond).
		SetLogLevel(0) // the client's own logger would print URLs and bodies
	client := influxdb2.NewClientWithOptions(strings.TrimRight(cfg.URL, "/"), cfg.Token, opts)
	svc := client.HTTPService()
	u, err := url.Parse(svc.ServerAPIURL())
	if err == nil {
		u, err = u.Parse("write")
	}
	if err != nil {
		return nil, errors.New("influxdb: invalid url")
	}
	q := u.Query()
	q.Set("org", cfg.Org)
	q.Set("bucket", cfg.Bucket)
	q.Set("precision", "ns")
	u.RawQuery = q.Encode()
	return &Writer{cfg: cfg, log: logger, client: client, http: svc, url: u.String()}, nil
}

// Write stores lines in one request. The lines are read while the request
// is sent and left untouched.
func (w *Writer) Write(ctx context.Context, lines [][]byte) error {
	if len(lines) == 0 {
		return nil
	}
	size := int64(len(lines) - 1) // the newlines between lines
	for _, l := range lines {
		size += int64(len(l))
	}
	herr := w.http.DoPostRequest(ctx, w.url, &linesReader{lines: lines}, func(req *http.Request) {
		// A known length (no chunked encoding), and a fresh body should
		// the transport resend the request on a reused connection that
		// the server had closed.
		req.ContentLength = size
		req.GetBody = func() (io.ReadCloser, error) {
			return io.NopCloser(&linesReader{lines: lines}), nil
		}
	}, func(r *http.Response) error {
		// Read to the end so that the connection can be reused.
		_, err := io.Copy(io.Discard, io.LimitReader(r.Body, 64<<10))
		if cerr := r.Body.Close(); err == nil {
			err = cerr
		}
		return err
	})
	if herr == nil {
		return nil
	}
	return classify(herr, lines)
}

// linesReader reads lines joined by newlines, without a trailing one.
type linesReader struct {
	lines [][]byte
	i     int  // the line being read
	off   int  // bytes of lines[i] already read
	nl    bool // the newline after lines[i-1] is still due
}

func (r *linesReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if r.nl {
			p[n] = '\n'
			n++
			r.nl = false
			continue
		}
		if r.i >= len(r.lines) {
			break
		}
		l := r.lines[r.i]
		c := copy(p[n:], l[r.off:])
		n += c
		r.off += c
		if r.off == len(l) {
			r.i++
			r.off = 0
			r.nl = r.i < len(r.lines)
		}
	}
	if n == 0 && len(p) > 0 {
		return 0, io.EOF
	}
	return n, nil
}

// Close releases idle connections.
func (w *Writer) Close() { w.client.Close() }

// classify maps a client error for a write of lines to the gateway's error
// classes. The text never includes the token (the client doesn't put it in
// errors).
func classify(err error, lines [][]byte) error {
	var he *ihttp.Error
	if !errors.As(err, &he) || he.StatusCode == 0 {
		return fmt.Errorf("write to influxdb: %w", err)
	}
	text := he.Message
	if text == "" {
		text = he.Error()
	}
	msg := fmt.Errorf("write to influxdb: status %d: %s", he.StatusCode, truncate(text, 300))
	switch {
	case he.StatusCode == http.StatusRequestEntityTooLarge:
		return fmt.Errorf("%w: %w", gateway.ErrTooLarge, msg)
	case he.StatusCode == http.StatusBadRequest && strings.HasPrefix(text, "partial write:"):
		pw := partialWrite(text, lines)
		pw.Err = fmt.Errorf("%w: %w", gateway.ErrPermanent, msg)
		return pw
	case he.StatusCode == http.StatusTooManyRequests || he.StatusCode >= 500:
		if he.RetryAfter > 0 {
			return &gateway.RetryAfterError{Err: msg, After: time.Duration(he.RetryAfter) * time.Second}
		}
		return msg
	case he.StatusCode == http.StatusUnauthorized || he.StatusCode == http.StatusForbidden ||
		he.StatusCode == http.StatusNotFound || he.StatusCode == http.StatusRequestTimeout:
		// Credentials, a missing database or a timeout are fixed by an
		// operator, not by dropping data: keep retrying.
		return msg
	default:
		return fmt.Errorf("%w: %w", gateway.ErrPermanent, msg)
	}
}

// partialWrite reads InfluxDB 1.8's answer to a write it stored in part:
//
//	partial write: <reason> dropped=N
//
// where N counts points refused after parsing (a field type conflict, a
// point outside the retention policy, a tag value limit): InfluxDB does not
// say which ones. Lines that did not parse are counted in the reason
// instead, one "unable to parse '<line>': <why>" each (N is then 0 unless
// points were also dropped, in which case 1.8 reports only the drop), and
// these are identified by their text.
func partialWrite(text string, lines [][]byte) *gateway.PartialWriteError {
	pw := &gateway.PartialWriteError{}
	if i := strings.LastIndex(text, " dropped="); i >= 0 {
		if n, err := strconv.Atoi(strings.TrimSpace(text[i+len(" dropped="):])); err == nil && n > 0 {
			pw.Rejected = n
		}
	}
	if strings.Contains(text, "unable to parse '") {
		for i, l := range lines {
			if strings.Contains(text, "unable to parse '"+string(l)+"': ") {
				pw.Lines = append(pw.Lines, i)
			}
		}
		pw.Rejected += len(pw.Lines)
	}
	return pw
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
