// Package dashtoken mints and verifies the short-lived tokens the platform's
// web app uses to call a customer's instance on the signed-in customer's
// behalf.
//
// The browser never holds an instance credential: the web app proxies its
// requests server-side and adds a token minted for that one request. A token
// is "clawdash_<expiry unix seconds>_<base64url HMAC-SHA256>" keyed with the
// instance's own instance token (a per-instance secret the compute service
// generates and the platform keeps in its secret store), so a token opens
// exactly one instance, for at most MaxLifetime, and the instance token
// itself never leaves the platform. Verification is in constant time.
package dashtoken

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Prefix starts every dashboard token; it tells tokens from claw_ keys.
const Prefix = "clawdash_"

// MaxLifetime bounds how far in the future a token may expire. A token that
// claims more was not minted by the platform and is refused.
const MaxLifetime = 10 * time.Minute

// Errors of Verify. None carries any part of the token.
var (
	// ErrMalformed is a value that is not shaped like a token.
	ErrMalformed = errors.New("dashtoken: malformed token")
	// ErrExpired is a token past its expiry, or one that claims a lifetime
	// longer than MaxLifetime.
	ErrExpired = errors.New("dashtoken: token expired")
	// ErrInvalid is a token whose signature does not verify.
	ErrInvalid = errors.New("dashtoken: invalid signature")
)

// Mint returns a token for the instance whose instance token is secret,
// valid until exp (which should be at most MaxLifetime away).
func Mint(secret string, exp time.Time) string {
	e := strconv.FormatInt(exp.Unix(), 10)
	return Prefix + e + "_" + base64.RawURLEncoding.EncodeToString(sign(secret, e))
}

// Verify checks token against the instance's secret at time now.
func Verify(secret, token string, now time.Time) error {
	if secret == "" {
		return ErrInvalid
	}
	rest, ok := strings.CutPrefix(token, Prefix)
	if !ok {
		return ErrMalformed
	}
	e, sig, ok := strings.Cut(rest, "_")
	if !ok || len(e) == 0 || len(e) > 12 {
		return ErrMalformed
	}
	exp, err := strconv.ParseInt(e, 10, 64)
	if err != nil {
		return ErrMalformed
	}
	got, err := base64.RawURLEncoding.Strict().DecodeString(sig)
	if err != nil || len(got) != sha256.Size {
		return ErrMalformed
	}
	if !hmac.Equal(got, sign(secret, e)) {
		return ErrInvalid
	}
	at := time.Unix(exp, 0)
	if !now.Before(at) || at.Sub(now) > MaxLifetime {
		return ErrExpired
	}
	return nil
}

// Is reports whether an Authorization header carries a dashboard token
// (rather than an API key), without judging it.
func Is(authorizationHeader string) bool {
	scheme, token, ok := strings.Cut(strings.TrimSpace(authorizationHeader), " ")
	return ok && strings.EqualFold(scheme, "Bearer") && strings.HasPrefix(strings.TrimSpace(token), Prefix)
}

// FromHeader returns the token of a "Bearer clawdash_…" header, or "".
func FromHeader(authorizationHeader string) string {
	if !Is(authorizationHeader) {
		return ""
	}
	_, token, _ := strings.Cut(strings.TrimSpace(authorizationHeader), " ")
	return strings.TrimSpace(token)
}

func sign(secret, exp string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("clawdash\n" + exp))
	return m.Sum(nil)
}
