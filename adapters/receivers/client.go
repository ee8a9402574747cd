package receivers

import (
	"bytes"
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
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-cleanhttp"
	"github.com/hashicorp/go-retryablehttp"

	"github.com/hazardgw/hazardgw/alerting"
	"github.com/hazardgw/hazardgw/gateway"
)

// Defaults for a zero NotifyConfig.Timeout and zero Options. The vendors
// count their limits per minute (DingTalk 20 messages, WeCom 20, Feishu
// 100), so backing off beyond a minute gains nothing.
const (
	DefaultTimeout       = 5 * time.Second
	DefaultMinBackoff    = time.Second
	DefaultMaxBackoff    = time.Minute
	DefaultMaxRetryAfter = 5 * time.Minute
	maxAnswer            = 64 << 10
)

// Options tune a Notifier. Zero values mean defaults.
type Options struct {
	// MinBackoff and MaxBackoff bound the exponential delay between
	// attempts when the receiver gives no Retry-After.
	MinBackoff, MaxBackoff time.Duration
	// MaxRetryAfter caps a receiver's Retry-After (or Feishu's
	// x-ogw-ratelimit-reset).
	MaxRetryAfter time.Duration
	// Transport replaces the HTTP transport (e.g. for a private CA).
	Transport http.RoundTripper
	// Now is the clock of signatures; nil: time.Now.
	Now func() time.Time
}

// RefusedError is a receiver's answer that it did not take a message: an
// HTTP status, or a vendor's error code in a 200 answer. Temporary ones
// (rate limits, "busy") are retried; the others are final.
type RefusedError struct {
	Status    int    // HTTP status of the answer
	Code      int    // the vendor's errcode / code; 0 when the status says it all
	Msg       string // the vendor's errmsg, credentials removed
	Temporary bool
}

func (e *RefusedError) Error() string {
	s := "receiver answered HTTP " + strconv.Itoa(e.Status)
	if e.Code != 0 {
		s += ", error code " + strconv.Itoa(e.Code)
	}
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	return s
}

// attempt is one request of a delivery, signed at one moment.
type attempt struct {
	method string
	url    string
	header http.Header
	body   []byte
}

// signer makes the request of one attempt at now: vendors that sign put a
// fresh timestamp in every attempt, so a message retried for an hour is
// still inside the receiver's tolerance.
type signer func(now time.Time) (attempt, error)

// A vendor speaks one receiver's protocol.
type vendor interface {
	// prepare renders ms into what every attempt of one delivery sends.
	// An error is final (a template that cannot execute).
	prepare(ms []alerting.Message) (signer, error)
	// verdict reads an answer other than 429 and 5xx (which are retried
	// before it is asked): nil when the receiver took the message, else a
	// *RefusedError.
	verdict(status int, body []byte) error
}

// Notifier delivers notifications to one receiver of a type other than
// the Standard Webhooks duty desk: it renders, signs, sends, and
// classifies the answer. Retrying across restarts, ordering and dead
// letters are the alert engine's outbox: Notify returns nil once the
// receiver took the message, an error wrapping gateway.ErrPermanent when it
// refused it for good, or the context's error.
//
// A Notifier is safe for concurrent use; New does no I/O.
type Notifier struct {
	name    string
	typ     string
	v       vendor
	scrub   *strings.Replacer
	opts    Options
	log     *slog.Logger
	client  *retryablehttp.Client
	failing atomic.Bool
	retries atomic.Int64
}

// Chat is a Notifier for a group chat robot (DingTalk, WeCom, Feishu): it
// also merges several notifications into one message (NotifyBatch).
type Chat struct{ *Notifier }

var (
	_ alerting.Notifier      = (*Notifier)(nil)
	_ alerting.BatchNotifier = Chat{}
)

func newNotifier(cfg alerting.NotifyConfig, v vendor, opts Options, logger *slog.Logger) *Notifier {
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
	var pairs []string
	for _, s := range Secrets(cfg) {
		pairs = append(pairs, s, "***")
	}
	n := &Notifier{name: cfg.Name, typ: cfg.NotifyType(), v: v, scrub: strings.NewReplacer(pairs...), opts: opts, log: logger}
	n.client = &retryablehttp.Client{
		HTTPClient:   hc,
		Logger:       quietLogger{logger, n.scrub},
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
	return n
}

// Notify delivers one notification.
func (n *Notifier) Notify(ctx context.Context, m alerting.Message) error {
	return n.send(ctx, []alerting.Message{m})
}

// NotifyBatch delivers ms as one message: most severe first, bounded to
// what the vendor takes, with a count of what did not fit. Its errors mean
// what Notify's do, for all of ms.
func (c Chat) NotifyBatch(ctx context.Context, ms []alerting.Message) error {
	if len(ms) == 0 {
		return nil
	}
	return c.send(ctx, ms)
}

// call is what one delivery remembers across its attempts.
type call struct {
	sign signer
	cur  attempt
}

type callKey struct{}

func (n *Notifier) send(ctx context.Context, ms []alerting.Message) error {
	id := ms[0].ID
	if len(ms) > 1 {
		id += fmt.Sprintf(" (+%d more)", len(ms)-1)
	}
	sign, err := n.v.prepare(ms)
	if err != nil {
		return fmt.Errorf("render notification %s: %s: %w", id, n.scrub.Replace(err.Error()), gateway.ErrPermanent)
	}
	c := &call{sign: sign}
	if c.cur, err = sign(n.opts.Now()); err != nil {
		return fmt.Errorf("render notification %s: %s: %w", id, n.scrub.Replace(err.Error()), gateway.ErrPermanent)
	}
	ctx = context.WithValue(ctx, callKey{}, c)
	req, err := retryablehttp.NewRequestWithContext(ctx, c.cur.method, c.cur.url,
		retryablehttp.ReaderFunc(func() (io.Reader, error) { return bytes.NewReader(c.cur.body), nil }))
	if err != nil {
		return fmt.Errorf("build request for notification %s: %s: %w", id, n.scrub.Replace(reason(nil, err)), gateway.ErrPermanent)
	}
	setAttempt(req.Request, c.cur)
	req.SetResponseHandler(n.answer)
	resp, err := n.client.Do(req)
	if resp != nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
		resp.Body.Close()
	}
	if err == nil {
		if n.failing.CompareAndSwap(true, false) {
			n.log.Info("receiver accepts messages again", "receiver", n.name, "type", n.typ, "retries", n.retries.Swap(0))
		}
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("deliver notification %s: %w", id, ctx.Err())
	}
	var re *RefusedError
	if errors.As(err, &re) {
		return fmt.Errorf("deliver notification %s: %s: %w", id, n.scrub.Replace(re.Error()), gateway.ErrPermanent)
	}
	return fmt.Errorf("deliver notification %s: %s", id, n.scrub.Replace(reason(nil, err)))
}

