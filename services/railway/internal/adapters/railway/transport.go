package railway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"clawdbot.cloud/pkg/retry"
)

// TokenKind says how a Railway token is presented.
type TokenKind string

// The kinds of Railway tokens. Account and team (workspace) tokens go in
// Authorization: Bearer; project tokens in Project-Access-Token.
const (
	AccountToken TokenKind = "account"
	TeamToken    TokenKind = "team"
	ProjectToken TokenKind = "project"
)

// transport sends the GraphQL requests genqlient builds (it is its
// graphql.Doer): it adds the token, waits for the rate limiter, bounds each
// attempt, and retries what is safe to retry.
//
//   - 429: waits Retry-After (or backoff when absent) and sends again; a wait
//     longer than maxRateWait returns a *RateLimitedError instead.
//   - 5xx, timeouts and network errors: backoff (exponential, full jitter)
//     and again, up to maxAttempts, for idempotent operations. A
//     non-idempotent one (creating a service or a domain, deploying) is
//     retried only when the request surely never reached Railway (the
//     connection could not be made): otherwise the error goes back to the
//     driver, which looks at what exists before creating again.
type transport struct {
	client      *http.Client
	tokenHeader string
	tokenValue  string
	limiter     *Limiter
	clock       Clock
	metrics     *metrics
	// timeout bounds one attempt; maxAttempts bounds the attempts of one
	// request; backoff is the first retry delay, doubling up to maxBackoff.
	timeout, backoff, maxBackoff, maxRateWait time.Duration
	maxAttempts                               int
}

// authHeader returns the header a token of kind is sent in, and its value.
func authHeader(kind TokenKind, token string) (name, value string) {
	if kind == ProjectToken {
		return "Project-Access-Token", token
	}
	return "Authorization", "Bearer " + token
}

// Do sends req, retrying as described on transport.
func (t *transport) Do(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	op := operationFrom(ctx)
	for attempt := 1; ; attempt++ {
		if err := t.limiter.Wait(ctx); err != nil {
			t.metrics.request(op.name, "client_rate_limited")
			return nil, err
		}
		resp, err := t.attempt(req)
		last := attempt >= t.maxAttempts
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			t.metrics.request(op.name, errorOutcome(err))
			if last || !(op.idempotent || neverSent(err)) {
				return nil, fmt.Errorf("railway %s: %w", op.name, err)
			}
			t.metrics.retry(errorOutcome(err))
		case resp.StatusCode == http.StatusTooManyRequests:
			t.metrics.request(op.name, "rate_limited")
			wait, ok := retry.After(resp.Header, t.clock.Now())
			discard(resp)
			if !ok {
				wait = t.backoffFor(attempt)
			}
			if last || wait > t.maxRateWait {
				return nil, &RateLimitedError{RetryAfter: wait, Reason: "Railway answered 429"}
			}
			t.metrics.retry("rate_limited")
			if err := t.clock.Sleep(ctx, wait); err != nil {
				return nil, err
			}
			continue
		case resp.StatusCode >= 500:
			t.metrics.request(op.name, "server_error")
			if last || !op.idempotent {
				return resp, nil // genqlient reports it as an HTTPError
			}
			discard(resp)
			t.metrics.retry("server_error")
		default:
			outcome := "ok"
			if resp.StatusCode >= 400 {
				outcome = "client_error"
			}
			t.metrics.request(op.name, outcome)
			return resp, nil
		}
		if err := t.clock.Sleep(ctx, t.backoffFor(attempt)); err != nil {
			return nil, err
		}
	}
}

// attempt sends one copy of req, with the token and within timeout.
func (t *transport) attempt(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(req.Context(), t.timeout)
	r := req.Clone(ctx)
	if req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			cancel()
			return nil, err
		}
		r.Body = body
	}
	r.Header.Set(t.tokenHeader, t.tokenValue)
	resp, err := t.client.Do(r)
	if err != nil {
		cancel()
		return nil, err
	}
	// The attempt's deadline covers reading the body too; it is released
	// when the caller closes it.
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// backoffFor is the delay after failed attempt n (1-based): equal jitter
// over an exponential ceiling.
func (t *transport) backoffFor(n int) time.Duration {
	return retry.Jitter(retry.Backoff(n, t.backoff, t.maxBackoff))
}

// neverSent reports an error raised before the request could reach the
// server (the connection was never made), so even a non-idempotent request
// is safe to send again.
func neverSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// errorOutcome names a transport error for metrics.
func errorOutcome(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	return "network_error"
}

// discard drains and closes an answer that is not passed on, so the
// connection can be reused.
func discard(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// cancelOnClose releases an attempt's context with its body.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}
