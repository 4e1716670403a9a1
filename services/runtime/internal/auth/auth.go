// Package auth guards the runtime's API with the customer's Bearer API key
// or a dashboard token the platform's web app minted (pkg/dashtoken), and
// /status also with the platform's instance token.
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
// A dashboard token is an HMAC of its expiry keyed with the instance token:
// the web app, which holds the instance token in the platform's secret
// store, mints one per proxied request for the signed-in customer, so the
// browser never holds a long-lived credential. Without an instance token no
// dashboard token verifies.
//
// No secret is ever logged; at most a key's displayable prefix is.
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
	"time"

	"clawdbot.cloud/pkg/apikey"
	"clawdbot.cloud/pkg/dashtoken"
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

// DashboardIdentity is the Identity of a request made with a dashboard
// token (the customer, through the platform's web app).
const DashboardIdentity = "dashboard"

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
	return Guard(Options{Check: check, Log: log})
}

// RequireKeyOrToken is Require that also admits "Authorization: Bearer
// <instanceToken>" (when instanceToken is not empty): the platform reading
// /status. Use it on /status only.
func RequireKeyOrToken(check KeyChecker, instanceToken string, log *slog.Logger) func(http.Handler) http.Handler {
	return Guard(Options{Check: check, InstanceToken: instanceToken, AdmitInstance: true, Log: log})
}

// Options configure Guard.
type Options struct {
	// Check looks API keys up.
	Check KeyChecker
	// InstanceToken is the instance's platform secret; empty disables both
	// the instance token and dashboard tokens.
	InstanceToken string
	// AdmitInstance admits the instance token itself (only /status).
	AdmitInstance bool
	// Log receives refusals (never a credential).
	Log *slog.Logger
	// Now is the clock dashboard tokens are checked against; time.Now if nil.
	Now func() time.Time
}

// Guard returns middleware that admits an active API key or a valid
// dashboard token (and, with AdmitInstance, the instance token). Otherwise
// it answers 401 with a WWW-Authenticate challenge, or 503 when the key
// store cannot be asked.
func Guard(o Options) func(http.Handler) http.Handler {
	var tokenSum []byte
	if o.InstanceToken != "" && o.AdmitInstance {
		s := sha256.Sum256([]byte(o.InstanceToken))
		tokenSum = s[:]
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	check, log := o.Check, o.Log
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			header := r.Header.Get("Authorization")
			if tokenSum != nil && isToken(header, tokenSum) {
				next.ServeHTTP(w, r.WithContext(WithIdentity(r.Context(), InstanceIdentity)))
				return
			}
			if tok := dashtoken.FromHeader(header); tok != "" {
				if err := dashtoken.Verify(o.InstanceToken, tok, o.Now()); err != nil {
					log.InfoContext(r.Context(), "refused dashboard token", "reason", err)
					unauthorized(w, invalidChallenge, "invalid or expired dashboard token")
					return
				}
				next.ServeHTTP(w, r.WithContext(WithIdentity(r.Context(), DashboardIdentity)))
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

// RequireInstance returns middleware that admits only "Authorization:
// Bearer <instanceToken>": the platform itself, for what only the platform
// may do (the workspace service's delivery). An API key or a dashboard
// token is refused like no credential at all, with 401.
func RequireInstance(instanceToken string) func(http.Handler) http.Handler {
	sum := sha256.Sum256([]byte(instanceToken))
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if instanceToken == "" || !isToken(r.Header.Get("Authorization"), sum[:]) {
				unauthorized(w, challenge, "this endpoint takes the instance token")
				return
			}
			next.ServeHTTP(w, r.WithContext(WithIdentity(r.Context(), InstanceIdentity)))
		})
	}
}
