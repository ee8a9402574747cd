package influx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unsafe"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
	ihttp "github.com/influxdata/influxdb-client-go/v2/api/http"

	"github.com/hazardgw/hazardgw/gateway"
)

// Defaults for zero Config fields.
const (
	DefaultBatchSize     = 5000
	DefaultFlushInterval = time.Second
	DefaultTimeout       = 10 * time.Second
)

// Writer is the InfluxDB Sink. It writes line protocol with the client's
// blocking write API — the async API keeps retries in memory, which a crash
// loses; the spool and the forwarder own retrying instead — and classifies
// failures: network errors, 429 and 5xx are transient (with Retry-After
// honoured), other 4xx are permanent.
//
// Write is called from one goroutine at a time (the forwarder).
type Writer struct {
	cfg    Config
	log    *slog.Logger
	client influxdb2.Client
	api    api.WriteAPIBlocking
	strs   []string
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
	return &Writer{cfg: cfg, log: logger, client: client, api: client.WriteAPIBlocking(cfg.Org, cfg.Bucket)}, nil
}

// Write stores lines in one request.
func (w *Writer) Write(ctx context.Context, lines [][]byte) error {
	w.strs = w.strs[:0]
	for _, l := range lines {
		// The client joins the strings into its request body before
		// returning, and lines stay untouched until then: no copy needed.
		w.strs = append(w.strs, unsafe.String(unsafe.SliceData(l), len(l)))
	}
	err := w.api.WriteRecord(ctx, w.strs...)
	clear(w.strs)
	if err == nil {
		return nil
	}
	return classify(err, lines)
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
