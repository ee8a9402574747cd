package gateway

import (
	"errors"
	"time"
)

// ErrPermanent marks an error that retrying cannot fix (the data itself was
// rejected). A Sink wraps it; the forwarder then dead-letters the batch.
var ErrPermanent = errors.New("permanent error")

// IsPermanent reports whether err is marked with ErrPermanent.
func IsPermanent(err error) bool { return errors.Is(err, ErrPermanent) }

// RetryAfterError carries a server's requested delay (HTTP Retry-After).
type RetryAfterError struct {
	Err   error
	After time.Duration
}

func (e *RetryAfterError) Error() string { return e.Err.Error() }
func (e *RetryAfterError) Unwrap() error { return e.Err }

// RetryAfter returns the delay a server asked for, if err carries one.
func RetryAfter(err error) (time.Duration, bool) {
	var ra *RetryAfterError
	if errors.As(err, &ra) && ra.After > 0 {
		return ra.After, true
	}
	return 0, false
}

// ErrTooLarge marks a batch the sink refused because of its size (HTTP 413).
// A Sink wraps it; the forwarder then splits the batch, and dead-letters a
// single point only if it is too large on its own.
var ErrTooLarge = errors.New("batch too large")

// A PartialWriteError reports that the sink stored some points of a batch and
// rejected the others for good (InfluxDB's "partial write"). The forwarder
// counts Rejected points as dead-lettered, moves the identified lines to the
// dead-letter bucket, and deletes the rest of the batch: it was stored, and
// sending it again would count it twice.
type PartialWriteError struct {
	Err      error
	Rejected int   // points the sink did not store; at least len(Lines)
	Lines    []int // indexes into the batch of the rejected lines the sink could identify
}

func (e *PartialWriteError) Error() string { return e.Err.Error() }
func (e *PartialWriteError) Unwrap() error { return e.Err }