// setAttempt puts an attempt's URL, headers and body length on r.
func setAttempt(r *http.Request, a attempt) {
	h := a.header.Clone()
	if h == nil {
		h = http.Header{}
	}
	if h.Get("User-Agent") == "" {
		h.Set("User-Agent", "hazardgw")
	}
	r.Header = h
	r.ContentLength = int64(len(a.body))
	if len(a.body) == 0 {
		r.Body, r.GetBody = http.NoBody, nil
	}
}

// resign makes the next attempt's request afresh (a new timestamp and
// signature) before a retry.
func (n *Notifier) resign(r *http.Request) error {
	c, ok := r.Context().Value(callKey{}).(*call)
	if !ok {
		return errors.New("re-sign notification: no delivery in request context")
	}
	a, err := c.sign(n.opts.Now())
	if err != nil {
		return err
	}
	u, err := url.Parse(a.url)
	if err != nil {
		return errors.New("re-sign notification: bad URL")
	}
	c.cur = a
	r.URL, r.Host = u, ""
	setAttempt(r, a)
	return nil
}

// answer reads an answer retryablehttp did not retry on its status and
// asks the vendor whether the message was taken.
func (n *Notifier) answer(resp *http.Response) error {
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	resp.Body.Close()
	resp.Body = http.NoBody
	if err != nil {
		return err // a network error: retried
	}
	return n.v.verdict(resp.StatusCode, body)
}

// checkRetry is the retry policy: network errors, 429, 5xx and a vendor's
// temporary refusal are retried; everything else is final. It logs when
// the receiver starts failing.
func (n *Notifier) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	retry := Retryable(resp, err)
	if retry {
		n.retries.Add(1)
		if n.failing.CompareAndSwap(false, true) {
			n.log.Warn("receiver not accepting messages; retrying until it does",
				"receiver", n.name, "type", n.typ, "reason", n.scrub.Replace(reason(resp, err)))
		}
	}
	return retry, nil
}

// Retryable classifies one attempt: a network error, 429, 5xx or a
// vendor's temporary refusal (rate limit) is retried; a 2xx without error,
// and every final refusal, is not.
func Retryable(resp *http.Response, err error) bool {
	var re *RefusedError
	switch {
	case errors.As(err, &re):
		return re.Temporary
	case err != nil:
		return true
	}
	return resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
}

func (n *Notifier) backoff(lo, hi time.Duration, attempt int, resp *http.Response) time.Duration {
	return Backoff(lo, hi, n.opts.MaxRetryAfter, attempt, resp, n.opts.Now(), rand.Float64())
}

// Backoff decides the delay before the next attempt: on a 429 or 5xx, the
// receiver's Retry-After (seconds or an HTTP date) or Feishu's
// x-ogw-ratelimit-reset (seconds), capped at maxRetryAfter; otherwise
// lo·2^attempt capped at hi, the upper half scaled by jitter ∈ [0,1).
func Backoff(lo, hi, maxRetryAfter time.Duration, attempt int, resp *http.Response, now time.Time, jitter float64) time.Duration {
	if resp != nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500) {
		if d, ok := retryAfter(resp.Header, now); ok {
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

func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	for _, k := range []string{"Retry-After", "X-Ogw-Ratelimit-Reset"} {
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
		if t, err := http.ParseTime(v); err == nil && k == "Retry-After" {
			return t.Sub(now), true
		}
	}
	return 0, false
}

// reason describes a failed attempt without the URL (whose query holds the
// robot's token).
func reason(resp *http.Response, err error) string {
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

// quietLogger adapts slog to retryablehttp's LeveledLogger: everything at
// Debug, without the URL (the Notifier logs failures itself, once per
// change).
type quietLogger struct {
	l     *slog.Logger
	scrub *strings.Replacer
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
				out = append(out, "error", q.scrub.Replace(reason(nil, err)))
				continue
			}
		}
		out = append(out, kv[i], kv[i+1])
	}
	q.l.Debug("receiver client: "+msg, out...)
}
