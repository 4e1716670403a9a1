// Package auth guards the runtime's API with the customer's Bearer API key.
//
// The key is hashed (SHA-256) and the hash looked up among the active keys in
// the customer's own database, so a key of another customer — stored in
// another database — is simply unknown here. The key itself is never logged;
// at most its displayable prefix is.
package auth

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

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

// Require returns middleware that lets a request through only with a valid
// "Authorization: Bearer claw_..." header. Otherwise it answers 401 with a
// WWW-Authenticate challenge, or 503 when the key store cannot be asked.
func Require(check KeyChecker, log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			key, err := apikey.Parse(r.Header.Get("Authorization"))
			switch {
			case errors.Is(err, apikey.ErrMissing):
				unauthorized(w, challenge, "missing api key")
				return
			case err != nil:
				// Malformed input is attacker-controlled: log nothing of it.
				unauthorized(w, invalidChallenge, "malformed api key")
				return
			}
			ok, err := check(r.Context(), apikey.Hash(key))
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
			next.ServeHTTP(w, r)
		})
	}
}

func unauthorized(w http.ResponseWriter, challenge, msg string) {
	w.Header().Set("WWW-Authenticate", challenge)
	respond.Error(w, http.StatusUnauthorized, msg)
}
