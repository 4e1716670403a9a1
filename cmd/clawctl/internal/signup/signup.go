// Package signup sends a correctly signed checkout.session.completed to the
// ingress, follows the provisioning it starts and returns the credentials.
package signup

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"clawdbot.cloud/pkg/stripefixture"
)

// Options describes one signup.
type Options struct {
	IngressURL string
	Secret     string
	Checkout   stripefixture.Checkout
	// Progress, when set, is called once for each step change as it is seen.
	Progress func(Step)
	// Poll is the status polling interval. Default 50ms.
	Poll    time.Duration
	Timeout time.Duration
	Client  *http.Client
}

// Step is one provisioning step as the ingress reports it.
type Step struct {
	Name   string    `json:"name"`
	Status string    `json:"status"`
	At     time.Time `json:"at"`
}

// Status is the ingress's provisioning status document.
type Status struct {
	CheckoutSessionID string `json:"checkout_session_id"`
	Status            string `json:"status"`
	Steps             []Step `json:"steps"`
	InstanceURL       string `json:"instance_url"`
	APIKey            string `json:"api_key"`
	APIKeyRevealed    bool   `json:"api_key_revealed"`
	FailureReason     string `json:"failure_reason"`
}

// Result is a finished signup.
type Result struct {
	Checkout stripefixture.Checkout
	Status   Status
	// Latency runs from the webhook POST to the ready status.
	Latency time.Duration
}

// Run posts the signed event and polls until provisioning is ready or failed.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Poll == 0 {
		o.Poll = 50 * time.Millisecond
	}
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Minute
	}
	o.Checkout.Fill()
	start := time.Now()
	if err := Post(ctx, o.Client, o.IngressURL, o.Secret, stripefixture.CheckoutCompleted(o.Checkout)); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(o.Timeout)
	seen := map[string]bool{}
	for {
		st, err := get(ctx, o.Client, o.IngressURL+"/v1/provisioning/"+o.Checkout.SessionID)
		if err != nil {
			return nil, err
		}
		if st != nil {
			for _, s := range st.Steps {
				k := s.Name + "/" + s.Status
				if !seen[k] && o.Progress != nil {
					o.Progress(s)
				}
				seen[k] = true
			}
			switch st.Status {
			case "ready":
				return &Result{Checkout: o.Checkout, Status: *st, Latency: time.Since(start)}, nil
			case "failed":
				return nil, fmt.Errorf("provisioning failed: %s", st.FailureReason)
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("provisioning not ready after %v", o.Timeout)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(o.Poll):
		}
	}
}

// Post delivers a signed webhook body to the ingress and expects 200.
func Post(ctx context.Context, c *http.Client, ingressURL, secret string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ingressURL+"/webhooks/stripe", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", stripefixture.Sign(body, secret, time.Now()))
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("post webhook: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("webhook answered %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}

// get returns the provisioning status, or nil while the ingress does not
// know the session yet.
func get(ctx context.Context, c *http.Client, url string) (*Status, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("provisioning status: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, nil
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("provisioning status answered %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	var st Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return nil, fmt.Errorf("provisioning status: %w", err)
	}
	return &st, nil
}
