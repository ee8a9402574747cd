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
