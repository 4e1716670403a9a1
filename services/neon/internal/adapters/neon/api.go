package neon

import (
	"errors"
	"fmt"
	"net/http"

	"clawdbot.cloud/services/neon/internal/app"
	"clawdbot.cloud/services/neon/internal/neonapi"
)

// APIError is an answer of the Neon API outside 2xx.
type APIError struct {
	// Op names the request in the driver's words ("create branch").
	Op string
	// Status is the HTTP status; Code, Message and RequestID come from
	// Neon's GeneralError body when it sent one.
	Status                   int
	Code, Message, RequestID string
}

// Error describes the answer; it never holds a credential (Neon's error
// bodies carry none, and success bodies never reach an error).
func (e *APIError) Error() string {
	s := fmt.Sprintf("neon API: %s: HTTP %d", e.Op, e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.RequestID != "" {
		s += " (request " + e.RequestID + ")"
	}
	return s
}

// response is what every generated response type has.
type response interface {
	StatusCode() int
	GetJSONDefault() *neonapi.GeneralError
}

// answer turns a generated call's outcome into the driver's error
// vocabulary: nil for 2xx; app.ErrRejected for the 4xx answers that the
// same request will always get (bad key, unknown project, invalid request);
// a plain, retryable error for the rest (5xx, 408, 409, and 423/429/503
// once the retrier gave up), which the bus redelivers with backoff.
func answer(op string, resp response, err error) error {
	if err != nil {
		// Transport error, or an answer that does not parse.
		return fmt.Errorf("neon API: %s: %w", op, err)
	}
	status := resp.StatusCode()
	if status >= 200 && status < 300 {
		return nil
	}
	e := &APIError{Op: op, Status: status}
	if ge := resp.GetJSONDefault(); ge != nil {
		e.Code, e.Message = ge.Code, ge.Message
		if ge.RequestId != nil {
			e.RequestID = *ge.RequestId
		}
	}
	if permanent(status) {
		return fmt.Errorf("%w: %w", app.ErrRejected, e)
	}
	return e
}

// permanent reports whether repeating a request that got status cannot help.
func permanent(status int) bool {
	switch status {
	case http.StatusRequestTimeout, http.StatusConflict, http.StatusLocked, http.StatusTooManyRequests:
		return false
	}
	return status >= 400 && status < 500
}

// status returns the HTTP status an error from answer carries, or 0.
func status(err error) int {
	var e *APIError
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// errMalformed reports a 2xx answer without the body the definition promises.
func errMalformed(op string) error {
	return fmt.Errorf("neon API: %s: the answer has no JSON body", op)
}
