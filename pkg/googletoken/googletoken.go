// Package googletoken seals a customer's Google OAuth tokens for their
// database and revokes grants at Google. The runtime (which uses the
// tokens) and the workspace service (which revokes them when the customer
// cancels) share it, so both derive the same key from the instance token.
package googletoken

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"clawdbot.cloud/pkg/seal"
)

// hkdfInfo names what the derived key is for, so the instance secret's
// other uses (dashboard tokens, /status) never share a key with this one.
const hkdfInfo = "clawdbot google tokens v1"

// Sealer encrypts the Google tokens for the customer's database (pkg/seal:
// AES-256-GCM under a key derived from the instance's secret), with the
// token's kind as associated data (an access token's ciphertext copied into
// the refresh column does not open).
type Sealer struct {
	s *seal.Sealer
}

// ErrUnsealed is a ciphertext that does not open with this instance's key:
// the instance secret changed, or the data was tampered with.
var ErrUnsealed = errors.New("google tokens do not open with this instance's key (reconnect Google)")

// NewSealer derives the key from secret, the instance token (at least 32
// characters of randomness, config.MinInstanceTokenLen).
func NewSealer(secret string) (*Sealer, error) {
	s, err := seal.New(secret, hkdfInfo)
	if err != nil {
		return nil, fmt.Errorf("googletoken: %w", err)
	}
	return &Sealer{s: s}, nil
}

// Seal encrypts plain, bound to kind ("access", "refresh").
func (s *Sealer) Seal(kind, plain string) []byte { return s.s.Seal(kind, plain) }

// Open decrypts what Seal made for kind.
func (s *Sealer) Open(kind string, sealed []byte) (string, error) {
	plain, err := s.s.Open(kind, sealed)
	if err != nil {
		return "", ErrUnsealed
	}
	return plain, nil
}

// DefaultOAuthBaseURL is Google's OAuth host: /token and /revoke.
const DefaultOAuthBaseURL = "https://oauth2.googleapis.com"

// Revoke revokes the grant of token (an access or refresh token) at
// baseURL+"/revoke" (DefaultOAuthBaseURL when empty). A token Google no
// longer knows (already revoked or expired) counts as revoked.
func Revoke(ctx context.Context, hc *http.Client, baseURL, token string) error {
	if baseURL == "" {
		baseURL = DefaultOAuthBaseURL
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(baseURL, "/")+"/revoke",
		strings.NewReader(url.Values{"token": {token}}.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := hc.Do(req)
	if err != nil {
		// The URL holds no secret (the token is in the body).
		return fmt.Errorf("revoke at google: %w", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 4<<10))
	if res.StatusCode == http.StatusOK || (res.StatusCode == http.StatusBadRequest && bytes.Contains(body, []byte("invalid_token"))) {
		return nil
	}
	return fmt.Errorf("revoke at google: %s", res.Status)
}
