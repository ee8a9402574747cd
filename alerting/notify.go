package alerting

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"time"
)

// A Notifier delivers notifications to one receiver (a duty desk).
//
// Notify returns nil once the receiver has taken m. It retries transient
// failures itself, for as long as ctx allows; an error wrapping
// gateway.ErrPermanent means the receiver refused m for good and it is
// dead-lettered; any other error is retried by the engine a little later.
// The engine may call Notify concurrently (up to Options.Concurrency calls
// per receiver), but never for two messages of one alert at once: one
// alert's messages are sent one at a time, in order. Each call is bounded
// by Options.AttemptTimeout through ctx. m.ID is identical on every
// attempt of the same message, across restarts.
type Notifier interface {
	Notify(ctx context.Context, m Message) error
}

// A BatchNotifier is a Notifier that can also send several notifications
// as one message: the engine uses it when a receiver's rate budget is spent,
// so that what waits is merged into the next message instead of dropped or
// queued behind the budget. ms are in outbox order (within one alert, the
// order they were made). NotifyBatch returns nil once the receiver has
// taken all of them; its errors mean what Notify's do, for all of ms.
type BatchNotifier interface {
	Notifier
	NotifyBatch(ctx context.Context, ms []Message) error
}

// NotifierFunc adapts a function to Notifier (handy in tests).
type NotifierFunc func(ctx context.Context, m Message) error

// Notify calls f.
func (f NotifierFunc) Notify(ctx context.Context, m Message) error { return f(ctx, m) }

// Message is one notification to one receiver.
type Message struct {
	// ID is the Standard Webhooks message id (header webhook-id): unique
	// per notification, the same on every retry.
	ID string
	// Type is the notification type (alert.firing …).
	Type string
	// AlertID is the alert it is about.
	AlertID string
	// Body is the JSON payload of the duty-desk webhook.
	Body []byte
}

// payload is the webhook body.
type payload struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      *Alert    `json:"data"`
}

// messageID makes a notification's webhook-id from its alert and its
// number within the alert: stable, and unique per notification.
func messageID(alertID string, n int) string {
	return "msg_" + alertID + "_" + strconv.Itoa(n)
}

// encodePayload renders the webhook body. Timestamps are UTC; values decoded
// from float32 registers are written as the decimal they stand for.
func encodePayload(typ string, at time.Time, a *Alert) ([]byte, error) {
	d := *a
	d.Value = cleanFloat(d.Value)
	if d.Threshold != nil {
		t := cleanFloat(*d.Threshold)
		d.Threshold = &t
	}
	utc(&d)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(payload{Type: typ, Timestamp: at.UTC(), Data: &d}); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

func utc(a *Alert) {
	a.StartedAt, a.ChangedAt = a.StartedAt.UTC(), a.ChangedAt.UTC()
	for _, p := range []**time.Time{&a.ResolvedAt, &a.AcknowledgedAt, &a.EventTime, &a.ShelvedAt, &a.ShelvedUntil, &a.OutOfServiceSince, &a.OutOfServiceUntil} {
		if *p != nil {
			t := (*p).UTC()
			*p = &t
		}
	}
}
