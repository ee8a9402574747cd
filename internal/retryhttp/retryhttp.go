package retryhttp

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-cleanhttp"
	"github.com/hashicorp/go-retryablehttp"
)

// Options tune a client. Zero values mean the adapter's defaults (see
// WithDefaults).
type Options struct {
	// MinBackoff and MaxBackoff bound the exponential delay between
	// attempts when the receiver gives no Retry-After.
	MinBackoff, MaxBackoff time.Duration
	// MaxRetryAfter caps a receiver's Retry-After: an alarm must not wait
	// a day because a proxy said so.
	MaxRetryAfter time.Duration
	// Transport replaces the HTTP transport (e.g. for a private CA).
	Transport http.RoundTripper
	// Now is the clock of signatures and HTTP-date Retry-Afters; nil:
	// time.Now.
	Now func() time.Time
}

// WithDefaults returns o with each zero duration taken from def, and Now
// set to time.Now when neither has one.
func (o Options) WithDefaults(def Options) Options {
	if o.MinBackoff <= 0 {
		o.MinBackoff = def.MinBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = def.MaxBackoff
	}
	if o.MaxRetryAfter <= 0 {
		o.MaxRetryAfter = def.MaxRetryAfter
	}
	if o.Transport == nil {
		o.Transport = def.Transport
	}
	if o.Now == nil {
		o.Now = def.Now
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Config is one client: its options (defaults already applied), the
// timeout of one attempt, where retryablehttp's logs go, and the adapter's
// retry policy, delay and re-signing.
type Config struct {
	Options
	// Timeout bounds one attempt, answer included.
	Timeout time.Duration
	// Logger receives retryablehttp's per-attempt logs at Debug; nil
	// discards them.
	Logger *slog.Logger
	// LogPrefix starts each of those log messages ("webhook client: ").
	LogPrefix string
	// Scrub removes credentials from an error before it is logged; nil
	// leaves it as it is.
	Scrub func(string) string
	// CheckRetry, Backoff and PrepareRetry are retryablehttp's hooks.
	CheckRetry   retryablehttp.CheckRetry
	Backoff      retryablehttp.Backoff
	PrepareRetry retryablehttp.PrepareRetry
}

// WithDefaults returns c with its zero options and a zero Timeout taken
// from def (see Options.WithDefaults), and a nil Logger from def, or one
// that discards when def has none either.
func (c Config) WithDefaults(def Config) Config {
	c.Options = c.Options.WithDefaults(def.Options)
	if c.Timeout <= 0 {
		c.Timeout = def.Timeout
	}
	if c.Logger == nil {
		c.Logger = def.Logger
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// New returns a client that retries until the request is delivered, the
// policy says it is final, or the request's context ends; after the last
// attempt it returns the last answer and error as they are
// (PassthroughErrorHandler). It does no I/O.
func New(c Config) *retryablehttp.Client {
	hc := cleanhttp.DefaultPooledClient()
	hc.Timeout = c.Timeout
	// A redirect is the receiver's final answer, never followed: Go would
	// turn a 301/302/303 into a GET without the body, and the 200 of the
	// page it leads to (a login page, an http→https proxy's target) would
	// count as delivery of a notification nobody received.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if c.Transport != nil {
		hc.Transport = c.Transport
	}
	logger := c.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	scrub := c.Scrub
	if scrub == nil {
		scrub = func(s string) string { return s }
	}
	return &retryablehttp.Client{
		HTTPClient:   hc,
		Logger:       quietLogger{logger, c.LogPrefix, scrub},
		RetryWaitMin: c.MinBackoff,
		RetryWaitMax: c.MaxBackoff,
		// Retry until delivered or ctx ends: the outbox keeps the
		// notification across restarts, and alarms must arrive.
		RetryMax:     math.MaxInt32,
		CheckRetry:   c.CheckRetry,
		Backoff:      c.Backoff,
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
		PrepareRetry: c.PrepareRetry,
	}
}

// Retryable classifies one attempt by its transport outcome: true for a
// network error, 429 or any 5xx; false for every other answer.
func Retryable(resp *http.Response, err error) bool {
	if err != nil {
		return true
	}
	return retryStatus(resp)
}

func retryStatus(resp *http.Response) bool {
	return resp != nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500)
}

// Backoff decides the delay before the next attempt. On a 429 or 5xx
// answer, the first of headers (default: Retry-After) that holds a delay —
// seconds, or for Retry-After also an HTTP date relative to now — is
// honoured, capped at maxRetryAfter. Otherwise the delay is lo·2^attempt
// capped at hi, of which the upper half is scaled by jitter ∈ [0,1) so
// that gateways recovering together do not stampede a receiver.
func Backoff(lo, hi, maxRetryAfter time.Duration, attempt int, resp *http.Response, now time.Time, jitter float64, headers ...string) time.Duration {
	if retryStatus(resp) {
		if len(headers) == 0 {
			headers = []string{"Retry-After"}
		}
		if d, ok := retryAfter(resp.Header, headers, now); ok {
			return min(max(d, 0), maxRetryAfter)
		}
	}
	d := hi
	if attempt < 40 {
		if e := lo << uint(attempt); e > 0 && e < hi {
			d = e
		}
	}
	return d/2 + time.Duration(float64(d/2)*jitter)
}

func retryAfter(h http.Header, keys []string, now time.Time) (time.Duration, bool) {
	for _, k := range keys {
		v := h.Get(k)
		if v == "" {
			continue
		}
		if s, err := strconv.ParseInt(v, 10, 64); err == nil && s >= 0 {
			if s > int64(math.MaxInt64/time.Second) {
				return math.MaxInt64, true
			}
			return time.Duration(s) * time.Second, true
		}
		if t, err := http.ParseTime(v); err == nil && http.CanonicalHeaderKey(k) == "Retry-After" {
			return t.Sub(now), true
		}
	}
	return 0, false
}

// Reason describes a failed attempt without the URL (whose query may hold
// a credential): the error, else the answer's status.
func Reason(resp *http.Response, err error) string {
	if err == nil {
		if resp == nil {
			return "no answer"
		}
		return "HTTP " + strconv.Itoa(resp.StatusCode)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}

// Failures counts the failed attempts of an outage, so that it is logged
// once when it starts and once when it ends rather than on every attempt.
// The zero value is ready; it is safe for concurrent use.
type Failures struct {
	failing atomic.Bool
	n       atomic.Int64
}

// Add counts one failed attempt and reports whether it began an outage.
func (f *Failures) Add() (began bool) {
	f.n.Add(1)
	return f.failing.CompareAndSwap(false, true)
}

// Clear ends an outage after a delivery: ended reports whether one was
// going on, and n how many attempts failed in it.
func (f *Failures) Clear() (n int64, ended bool) {
	if !f.failing.CompareAndSwap(true, false) {
		return 0, false
	}
	return f.n.Swap(0), true
}

// quietLogger adapts slog to retryablehttp's LeveledLogger: everything at
// Debug (the adapters log failures themselves, once per change), and
// without the URL that retryablehttp would print on every attempt.
type quietLogger struct {
	l      *slog.Logger
	prefix string
	scrub  func(string) string
}

func (q quietLogger) Error(msg string, kv ...any) { q.log(msg, kv) }
func (q quietLogger) Warn(msg string, kv ...any)  { q.log(msg, kv) }
func (q quietLogger) Info(msg string, kv ...any)  { q.log(msg, kv) }
func (q quietLogger) Debug(msg string, kv ...any) { q.log(msg, kv) }

func (q quietLogger) log(msg string, kv []any) {
	if !q.l.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	out := make([]any, 0, len(kv))
	for i := 0; i+1 < len(kv); i += 2 {
		switch kv[i] {
		case "url", "request":
			continue
		case "error":
			if err, ok := kv[i+1].(error); ok {
				out = append(out, "error", q.scrub(Reason(nil, err)))
				continue
			}
		}
		out = append(out, kv[i], kv[i+1])
	}
	q.l.Debug(q.prefix+msg, out...)
}

// MinSkew is the clock difference worth signing around: well inside the
// receivers' timestamp tolerances (5 minutes for Standard Webhooks, an
// hour for the chat robots), well beyond the one second of a Date header
// and the time an answer takes.
const MinSkew = time.Minute

// Skew is how far a receiver's clock is from ours, learnt from the Date
// header of its answers, so that signatures carry the receiver's time: an
// edge box whose clock is off (an RTC without battery, no NTP on an
// isolated network) is not refused for its timestamps. The zero value
// (clocks agree) is ready; it is safe for concurrent use.
type Skew struct{ off atomic.Int64 }

// Offset is the receiver's clock minus ours, as last learnt.
func (s *Skew) Offset() time.Duration { return time.Duration(s.off.Load()) }

// Now is local, moved to the receiver's clock.
func (s *Skew) Now(local time.Time) time.Time { return local.Add(s.Offset()) }

// Learn reads the receiver's clock from resp's Date header, compared with
// local (our clock when the answer arrived). When it differs by MinSkew or
// more from the offset known so far, Learn keeps it and reports true with
// the new offset; an answer without a valid Date teaches nothing.
func (s *Skew) Learn(resp *http.Response, local time.Time) (time.Duration, bool) {
	if resp == nil {
		return s.Offset(), false
	}
	date, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		return s.Offset(), false
	}
	off := date.Sub(local)
	if (off - s.Offset()).Abs() < MinSkew {
		return s.Offset(), false
	}
	s.off.Store(int64(off))
	return off, true
}
