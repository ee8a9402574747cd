// Package dutydesk delivers alert notifications to an emergency duty desk
// over HTTP(S): one JSON POST per notification, signed per the Standard
// Webhooks specification (the duty-desk webhook in the README), retried with go-retryablehttp.
//
// Each request carries
//
//	webhook-id:        the notification's id, the same on every retry (receivers dedup on it)
//	webhook-timestamp: Unix seconds of this attempt
//	webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>
//
// where key is the base64-decoded part of the secret after "whsec_".
// Every attempt is signed afresh, so a notification that waited out a long
// outage still falls inside a receiver's timestamp tolerance.
//
// Any 2xx is delivery. Network errors, 429 and 5xx are retried until
// delivered or the context ends, honouring Retry-After (capped, see
// Options.MaxRetryAfter) and otherwise backing off exponentially with
// jitter; the alert engine's durable outbox carries an undelivered
// notification over a restart. Other answers are final: Notify returns an
// error wrapping gateway.ErrPermanent and a *StatusError, and the engine
// dead-letters the notification. Retry classification (Retryable) and
// the delay (Backoff) are pure functions.
//
// Logging is quiet: retryablehttp's per-attempt logs go to Debug without
// the URL; the Notifier logs once when a desk starts failing and once when
// it recovers. The secret is never logged or put in an error.
//
// # Concurrency
//
// A Notifier is safe for concurrent use; New does no I/O.
//
// # Example
//
//	desk, err := dutydesk.New(alerting.NotifyConfig{
//		Name: "duty-desk", URL: "https://duty.example.org/api/alerts",
//		Secret: os.Getenv("DUTY_DESK_SECRET"), Timeout: 5 * time.Second,
//	}, dutydesk.Options{}, logger)
//	if err != nil { ... }
//	err = desk.Notify(ctx, alerting.Message{ID: "msg_…", Body: body})
package dutydesk
