package llm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		header map[string]string
		want   time.Duration
	}{
		{nil, 0},
		{map[string]string{"Retry-After": "7"}, 7 * time.Second},
		{map[string]string{"Retry-After": "1.5"}, 1500 * time.Millisecond},
		{map[string]string{"Retry-After": "0"}, 0},
		{map[string]string{"Retry-After": "soon"}, 0},
		{map[string]string{"Retry-After": now.Add(90 * time.Second).Format(http.TimeFormat)}, 90 * time.Second},
		{map[string]string{"Retry-After": now.Add(-time.Minute).Format(http.TimeFormat)}, 0},
		{map[string]string{"Retry-After": "7", "Retry-After-Ms": "2500"}, 2500 * time.Millisecond},
	} {
		h := http.Header{}
		for k, v := range tc.header {
			h.Set(k, v)
		}
		if got := RetryAfter(h, now); got != tc.want {
			t.Errorf("RetryAfter(%v) = %v, want %v", tc.header, got, tc.want)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string { return "i/o timeout" }
func (timeoutErr) Timeout() bool { return true }

func TestClassify(t *testing.T) {
	for status, want := range map[int]Kind{429: RateLimited, 500: Unavailable, 502: Unavailable, 529: Unavailable,
		504: Timeout, 408: Timeout, 400: Rejected, 401: Rejected, 404: Rejected} {
		if got := FromStatus(status); got != want {
			t.Errorf("FromStatus(%d) = %v, want %v", status, got, want)
		}
	}
	for err, want := range map[error]Kind{
		context.DeadlineExceeded:                      Timeout,
		fmt.Errorf("post: %w", timeoutErr{}):          Timeout,
		errors.New("connection refused"):              Unavailable,
		fmt.Errorf("x: %w", context.DeadlineExceeded): Timeout,
	} {
		if got := FromTransport(err); got != want {
			t.Errorf("FromTransport(%v) = %v, want %v", err, got, want)
		}
	}
	e := &Error{Provider: "anthropic", Kind: RateLimited, Status: 429, Type: "rate_limit_error", Err: errors.New("slow down")}
	if got := e.Error(); got != "anthropic rate limited (HTTP 429 rate_limit_error): slow down" {
		t.Errorf("Error() = %q", got)
	}
}
