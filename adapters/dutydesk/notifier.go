package dutydesk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/hazardgw/hazardgw/alerting"
	"github.com/hazardgw/hazardgw/gateway"
	"github.com/hazardgw/hazardgw/internal/retryhttp"
)

// Defaults for a zero NotifyConfig.Timeout and zero Options.
const (
	DefaultTimeout       = 5 * time.Second
	DefaultMinBackoff    = 250 * time.Millisecond
	DefaultMaxBackoff    = 5 * time.Second
	DefaultMaxRetryAfter = 5 * time.Minute
)

var defaults = retryhttp.Config{
	Options: Options{MinBackoff: DefaultMinBackoff, MaxBackoff: DefaultMaxBackoff, MaxRetryAfter: DefaultMaxRetryAfter},
	Timeout: DefaultTimeout,
}

// Options tune a Notifier: backoff bounds, the cap on a Retry-After, the
// HTTP transport and the clock. Zero values mean the defaults above.
type Options = retryhttp.Options

// Notifier delivers alert notifications to one duty-desk webhook, signed
// per Standard Webhooks. It is safe for concurrent use; the alert
// engine calls it from one goroutine per receiver.
type Notifier struct {
	name   string
	url    string
	key    []byte
	opts   Options
	log    *slog.Logger
	client *retryablehttp.Client

	failures retryhttp.Failures
	// skew is how far the desk's clock is from ours, learnt from the
	// Date header of a refusal: signatures carry the desk's time, so an
	// edge box whose clock is off (a lost RTC, NTP not reachable yet) is
	// not refused for its timestamps.
	skew retryhttp.Skew
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
	n := &Notifier{name: cfg.Name, url: cfg.URL, key: key}
	c := retryhttp.Config{
		Options: opts, Timeout: cfg.Timeout, Logger: logger, LogPrefix: "webhook client: ",
		CheckRetry: n.checkRetry, Backoff: n.backoff, PrepareRetry: n.resign,
	}.WithDefaults(defaults)
	n.opts, n.log, n.client = c.Options, c.Logger, retryhttp.New(c)
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
		return fmt.Errorf("deliver notification %s: %s", m.ID, retryhttp.Reason(nil, err))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if attempts, ended := n.failures.Clear(); ended {
			n.log.Info("duty desk accepts notifications again", "receiver", n.name, "attempts", attempts)
		}
		return nil
	}
	return fmt.Errorf("deliver notification %s: %w: %w", m.ID, &StatusError{Code: resp.StatusCode}, gateway.ErrPermanent)
}

// sign sets the Standard Webhooks timestamp and signature headers.
func (n *Notifier) sign(r *http.Request, id string, body []byte) {
	ts := n.skew.Now(n.opts.Now()).Unix()
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
	// reclocked: a refusal taught the desk's clock and the notification
	// was signed again with it; a second refusal is final.
	reclocked bool
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
	c := callOf(ctx)
	if err == nil && c != nil && !c.reclocked && n.learnSkew(resp) {
		c.reclocked = true
		return true, nil // once more, signed with the desk's time
	}
	retry := Retryable(resp, err)
	if c != nil {
		if err != nil {
			c.answered = 0
		} else if retry {
			c.answered++
		}
	}
	if retry && n.failures.Add() {
		n.log.Warn("duty desk not accepting notifications; retrying until it does",
			"receiver", n.name, "reason", retryhttp.Reason(resp, err))
	}
	return retry, nil
}

// learnSkew reads the clock of a desk that refused a notification (400,
// 401 or 403, as Standard Webhooks receivers answer a timestamp outside
// their tolerance) from its Date header; it reports whether that differs
// by retryhttp.MinSkew or more from the clock the signature used, and
// then signs with the desk's time from now on.
func (n *Notifier) learnSkew(resp *http.Response) bool {
	switch resp.StatusCode {
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden:
	default:
		return false
	}
	off, changed := n.skew.Learn(resp, n.opts.Now())
	if !changed {
		return false
	}
	n.log.Warn("the duty desk's clock and the gateway's differ; signing with the desk's time",
		"receiver", n.name, "desk_ahead_by", off.Round(time.Second))
	return true
}

// Retryable classifies one attempt: true for a network error, 429 or any
// 5xx; false for 2xx and for answers that retrying cannot fix.
func Retryable(resp *http.Response, err error) bool {
	return retryhttp.Retryable(resp, err)
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
	return retryhttp.Backoff(lo, hi, maxRetryAfter, attempt, resp, now, jitter)
}

// ClockOffset is how far the desk's clock is ahead of the gateway's
// (negative: behind), as learnt from the Date header of a refusal; zero
// until one showed a difference of a minute or more.
func (n *Notifier) ClockOffset() time.Duration { return n.skew.Offset() }
