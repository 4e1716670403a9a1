package neon

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"clawdbot.cloud/pkg/retry"
	"clawdbot.cloud/services/neon/internal/neonapi"
)

// Timing bounds how the driver waits on Neon. The zero value means the
// defaults; tests shorten nothing but replace Sleep with a fake clock.
type Timing struct {
	// Attempts is how often one request is sent while Neon answers 423
	// Locked, 429 Too Many Requests or 503 Service Unavailable (default 6).
	// After the last, the answer becomes a retryable error and the command
	// is redelivered later.
	Attempts int
	// RetryBase and RetryMax bound the exponential backoff between those
	// attempts (defaults 500ms and 30s). A Retry-After header is honoured up
	// to RetryMax; a longer one ends the attempts at once.
	RetryBase, RetryMax time.Duration
	// PollFirst and PollMax bound the interval between two polls of a
	// running operation (defaults 200ms and 2s; Neon says a branch takes
	// about a second).
	PollFirst, PollMax time.Duration
	// OperationTimeout bounds the time spent waiting for the operations of
	// one request (default 5m), counted in the waits the driver asked for.
	OperationTimeout time.Duration
	// Sleep waits d or until ctx ends (default: a timer). Tests pass a fake
	// clock that records the waits and moves the test server's operations
	// on instead of letting time pass.
	Sleep func(ctx context.Context, d time.Duration) error
}

// withDefaults fills the zero fields of t.
func (t Timing) withDefaults() Timing {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if t.Attempts <= 0 {
		t.Attempts = 6
	}
	def(&t.RetryBase, 500*time.Millisecond)
	def(&t.RetryMax, 30*time.Second)
	def(&t.PollFirst, 200*time.Millisecond)
	def(&t.PollMax, 2*time.Second)
	def(&t.OperationTimeout, 5*time.Minute)
	if t.Sleep == nil {
		t.Sleep = sleep
	}
	return t
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// retryable reports whether Neon asks for the same request again later:
// 423 while another operation holds the project, 429 above the rate limit,
// 503 while it is unavailable. None of them carried the request out, so
// resending a POST is safe (Neon's API reference says so for 423 and 503).
func retryable(status int) bool {
	return status == http.StatusLocked || status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable
}

// retrier is the HTTP doer under the generated client: it resends requests
// Neon answered with a retryable status, waiting as Retry-After says or
// with exponential backoff and jitter, and counts what it sent.
type retrier struct {
	next   neonapi.HttpRequestDoer
	timing Timing
	m      *apiMetrics
	// authFailed is set by a 401 or 403 answer and cleared by any 2xx: the
	// readiness check reports a revoked or wrong API key.
	authFailed atomic.Bool
}

// Do sends req, again while Neon answers 423, 429 or 503, at most
// Attempts times. Transport errors are returned at once: a POST may have
// been carried out, and the driver's find-by-name makes the redelivered
// command safe instead.
func (r *retrier) Do(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	for attempt := 1; ; attempt++ {
		if attempt > 1 && req.Body != nil {
			if req.GetBody == nil {
				return nil, fmt.Errorf("%s %s: cannot resend a request body", req.Method, req.URL.Path)
			}
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			req = req.Clone(ctx)
			req.Body = body
		}
		resp, err := r.next.Do(req)
		if err != nil {
			r.m.request("error")
			return nil, err
		}
		r.m.request(strconv.Itoa(resp.StatusCode))
		r.noteAuth(resp.StatusCode)
		if !retryable(resp.StatusCode) || attempt >= r.timing.Attempts {
			return resp, nil
		}
		wait, ok := retry.After(resp.Header, time.Now())
		if !ok {
			wait = retry.Jitter(retry.Backoff(attempt, r.timing.RetryBase, r.timing.RetryMax))
		} else if wait > r.timing.RetryMax {
			// Neon wants more time than one handler should hold the
			// message for: give the answer back, the command is
			// redelivered after the delay.
			return resp, nil
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		r.m.retry(strconv.Itoa(resp.StatusCode))
		if err := r.timing.Sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

func (r *retrier) noteAuth(status int) {
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		r.authFailed.Store(true)
	case status >= 200 && status < 300:
		r.authFailed.Store(false)
	}
}
