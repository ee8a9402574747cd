package receivers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/hazardgw/hazardgw/alerting"
	"github.com/hazardgw/hazardgw/gateway"
	"github.com/hazardgw/hazardgw/internal/retryhttp"
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

var defaults = retryhttp.Config{
	Options: Options{MinBackoff: DefaultMinBackoff, MaxBackoff: DefaultMaxBackoff, MaxRetryAfter: DefaultMaxRetryAfter},
	Timeout: DefaultTimeout,
}

// Options tune a Notifier: backoff bounds, the cap on a Retry-After (or
// Feishu's x-ogw-ratelimit-reset), the HTTP transport and the clock of
// signatures. Zero values mean the defaults above.
type Options = retryhttp.Options

// RefusedError is a receiver's answer that it did not take a message: an
// HTTP status, or a vendor's error code in a 200 answer. Temporary ones
// (rate limits, "busy") are retried; the others are final.
type RefusedError struct {
	Status    int    // HTTP status of the answer
	Code      int    // the vendor's errcode / code; 0 when the status says it all
	Msg       string // the vendor's errmsg, credentials removed
	Temporary bool
	// Clock: the vendor gives one code for a bad signature and a
	// timestamp outside its window (DingTalk 310000, Feishu 19021), so
	// the refusal may be about the gateway's clock.
	Clock bool
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
	// timed: the attempt carries a signed timestamp, which the receiver
	// checks against its clock.
	timed bool
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
	retries retryhttp.Failures
	// skew is how far the receiver's clock is from ours, learnt from the
	// Date header of its answers: signatures carry the receiver's time.
	skew retryhttp.Skew
}

// Chat is a Notifier for a group chat robot (DingTalk, WeCom, Feishu): it
// also merges several notifications into one message (NotifyBatch).
type Chat struct{ *Notifier }

var (
	_ alerting.Notifier      = (*Notifier)(nil)
	_ alerting.BatchNotifier = Chat{}
)

func newNotifier(cfg alerting.NotifyConfig, v vendor, opts Options, logger *slog.Logger) *Notifier {
	var pairs []string
	for _, s := range Secrets(cfg) {
		pairs = append(pairs, s, "***")
	}
	n := &Notifier{name: cfg.Name, typ: cfg.NotifyType(), v: v, scrub: strings.NewReplacer(pairs...)}
	c := retryhttp.Config{
		Options: opts, Timeout: cfg.Timeout, Logger: logger, LogPrefix: "receiver client: ",
		Scrub: n.scrub.Replace, CheckRetry: n.checkRetry, Backoff: n.backoff, PrepareRetry: n.resign,
	}.WithDefaults(defaults)
	n.opts, n.log, n.client = c.Options, c.Logger, retryhttp.New(c)
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
	// off is the clock offset the current attempt was signed with.
	off time.Duration
	// reclocked: a refusal that may be about the timestamp came with a
	// clock of the receiver's that differs from the one signed with, and
	// the message was signed again with it; a second such refusal is final.
	reclocked bool
	// now: the next attempt goes without waiting (the one signed with
	// the receiver's time: nothing to wait for).
	now bool
}

// signNow signs the call's next attempt with the receiver's clock as far
// as it is known.
func (n *Notifier) signNow(c *call) (attempt, error) {
	off := n.skew.Offset()
	a, err := c.sign(n.opts.Now().Add(off))
	if err == nil {
		c.off = off
	}
	return a, err
}

