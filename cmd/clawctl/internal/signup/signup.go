// Package signup sends a correctly signed checkout.session.completed to the
// ingress, follows the provisioning it starts and returns the credentials:
// like the web app, it binds the checkout to a fresh nonce
// (metadata.reveal_hash) and reveals the API key with it once ready.
package signup

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
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
	// Nonce reveals the key; a fresh one (NewNonce) when empty. Its hash
	// replaces Checkout.RevealHash.
	Nonce string
	// Progress, when set, is called once for each step change as it is seen.
	Progress func(Step)
	// Poll is the status polling interval against an ingress that does not
	// wait for changes (Prefer: wait); the ingress of this repository
	// answers each change as it happens. Default 50ms.
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

// Status is the ingress's provisioning status document, with the key
// filled in by Run from the reveal (the document itself never carries it).
type Status struct {
	CheckoutSessionID string `json:"checkout_session_id"`
	Status            string `json:"status"`
	Steps             []Step `json:"steps"`
	InstanceURL       string `json:"instance_url"`
	// APIKey is the revealed key (Run fills it in; never in the document).
	APIKey          string `json:"-"`
	APIKeyAvailable bool   `json:"api_key_available"`
	APIKeyRevealed  bool   `json:"api_key_revealed"`
	FailureReason   string `json:"failure_reason"`
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
	if o.Nonce == "" {
		o.Nonce = NewNonce()
	}
	o.Checkout.RevealHash = HashNonce(o.Nonce)
	o.Checkout.Fill()
	start := time.Now()
	if err := Post(ctx, o.Client, o.IngressURL, o.Secret, stripefixture.CheckoutCompleted(o.Checkout)); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(o.Timeout)
	seen := map[string]bool{}
	etag := ""
	for {
		asked := time.Now()
		st, tag, err := get(ctx, o.Client, o.IngressURL+"/v1/provisioning/"+o.Checkout.SessionID, etag, time.Until(deadline))
		if err != nil {
			return nil, err
		}
		// A change is read again at once; the poll interval applies to an
		// ingress that answered without waiting (an unknown session yet,
		// or one that ignores Prefer: wait).
		pause := o.Poll - time.Since(asked)
		if st != nil && tag != etag {
			pause = 0
			etag = tag
		}
		if st != nil && st.Status != "" {
			for _, s := range st.Steps {
				k := s.Name + "/" + s.Status
				if !seen[k] && o.Progress != nil {
					o.Progress(s)
				}
				seen[k] = true
			}
			switch st.Status {
			case "ready":
				latency := time.Since(start)
				key, instanceURL, err := Reveal(ctx, o.Client, o.IngressURL, o.Checkout.SessionID, o.Nonce)
				if err != nil {
					return nil, err
				}
				st.APIKey = key
				if st.InstanceURL == "" {
					st.InstanceURL = instanceURL
				}
				return &Result{Checkout: o.Checkout, Status: *st, Latency: latency}, nil
			case "failed":
				return nil, fmt.Errorf("provisioning failed: %s", st.FailureReason)
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("provisioning not ready after %v", o.Timeout)
		}
		if pause <= 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(pause):
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

// waitFor is how long one status read asks the ingress to wait for a
// change (Prefer: wait, seconds).
const waitFor = 10 * time.Second

// get returns the provisioning status and its ETag, or nil while the
// ingress does not know the session yet. With etag set it asks the ingress
// to answer only when the status differs from it, waiting up to waitFor
// (or left); unchanged, it returns a Status with no fields and etag.
func get(ctx context.Context, c *http.Client, url, etag string, left time.Duration) (*Status, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, "", err
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
		w := min(waitFor, left)
		if c.Timeout > 0 {
			w = min(w, c.Timeout/2) // answered well before the client gives up
		}
		req.Header.Set("Prefer", fmt.Sprintf("wait=%d", max(1, int(w/time.Second))))
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("provisioning status: %w", err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNotFound:
		return nil, "", nil
	case http.StatusNotModified:
		return &Status{}, etag, nil
	case http.StatusOK:
	default:
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, "", fmt.Errorf("provisioning status answered %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	var st Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return nil, "", fmt.Errorf("provisioning status: %w", err)
	}
	return &st, resp.Header.Get("ETag"), nil
}

// NewNonce returns a fresh reveal nonce: 32 random bytes, base64url.
func NewNonce() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// HashNonce is the checkout's metadata.reveal_hash for nonce: its SHA-256
// in lowercase hex.
func HashNonce(nonce string) string {
	sum := sha256.Sum256([]byte(nonce))
	return hex.EncodeToString(sum[:])
}

// Reveal asks the ingress for the API key of a ready signup with the nonce
// its checkout was bound to; it succeeds once per signup.
func Reveal(ctx context.Context, c *http.Client, ingressURL, sessionID, nonce string) (apiKey, instanceURL string, err error) {
	body, err := json.Marshal(map[string]string{"nonce": nonce})
	if err != nil {
		return "", "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		ingressURL+"/v1/provisioning/"+sessionID+"/reveal", bytes.NewReader(body))
	if err != nil {
		return "", "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return "", "", fmt.Errorf("reveal api key: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return "", "", fmt.Errorf("reveal api key: %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	var r struct {
		APIKey      string `json:"api_key"`
		InstanceURL string `json:"instance_url"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return "", "", fmt.Errorf("reveal api key: %w", err)
	}
	if r.APIKey == "" {
		return "", "", errors.New("reveal api key: the answer carries no key")
	}
	return r.APIKey, r.InstanceURL, nil
}
