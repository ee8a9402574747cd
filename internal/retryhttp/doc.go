// Package retryhttp is the retrying HTTP client that the notification
// adapters (the duty-desk webhook and the chat and HTTP receivers) share: a
// go-retryablehttp client on a pooled cleanhttp transport that retries
// until a message is delivered or its context ends, backs off
// exponentially with jitter unless the receiver says how long to wait
// (Retry-After, capped), and logs retryablehttp's per-attempt chatter only
// at Debug and without the URL, whose query may hold a credential.
//
// What each adapter decides for itself stays with it: how a request is
// signed and re-signed (PrepareRetry), which answers are retried
// (CheckRetry, usually built on Retryable), and how a final refusal is
// reported. Backoff, Retryable and Reason are pure functions; Failures
// keeps an outage's logging to one line when it starts and one when it
// ends.
//
// Skew keeps how far a receiver's clock is from the gateway's, learnt from
// the Date header of its answers (a minute or more counts), so that an
// adapter signs with the receiver's time when the gateway's clock is wrong
// (a dead RTC battery, no NTP on an isolated network); which answers may
// be about the clock, and when to sign again, each adapter decides.
// ClockCollector exports the offsets as hazardgw_clock_offset_seconds.
//
// # Concurrency
//
// A client from New, a Failures and a Skew are safe for concurrent use;
// New does no I/O.
//
//	defaults := retryhttp.Config{
//		Options: retryhttp.Options{MinBackoff: time.Second, MaxBackoff: time.Minute, MaxRetryAfter: 5 * time.Minute},
//		Timeout: 5 * time.Second,
//	}
//	c := retryhttp.Config{
//		Options: opts, Timeout: cfg.Timeout, Logger: logger, LogPrefix: "webhook client: ",
//		CheckRetry: n.checkRetry, Backoff: n.backoff, PrepareRetry: n.resign,
//	}.WithDefaults(defaults) // the zero values filled in, for the adapter's own use too
//	client := retryhttp.New(c)
package retryhttp
