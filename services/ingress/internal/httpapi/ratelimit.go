package httpapi

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"

	"clawdbot.cloud/services/ingress/internal/ratelimit"
)

// RateLimits are the per-client limits of the public endpoints; a nil
// limiter leaves its endpoint unlimited. Stripe's webhooks (which retry
// what they are refused, and come from Stripe's few addresses) and the
// token-guarded endpoints (admin, billing portal) are not limited here.
type RateLimits struct {
	// Checkout limits POST /v1/checkout: each one creates a Stripe session.
	Checkout *ratelimit.Limiter
	// Provisioning limits GET /v1/provisioning/{id}.
	Provisioning *ratelimit.Limiter
	// Reveal limits POST /v1/provisioning/{id}/reveal.
	Reveal *ratelimit.Limiter
	// TrustedProxies are the peers whose X-Forwarded-For names the client
	// (the TLS proxy in front of the ingress); see ratelimit.ClientKey.
	TrustedProxies []netip.Prefix
}

// limited wraps next in l's per-client limit: over it, 429 with Retry-After
// and {"error": ...}, counted by route. Requests bearing the internal token
// pass: they come from the platform's web app, one address fronting every
// customer, which limits its own visitors.
func limited(d Deps, route string, l *ratelimit.Limiter, next http.Handler) http.Handler {
	if l == nil {
		return next
	}
	var internal []byte
	if d.InternalToken != "" {
		sum := sha256.Sum256([]byte(d.InternalToken))
		internal = sum[:]
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if internal != nil && bearerMatches(r, internal) {
			next.ServeHTTP(w, r)
			return
		}
		ok, wait := l.Allow(ratelimit.ClientKey(r, d.RateLimits.TrustedProxies))
		if !ok {
			secs := ratelimit.RetryAfterSeconds(wait)
			d.Metrics.rateLimited.WithLabelValues(route).Inc()
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			w.Header().Set("Cache-Control", "no-store")
			writeError(w, http.StatusTooManyRequests, fmt.Sprintf("too many requests from this address; retry after %d s", secs))
			return
		}
		next.ServeHTTP(w, r)
	})
}
