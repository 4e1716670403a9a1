// Package notify delivers messages to people: a Slack incoming webhook and
// SMTP email. It knows nothing about what the messages mean.
package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"clawdbot.cloud/pkg/retry"
)

// ErrRateLimited is wrapped by a Slack send refused with 429; RetryAfter
// says when to try again.
type ErrRateLimited struct{ RetryAfter time.Duration }

func (e *ErrRateLimited) Error() string {
	return fmt.Sprintf("slack: rate limited, retry after %s", e.RetryAfter)
}

// Slack posts to an incoming webhook.
type Slack struct {
	// URL is the webhook URL. It is a secret: it is never logged.
	URL    string
	Client *http.Client
}

// Send posts text as one message.
func (s *Slack) Send(ctx context.Context, text string) error {
	body, err := json.Marshal(map[string]string{"text": text})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("slack: bad webhook URL")
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.Client.Do(req)
	if err != nil {
		// The error names the URL, which is a secret.
		return fmt.Errorf("slack: request failed: %w", unwrapURL(err))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		d := 30 * time.Second
		if after, ok := retry.After(resp.Header, time.Now()); ok && after > 0 {
			d = after
		}
		return &ErrRateLimited{RetryAfter: d}
	case resp.StatusCode/100 != 2:
		return fmt.Errorf("slack: HTTP %d", resp.StatusCode)
	}
	return nil
}

func unwrapURL(err error) error {
	type unwrapper interface{ Unwrap() error }
	if u, ok := err.(unwrapper); ok && u.Unwrap() != nil {
		return u.Unwrap()
	}
	return err
}
