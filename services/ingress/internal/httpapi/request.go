package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/ingress/internal/billing"
	"clawdbot.cloud/services/ingress/internal/stripeevent"
)

// maxRequest bounds the JSON body of an API request.
const maxRequest = 16 << 10

// readBody reads a request body of at most maxRequest bytes. It answers the
// request itself (413, 400) and returns false when the body is unusable.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequest))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			w.Header().Set("Connection", "close")
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", maxRequest))
			return nil, false
		}
		writeError(w, http.StatusBadRequest, "cannot read body")
		return nil, false
	}
	return body, true
}

// decodeStrict decodes one JSON object with only known fields into v.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("body is not the expected JSON object: %v", err)
	}
	if dec.More() {
		return errors.New("body has data after the JSON object")
	}
	return nil
}

// checkoutBody is POST /v1/checkout's request.
type checkoutBody struct {
	Plan  string `json:"plan"`
	Email string `json:"email"`
	// Timezone (optional) is the customer's IANA zone, for their workspace.
	Timezone string `json:"timezone"`
	// RevealHash (optional) is the lowercase hex SHA-256 of a nonce the
	// starting browser holds: only that nonce can reveal the API key.
	RevealHash string `json:"reveal_hash"`
}

// parseCheckout validates a checkout request, returning every reason it is
// refused.
func parseCheckout(body []byte) (billing.CheckoutRequest, []string) {
	var b checkoutBody
	if err := decodeStrict(body, &b); err != nil {
		return billing.CheckoutRequest{}, []string{err.Error()}
	}
	var reasons []string
	plan, err := plans.Lookup(b.Plan)
	if err != nil {
		ids := []string{}
		for _, p := range plans.All() {
			ids = append(ids, p.ID)
		}
		reasons = append(reasons, fmt.Sprintf("plan must be one of %s", strings.Join(ids, ", ")))
	}
	if !validEmail(b.Email) {
		reasons = append(reasons, "email must be a plain address like ada@example.com")
	}
	if b.Timezone != "" && !validTimezone(b.Timezone) {
		reasons = append(reasons, "timezone must be an IANA zone like Europe/Paris")
	}
	if b.RevealHash != "" && !stripeevent.ValidRevealHash(b.RevealHash) {
		reasons = append(reasons, "reveal_hash must be the SHA-256 of the browser's nonce as 64 lowercase hex digits")
	}
	if reasons != nil {
		return billing.CheckoutRequest{}, reasons
	}
	return billing.CheckoutRequest{Plan: plan, Email: b.Email, Timezone: b.Timezone, RevealHash: b.RevealHash}, nil
}

// validEmail accepts a bare address (no display name), as Stripe does.
func validEmail(s string) bool {
	if s == "" || len(s) > 254 || !utf8.ValidString(s) || strings.ContainsAny(s, " \t\r\n<>") {
		return false
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && a.Name == ""
}

func validTimezone(tz string) bool {
	if len(tz) > 64 || tz == "Local" || strings.Contains(tz, "..") || strings.HasPrefix(tz, "/") {
		return false
	}
	_, err := time.LoadLocation(tz)
	return err == nil
}

// portalBody is POST /v1/billing-portal's request.
type portalBody struct {
	CustomerID string `json:"customer_id"`
}

// parsePortal validates a billing-portal request.
func parsePortal(body []byte) (string, []string) {
	var b portalBody
	if err := decodeStrict(body, &b); err != nil {
		return "", []string{err.Error()}
	}
	if !stripeevent.ValidCustomerID(b.CustomerID) {
		return "", []string{"customer_id must be a Stripe customer id (cus_...)"}
	}
	return b.CustomerID, nil
}

// revealBody is POST /v1/provisioning/{id}/reveal's request.
type revealBody struct {
	Nonce string `json:"nonce"`
}

// Nonce lengths accepted by the reveal: 16 characters of base64url carry 96
// bits; 128 leaves room for any sensible encoding.
const (
	minNonce = 16
	maxNonce = 128
)

// parseReveal validates a reveal request and returns its nonce.
func parseReveal(body []byte) (string, []string) {
	var b revealBody
	if err := decodeStrict(body, &b); err != nil {
		return "", []string{err.Error()}
	}
	if !validNonce(b.Nonce) {
		return "", []string{fmt.Sprintf("nonce must be %d to %d characters of A-Z, a-z, 0-9, - and _", minNonce, maxNonce)}
	}
	return b.Nonce, nil
}

// validNonce accepts the base64url alphabet (which holds hex).
func validNonce(s string) bool {
	if len(s) < minNonce || len(s) > maxNonce {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
