package dutydesk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-cleanhttp"
	"github.com/hashicorp/go-retryablehttp"

	"github.com/hazardgw/hazardgw/alerting"
	"github.com/hazardgw/hazardgw/gateway"
)

// Defaults for a zero NotifyConfig.Timeout and zero Options.
const (
	DefaultTimeout       = 5 * time.Second
	DefaultMinBackoff    = 250 * time.Millisecond
	DefaultMaxBackoff    = 5 * time.Second
	DefaultMaxRetryAfter = 5 * time.Minute
)

// Options tune a Notifier. Zero values mean defaults.
type Options struct {
	// MinBackoff and MaxBackoff bound the exponential delay between
	// attempts when the receiver gives no Retry-After.
	MinBackoff, MaxBackoff time.Duration
	// MaxRetryAfter caps a receiver's Retry-After: an alarm must not wait
	// a day because a proxy said so.
	MaxRetryAfter time.Duration
	// Transport replaces the HTTP transport (e.g. for a private CA).
	Transport http.RoundTripper
	Now       func() time.Time
}

// Notifier delivers alert notifications to one duty-desk webhook, signed
// per Standard Webhooks (SPEC §6). It is safe for concurrent use; the alert
// engine calls it from one goroutine per receiver.
type Notifier struct {
	name   string
	url    string
	key    []byte
	opts   Options
	log    *slog.Logger
	client *retryablehttp.Client

	failing  atomic.Bool
	attempts atomic.Int64
}

var _ alerting.Notifier = (*Notifier)(nil)

// New returns a Notifier for one `alerting.notify` receiver. It checks the
// URL and decodes the secret but does no I/O. Errors never contain the
// secret.
func New(cfg alerting.NotifyConfig, opts Options, logger *slog.Logger) (*Notifier, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("create notifier %q: url must be http(s)://host/path", cfg.Name)
	}
	key, err := signingKey(cfg.Secret)
	if err != nil {
		return nil, fmt.Errorf("create notifier %q: %w", cfg.Name, err)
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = DefaultMinBackoff
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	if opts.MaxRetryAfter <= 0 {
		opts.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	hc := cleanhttp.DefaultPooledClient()
	hc.Timeout = timeout
	if opts.Transport != nil {
		hc.Transport = opts.Transport
	}
	n := &Notifier{name: cfg.Name, url: cfg.URL, key: key, opts: opts, log: logger}
	n.client = &retryablehttp.Client{
		HTTPClient:   hc,
		Logger:       quietLogger{logger},
		RetryWaitMin: opts.MinBackoff,
		RetryWaitMax: opts.MaxBackoff,
		// Retry until delivered or ctx ends: the outbox keeps the
		// notification across restarts, and alarms must arrive.
		RetryMax:     math.MaxInt32,
		CheckRetry:   n.checkRetry,
		Backoff:      n.backoff,
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
		PrepareRetry: n.resign,
	}
	return n, nil
}

// StatusError is a receiver's final non-2xx answer.
type StatusError struct{ Code int }

func (e *StatusError) Error() string {
	return "receiver answered " + strconv.Itoa(e.Code) + " " + http.StatusText(e.Code)
}

// Notify posts m and returns once the receiver answered 2xx (nil), or
// answered a status that retrying cannot fix — 4xx other than 429, or a
// final 1xx/3xx — (an error wrapping gateway.ErrPermanent and a
// *StatusError), or ctx ended. Network errors, 429 and 5xx are retried
// with backoff, honouring Retry-After, re-signed with a fresh timestamp on
// every attempt and always with webhook-id m.ID.
func (n *Notifier) Notify(ctx context.Context, m alerting.Message) error {
	// The body rides in the request's context so that resign, which only
	// sees the *http.Request, can sign it again.
	ctx = context.WithValue(ctx, bodyKey{}, m.Body)
	ctx = context.WithValue(ctx, callKey{}, &call{})
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, n.url, m.Body)
	if err != nil {
		return fmt.Errorf("build notification %s: %w", m.ID, gateway.ErrPermanent)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "hazardgw")
	req.Header.Set("webhook-id", m.ID)
	n.sign(req.Request, m.ID, m.Body)
	resp, err := n.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("deliver notification %s: %w", m.ID, ctx.Err())
		}
		return fmt.Errorf("deliver notification %s: %s", m.ID, reason(nil, err))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if n.failing.CompareAndSwap(true, false) {
			n.log.Info("duty desk accepts notifications again", "receiver", n.name, "attempts", n.attempts.Swap(0))
		}
		return nil
	}
	return fmt.Errorf("deliver notification %s: %w: %w", m.ID, &StatusError{Code: resp.StatusCode}, gateway.ErrPermanent)
}