// ClockOffset is how far the receiver's clock is ahead of the gateway's
// (negative: behind), as learnt from the Date header of its answers; zero
// until an answer showed a difference of a minute or more.
func (n *Notifier) ClockOffset() time.Duration { return n.skew.Offset() }

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
	if c.cur, err = n.signNow(c); err != nil {
		return fmt.Errorf("render notification %s: %s: %w", id, n.scrub.Replace(err.Error()), gateway.ErrPermanent)
	}
	ctx = context.WithValue(ctx, callKey{}, c)
	req, err := retryablehttp.NewRequestWithContext(ctx, c.cur.method, c.cur.url,
		retryablehttp.ReaderFunc(func() (io.Reader, error) { return bytes.NewReader(c.cur.body), nil }))
	if err != nil {
		return fmt.Errorf("build request for notification %s: %s: %w", id, n.scrub.Replace(retryhttp.Reason(nil, err)), gateway.ErrPermanent)
	}
	setAttempt(req.Request, c.cur)
	req.SetResponseHandler(n.answer)
	resp, err := n.client.Do(req)
	if resp != nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
		resp.Body.Close()
	}
	if err == nil {
		if retries, ended := n.retries.Clear(); ended {
			n.log.Info("receiver accepts messages again", "receiver", n.name, "type", n.typ, "retries", retries)
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
	return fmt.Errorf("deliver notification %s: %s", id, n.scrub.Replace(retryhttp.Reason(nil, err)))
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
	a, err := n.signNow(c)
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
// temporary refusal are retried; a refusal that may be about the
// timestamp is retried once when the receiver's clock (its Date header)
// differs from the one the attempt was signed with; everything else is
// final. It logs when the receiver starts failing.
func (n *Notifier) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err == nil && resp != nil {
		n.learnClock(resp)
	}
	var re *RefusedError
	if c, ok := ctx.Value(callKey{}).(*call); ok && c.cur.timed && errors.As(err, &re) && re.Clock && !c.reclocked &&
		(n.skew.Offset()-c.off).Abs() >= retryhttp.MinSkew {
		c.reclocked, c.now = true, true
		return true, nil // once more, signed with the receiver's time
	}
	retry := Retryable(resp, err)
	if retry && n.retries.Add() {
		n.log.Warn("receiver not accepting messages; retrying until it does",
			"receiver", n.name, "type", n.typ, "reason", n.scrub.Replace(retryhttp.Reason(resp, err)))
	}
	return retry, nil
}

// learnClock learns the receiver's clock from any answer and logs when
// it differs from the gateway's by a minute or more (once per change).
func (n *Notifier) learnClock(resp *http.Response) {
	off, changed := n.skew.Learn(resp, n.opts.Now())
	if !changed {
		return
	}
	if off.Abs() < retryhttp.MinSkew {
		n.log.Info("the gateway's clock agrees with the receiver's again", "receiver", n.name, "type", n.typ)
		return
	}
	way := "behind"
	if off < 0 {
		way = "ahead"
	}
	// To the minute: a Date header has whole seconds, and an answer takes
	// its time.
	n.log.Warn(fmt.Sprintf("the gateway's clock is %s %s (as the receiver's Date header tells); signing with the receiver's time", off.Abs().Round(time.Minute), way),
		"receiver", n.name, "type", n.typ, "offset_seconds", int64(off.Round(time.Second)/time.Second))
}

// Retryable classifies one attempt: a network error, 429, 5xx or a
// vendor's temporary refusal (rate limit) is retried; a 2xx without error,
// and every final refusal, is not.
func Retryable(resp *http.Response, err error) bool {
	if re := (*RefusedError)(nil); errors.As(err, &re) {
		return re.Temporary
	}
	return retryhttp.Retryable(resp, err)
}

func (n *Notifier) backoff(lo, hi time.Duration, attempt int, resp *http.Response) time.Duration {
	if resp != nil && resp.Request != nil {
		if c, ok := resp.Request.Context().Value(callKey{}).(*call); ok && c.now {
			c.now = false
			return 0
		}
	}
	return Backoff(lo, hi, n.opts.MaxRetryAfter, attempt, resp, n.opts.Now(), rand.Float64())
}

// Backoff decides the delay before the next attempt: on a 429 or 5xx, the
// receiver's Retry-After (seconds or an HTTP date) or Feishu's
// x-ogw-ratelimit-reset (seconds), capped at maxRetryAfter; otherwise
// lo·2^attempt capped at hi, the upper half scaled by jitter ∈ [0,1).
func Backoff(lo, hi, maxRetryAfter time.Duration, attempt int, resp *http.Response, now time.Time, jitter float64) time.Duration {
	return retryhttp.Backoff(lo, hi, maxRetryAfter, attempt, resp, now, jitter, "Retry-After", "X-Ogw-Ratelimit-Reset")
}
