package ingress

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"clawdbot.cloud/pkg/config"
	"clawdbot.cloud/services/ingress/internal/httpapi"
	"clawdbot.cloud/services/ingress/internal/ratelimit"
)

// Limit is one per-client rate limit: N requests per Per, in bursts of up
// to N. The zero Limit is off.
type Limit struct {
	N   int
	Per time.Duration
}

// Off reports whether the limit is disabled.
func (l Limit) Off() bool { return l.N == 0 }

// Limits are the per-client limits of the public endpoints.
type Limits struct {
	// Checkout (INGRESS_RATELIMIT_CHECKOUT, default 10/1m) limits POST
	// /v1/checkout: each request creates a Stripe session.
	Checkout Limit
	// Provisioning (INGRESS_RATELIMIT_PROVISIONING, default 120/1m) limits
	// GET /v1/provisioning/{id}, which a success page polls every second or so.
	Provisioning Limit
	// Reveal (INGRESS_RATELIMIT_REVEAL, default 10/1m) limits POST
	// /v1/provisioning/{id}/reveal.
	Reveal Limit
	// Clients (INGRESS_RATELIMIT_CLIENTS, default 100000) bounds the
	// addresses each limit tracks (about 200 bytes each).
	Clients int
	// TrustedProxies (INGRESS_TRUSTED_PROXIES, comma-separated addresses or
	// CIDRs, default none) are the proxies whose X-Forwarded-For names the
	// client. Without them, behind a proxy, every client is the proxy.
	TrustedProxies []netip.Prefix
}

// loadLimits reads the Limits, reporting problems to l.
func loadLimits(l *config.Loader) Limits {
	lim := Limits{
		Checkout:     rateSetting(l, "INGRESS_RATELIMIT_CHECKOUT", "10/1m"),
		Provisioning: rateSetting(l, "INGRESS_RATELIMIT_PROVISIONING", "120/1m"),
		Reveal:       rateSetting(l, "INGRESS_RATELIMIT_REVEAL", "10/1m"),
		Clients:      l.Int("INGRESS_RATELIMIT_CLIENTS", 100_000),
	}
	if lim.Clients < 1 {
		l.Problem("INGRESS_RATELIMIT_CLIENTS must be at least 1")
	}
	for _, s := range strings.Split(l.String("INGRESS_TRUSTED_PROXIES", ""), ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				l.Problem("INGRESS_TRUSTED_PROXIES: %q is neither an address nor a CIDR", s)
				continue
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		lim.TrustedProxies = append(lim.TrustedProxies, p.Masked())
	}
	return lim
}

// rateSetting reads key as "N/duration" (10/1m, 5/1s) or "off".
func rateSetting(l *config.Loader, key, def string) Limit {
	v := l.String(key, def)
	if v == "off" {
		return Limit{}
	}
	n, per, ok := strings.Cut(v, "/")
	count, err := strconv.Atoi(n)
	d, derr := time.ParseDuration(per)
	if !ok || err != nil || derr != nil || count < 1 || d <= 0 || d/time.Duration(count) <= 0 {
		l.Problem("%s must be N/duration (e.g. %s) or off, not %q", key, def, v)
		return Limit{}
	}
	return Limit{N: count, Per: d}
}

// limiters builds the handlers' limiters from lim (nil for limits that are off).
func (lim Limits) limiters(now func() time.Time) httpapi.RateLimits {
	build := func(l Limit) *ratelimit.Limiter {
		if l.Off() {
			return nil
		}
		return ratelimit.New(l.N, l.Per, lim.Clients, now)
	}
	return httpapi.RateLimits{
		Checkout: build(lim.Checkout), Provisioning: build(lim.Provisioning), Reveal: build(lim.Reveal),
		TrustedProxies: lim.TrustedProxies,
	}
}