// sign sets the Standard Webhooks timestamp and signature headers.
func (n *Notifier) sign(r *http.Request, id string, body []byte) {
	ts := n.opts.Now().Unix()
	r.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	r.Header.Set("webhook-signature", Sign(n.key, id, ts, body))
}

// resign refreshes the timestamp and signature before a retry, so a
// notification retried for longer than a receiver's timestamp tolerance
// (typically 5 minutes) is still accepted. The webhook-id stays.
func (n *Notifier) resign(r *http.Request) error {
	body, ok := r.Context().Value(bodyKey{}).([]byte)
	if !ok {
		return errors.New("re-sign notification: body not in request context")
	}
	r.Header = r.Header.Clone() // the previous attempt's transport may still read the old map
	n.sign(r, r.Header.Get("webhook-id"), body)
	return nil
}

type bodyKey struct{}

// call is what one Notify remembers across its attempts.
type call struct {
	// answered counts the consecutive retryable HTTP answers (429, 5xx)
	// since the last network error: when a desk that was unreachable
	// starts answering, the backoff starts again from MinBackoff instead
	// of carrying on from where the outage left it.
	answered int
}

type callKey struct{}

func callOf(ctx context.Context) *call {
	c, _ := ctx.Value(callKey{}).(*call)
	return c
}

// checkRetry is the retry policy: network errors, 429 and 5xx are retried
// (even errors retryablehttp treats as final, such as a TLS certificate
// problem: an operator can fix those, and the alarm must still arrive);
// everything else is final. It logs when the receiver starts failing.
func (n *Notifier) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	retry := Retryable(resp, err)
	if c := callOf(ctx); c != nil {
		if err != nil {
			c.answered = 0
		} else if retry {
			c.answered++
		}
	}
	if retry {
		n.attempts.Add(1)
		if n.failing.CompareAndSwap(false, true) {
			n.log.Warn("duty desk not accepting notifications; retrying until it does",
				"receiver", n.name, "reason", reason(resp, err))
		}
	}
	return retry, nil
}

// Retryable classifies one attempt: true for a network error, 429 or any
// 5xx; false for 2xx and for answers that retrying cannot fix.
func Retryable(resp *http.Response, err error) bool {
	if err != nil {
		return true
	}
	return resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
}

// backoff is retryablehttp's Backoff: Retry-After when the receiver sent
// one, else exponential with jitter, counted from the first HTTP answer
// after network errors (see call).
func (n *Notifier) backoff(lo, hi time.Duration, attempt int, resp *http.Response) time.Duration {
	if resp != nil && resp.Request != nil {
		if c := callOf(resp.Request.Context()); c != nil && c.answered > 0 {
			attempt = c.answered - 1
		}
	}
	return Backoff(lo, hi, n.opts.MaxRetryAfter, attempt, resp, n.opts.Now(), rand.Float64())
}

// Backoff decides the delay before the next attempt. A Retry-After (in
// seconds or as an HTTP date, relative to now) on a 429 or 5xx answer is
// honoured, capped at maxRetryAfter; otherwise the delay is lo·2^attempt
// capped at hi, of which the upper half is scaled by jitter ∈ [0,1) so
// that gateways recovering together do not stampede the desk.
func Backoff(lo, hi, maxRetryAfter time.Duration, attempt int, resp *http.Response, now time.Time, jitter float64) time.Duration {
	if resp != nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500) {
		if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), now); ok {
			return clampDur(d, 0, maxRetryAfter)
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

func parseRetryAfter(h string, now time.Time) (time.Duration, bool) {
	if h == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(h, 10, 64); err == nil {
		if s < 0 {
			return 0, false
		}
		if s > math.MaxInt64/int64(time.Second) {
			return math.MaxInt64, true
		}
		return time.Duration(s) * time.Second, true
	}
	t, err := http.ParseTime(h)
	if err != nil {
		return 0, false
	}
	return t.Sub(now), true
}

func clampDur(d, lo, hi time.Duration) time.Duration {
	return min(max(d, lo), hi)
}

// reason describes a failed attempt without the URL (which may carry
// credentials in its query).
func reason(resp *http.Response, err error) string {
	if err == nil {
		return "HTTP " + strconv.Itoa(resp.StatusCode)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}

// quietLogger adapts slog to retryablehttp's LeveledLogger: everything at
// Debug (the Notifier logs failures itself, once per change), and without
// the URL that retryablehttp would print on every attempt.
type quietLogger struct{ l *slog.Logger }

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
				out = append(out, "error", reason(nil, err))
				continue
			}
		}
		out = append(out, kv[i], kv[i+1])
	}
	q.l.Debug("webhook client: "+msg, out...)
}
