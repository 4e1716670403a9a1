// Package ingressapi is the web app's client of the ingress's HTTP API: the
// provisioning status, the browser-bound key reveal, Stripe Checkout and
// Billing Portal sessions, and (dev mode) signed webhook deliveries.
package ingressapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Client calls one ingress.
type Client struct {
	// BaseURL is the ingress, e.g. http://127.0.0.1:8080.
	BaseURL string
	// InternalToken (INGRESS_INTERNAL_TOKEN) opens the billing portal
	// endpoint, and exempts the web app's provisioning, reveal and checkout
	// calls from the ingress's per-address rate limits: it fronts every
	// customer from one address.
	InternalToken string
	HTTP          *http.Client
}

// Error is a non-2xx answer of the ingress, with its message.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("ingress answered %d: %s", e.Status, e.Message) }

// StatusOf returns the HTTP status of an *Error, or 0.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// Step is one provisioning step.
type Step struct {
	Name         string    `json:"name"`
	Status       string    `json:"status"`
	At           time.Time `json:"at"`
	Compensation bool      `json:"compensation,omitempty"`
}

// Provisioning is the ingress's provisioning status of a signup.
type Provisioning struct {
	Status          string `json:"status"`
	Steps           []Step `json:"steps"`
	InstanceURL     string `json:"instance_url"`
	APIKeyAvailable bool   `json:"api_key_available"`
	APIKeyRevealed  bool   `json:"api_key_revealed"`
	FailureReason   string `json:"failure_reason"`
	CustomerState   string `json:"customer_state"`
}

// ProvisioningChange returns the status of a signup once it differs from
// the one etag names, asking the ingress to wait up to wait for a change
// (If-None-Match with Prefer: wait, whole seconds); unchanged after the
// wait it returns changed false. With etag "" it answers at once. next is
// the ETag of what it returns. An unknown session is an *Error with Status
// 404 (the webhook may not have arrived yet).
func (c *Client) ProvisioningChange(ctx context.Context, checkoutSessionID, etag string, wait time.Duration) (p Provisioning, next string, changed bool, err error) {
	req, err := c.request(ctx, http.MethodGet, "/v1/provisioning/"+url.PathEscape(checkoutSessionID), nil, c.InternalToken)
	if err != nil {
		return p, "", false, err
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
		if s := int(wait / time.Second); s > 0 {
			req.Header.Set("Prefer", fmt.Sprintf("wait=%d", s))
		}
	}
	header, err := c.sendHeader(req, &p)
	switch {
	case StatusOf(err) == http.StatusNotModified:
		return Provisioning{}, etag, false, nil
	case err != nil:
		return p, "", false, err
	}
	return p, header.Get("ETag"), true, nil
}

// Revealed is the one-time answer of a key reveal.
type Revealed struct {
	APIKey      string `json:"api_key"`
	InstanceURL string `json:"instance_url"`
}

// Reveal asks for the signup's API key with the browser's nonce: once.
// Errors: 403 wrong nonce, 409 not ready, 410 already revealed or expired.
func (c *Client) Reveal(ctx context.Context, checkoutSessionID, nonce string) (Revealed, error) {
	var r Revealed
	err := c.do(ctx, http.MethodPost, "/v1/provisioning/"+url.PathEscape(checkoutSessionID)+"/reveal",
		map[string]string{"nonce": nonce}, c.InternalToken, &r)
	return r, err
}

// CheckoutRequest starts a Stripe Checkout Session.
type CheckoutRequest struct {
	Plan       string `json:"plan"`
	Email      string `json:"email"`
	Timezone   string `json:"timezone,omitempty"`
	RevealHash string `json:"reveal_hash"`
}

// Session is a Stripe session to send the browser to.
type Session struct {
	ID  string `json:"id"`
	URL string `json:"url"`
}

// Checkout creates a Checkout Session (503 when the ingress has no Stripe key).
func (c *Client) Checkout(ctx context.Context, req CheckoutRequest) (Session, error) {
	var s Session
	err := c.do(ctx, http.MethodPost, "/v1/checkout", req, c.InternalToken, &s)
	return s, err
}

// BillingPortal creates a Billing Portal session for a customer the caller
// has authenticated.
func (c *Client) BillingPortal(ctx context.Context, customerID string) (Session, error) {
	var s Session
	err := c.do(ctx, http.MethodPost, "/v1/billing-portal", map[string]string{"customer_id": customerID}, c.InternalToken, &s)
	return s, err
}

// PostWebhook delivers a signed Stripe event (dev mode only).
func (c *Client) PostWebhook(ctx context.Context, body []byte, signature string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BaseURL+"/webhooks/stripe", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", signature)
	return c.send(req, nil)
}

func (c *Client) do(ctx context.Context, method, path string, body any, bearer string, out any) error {
	req, err := c.request(ctx, method, path, body, bearer)
	if err != nil {
		return err
	}
	return c.send(req, out)
}

// request is a request to the ingress with body as JSON (nil: none) and
// bearer as its token ("": none).
func (c *Client) request(ctx context.Context, method, path string, body any, bearer string) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return req, nil
}

func (c *Client) send(req *http.Request, out any) error {
	_, err := c.sendHeader(req, out)
	return err
}

// sendHeader is send that also returns the answer's header; a 304 is an
// *Error with Status 304.
func (c *Client) sendHeader(req *http.Request, out any) (http.Header, error) {
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		// The URL may carry a checkout session id: say only what failed.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("ingress %s: %w", req.Method, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("ingress %s: read answer: %w", req.Method, err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(raw, &e)
		if e.Error == "" {
			e.Error = http.StatusText(resp.StatusCode)
		}
		return resp.Header, &Error{Status: resp.StatusCode, Message: e.Error}
	}
	if out == nil {
		return resp.Header, nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return nil, fmt.Errorf("ingress %s: decode answer: %w", req.Method, err)
	}
	return resp.Header, nil
}
