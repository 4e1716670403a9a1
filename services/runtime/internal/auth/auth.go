// Package auth guards the runtime's API with the customer's Bearer API key,
// and /status also with the platform's instance token.
//
// A key is hashed (SHA-256) and the hash looked up among the active keys in
// the customer's own database, so a key of another customer — stored in
// another database — is simply unknown here. Comparing hashes rather than
// keys is what makes the check safe against timing: the database's
// comparison may stop at the first differing byte, but that byte belongs to
// a SHA-256 digest, and learning digest prefixes does not help to find a
// 256-bit key. The instance token is held in memory and compared in
// constant time (crypto/subtle, on digests of equal length).
//
// Neither secret is ever logged; at most a key's displayable prefix is.
package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"clawdbot.cloud/pkg/apikey"
	"clawdbot.cloud/services/runtime/internal/respond"
)

// KeyChecker reports whether hash is the SHA-256 hash of an active API key.
type KeyChecker func(ctx context.Context, hash []byte) (bool, error)

// challenge is the WWW-Authenticate value of a request without credentials
// (RFC 6750 §3); invalidChallenge adds the reason for bad credentials.
const (
	challenge        = `Bearer realm="clawdbot"`
	invalidChallenge = `Bearer realm="clawdbot", error="invalid_token"`
)

// InstanceIdentity is the Identity of a request made with the instance
// token.
const InstanceIdentity = "instance"

type identityKey struct{}

// Identity returns who made an authenticated request: "key:" and the first
// 16 hex digits of the key's hash, or InstanceIdentity. It is what rate
// limits are kept per, and safe to log.
func Identity(ctx context.Context) string {
	id, _ := ctx.Value(identityKey{}).(string)
	return id
}

// WithIdentity returns ctx carrying id as the request's Identity (tests).
func WithIdentity(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// Require returns middleware that lets a request through only with a valid
// "Authorization: Bearer claw_..." header. Otherwise it answers 401 with a
// WWW-Authenticate challenge, or 503 when the key store cannot be asked.
func Require(check KeyChecker, log *slog.Logger) func(http.Handler) http.Handler {
	return RequireKeyOrToken(check, "", log)
}

// RequireKeyOrToken is Require that also admits "Authorization: Bearer
// <instanceToken>" (when instanceToken is not empty): the platform reading
// /status. Use it on /status only.
func RequireKeyOrToken(check KeyChecker, instanceToken string, log *slog.Logger) func(http.Handler) http.Handler {
	var tokenSum []byte
	if instanceToken != "" {
		s := sha256.Sum256([]byte(instanceToken))
		tokenSum = s[:]
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			header := r.Header.Get("Authorization")
			if tokenSum != nil && isToken(header, tokenSum) {
				next.ServeHTTP(w, r.WithContext(WithIdentity(r.Context(), InstanceIdentity)))
				return
			}
			key, err := apikey.Parse(header)
			switch {
			case errors.Is(err, apikey.ErrMissing):
				unauthorized(w, challenge, "missing api key")
				return
			case err != nil:
				// Malformed input is attacker-controlled: log nothing of it.
				unauthorized(w, invalidChallenge, "malformed api key")
				return
			}
			hash := apikey.Hash(key)
			ok, err := check(r.Context(), hash)
			if err != nil {
				log.ErrorContext(r.Context(), "check api key", "key_prefix", apikey.Prefix(key), "err", err)
				respond.Error(w, http.StatusServiceUnavailable, "cannot verify api key, try again")
				return
			}
			if !ok {
				log.InfoContext(r.Context(), "unknown or revoked api key", "key_prefix", apikey.Prefix(key))
				unauthorized(w, invalidChallenge, "invalid api key")
				return
			}
			id := "key:" + hex.EncodeToString(hash[:8])
			next.ServeHTTP(w, r.WithContext(WithIdentity(r.Context(), id)))
		})
	}
}

// isToken reports, in time independent of the token's content, whether the
// header is "Bearer <the token whose SHA-256 is sum>".
func isToken(header string, sum []byte) bool {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return subtle.ConstantTimeCompare(got[:], sum) == 1
}

func unauthorized(w http.ResponseWriter, challenge, msg string) {
	w.Header().Set("WWW-Authenticate", challenge)
	respond.Error(w, http.StatusUnauthorized, msg)
}
