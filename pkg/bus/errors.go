package bus

import (
	"errors"
	"time"
)

// permanentError marks a failure that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as a failure retrying cannot fix: the message is
// terminated and copied to the dead-letter stream with err as the reason.
// Handlers that must tell the saga publish their failure event before
// returning it.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// retryError asks for redelivery after a given delay.
type retryError struct {
	err   error
	delay time.Duration
}

func (e *retryError) Error() string { return e.err.Error() }
func (e *retryError) Unwrap() error { return e.err }

// RetryAfter asks for redelivery after delay instead of the consumer's
// backoff (for example a provider's Retry-After).
func RetryAfter(err error, delay time.Duration) error {
	if err == nil {
		return nil
	}
	return &retryError{err: err, delay: delay}
}

// Delayed is implemented by errors that know when trying again makes sense,
// such as a provider's rate limit; the consumer redelivers after Delay.
type Delayed interface{ Delay() time.Duration }

// retryDelay is the redelivery delay err asks for, if any: RetryAfter's,
// or a positive Delay of an error in its chain.
func retryDelay(err error) (time.Duration, bool) {
	var re *retryError
	if errors.As(err, &re) {
		return re.delay, true
	}
	var d Delayed
	if errors.As(err, &d) && d.Delay() > 0 {
		return d.Delay(), true
	}
	return 0, false
}
