package ingress_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"clawdbot.cloud/pkg/config"
	"clawdbot.cloud/pkg/servicetest"
	"clawdbot.cloud/services/ingress"
)

// send makes one request from the client that X-Forwarded-For names (the
// harness's loopback peer is a trusted proxy), with an optional bearer.
func (h *harness) send(t *testing.T, method, path, body, forwardedFor, bearer string) response {
	t.Helper()
	req, err := http.NewRequest(method, h.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if forwardedFor != "" {
		req.Header.Set("X-Forwarded-For", forwardedFor)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return do(t, req)
}

// TestRateLimits: each public endpoint answers 429 with Retry-After once a
// client address has used its burst, counted by route; other clients, the
// web app (internal token), Stripe's webhooks and the admin endpoints are
// not held back by it, and a spoofed X-Forwarded-For prefix changes nothing.
func TestRateLimits(t *testing.T) {
	h := startWith(t, map[string]string{
		"INGRESS_RATELIMIT_CHECKOUT":     "2/1m",
		"INGRESS_RATELIMIT_PROVISIONING": "3/1m",
		"INGRESS_RATELIMIT_REVEAL":       "2/1m",
		"INGRESS_TRUSTED_PROXIES":        "127.0.0.1, ::1",
		"INGRESS_INTERNAL_TOKEN":         internalToken,
	})
	const alice, bob = "203.0.113.1", "203.0.113.2"
	endpoints := []struct {
		route, method, path, body string
		burst, code               int
	}{
		{"GET /v1/provisioning/{checkout_session_id}", http.MethodGet, "/v1/provisioning/cs_test_limited01", "", 3, http.StatusNotFound},
		{"POST /v1/provisioning/{checkout_session_id}/reveal", http.MethodPost, "/v1/provisioning/cs_test_limited01/reveal",
			`{"nonce":"the-browser-nonce-0001"}`, 2, http.StatusNotFound},
		{"POST /v1/checkout", http.MethodPost, "/v1/checkout", `{"plan":"pro","email":"a@example.com"}`, 2, http.StatusServiceUnavailable},
	}
	for _, e := range endpoints {
		t.Run(e.route, func(t *testing.T) {
			for i := range e.burst {
				if res := h.send(t, e.method, e.path, e.body, alice, ""); res.Code != e.code {
					t.Fatalf("request %d within the burst: %d %v, want %d", i+1, res.Code, res.Body, e.code)
				}
			}
			res := h.send(t, e.method, e.path, e.body, alice, "")
			secs, _ := strconv.Atoi(res.Header.Get("Retry-After"))
			if msg, _ := res.Body["error"].(string); res.Code != http.StatusTooManyRequests || secs < 1 || secs > 60 ||
				!strings.Contains(msg, "too many requests") {
				t.Fatalf("over the burst: %d Retry-After %q %v, want 429 with Retry-After", res.Code, res.Header.Get("Retry-After"), res.Body)
			}
			if res := h.send(t, e.method, e.path, e.body, "198.51.100.7, "+alice, ""); res.Code != http.StatusTooManyRequests {
				t.Errorf("a spoofed X-Forwarded-For prefix got %d, want 429", res.Code)
			}
			if n := servicetest.Counter(t, h.env.Metrics, "claw_ingress_rate_limited_total", map[string]string{"route": e.route}); n != 2 {
				t.Errorf("rate limited counter = %v, want 2", n)
			}
			if res := h.send(t, e.method, e.path, e.body, bob, ""); res.Code != e.code {
				t.Errorf("another client: %d, want %d", res.Code, e.code)
			}
			if res := h.send(t, e.method, e.path, e.body, alice, internalToken); res.Code != e.code {
				t.Errorf("the web app (internal token) for a limited address: %d, want %d", res.Code, e.code)
			}
		})
	}

	// Stripe and operators are not limited by address.
	for i := range 10 {
		if res := h.send(t, http.MethodPost, "/webhooks/stripe", `{}`, alice, ""); res.Code != http.StatusBadRequest {
			t.Fatalf("webhook %d: %d, want 400 (unsigned), never 429", i, res.Code)
		}
		if res := h.send(t, http.MethodGet, "/v1/admin/sagas", "", alice, ""); res.Code != http.StatusServiceUnavailable {
			t.Fatalf("admin %d: %d, want 503 (admin disabled), never 429", i, res.Code)
		}
	}
}

// TestRateLimitSettings: malformed limits and proxies are configuration
// errors, reported together; "off" disables a limit.
func TestRateLimitSettings(t *testing.T) {
	_, err := ingress.LoadConfig(config.FromMap(map[string]string{
		"STRIPE_WEBHOOK_SECRET":          "whsec_x",
		"INGRESS_RATELIMIT_CHECKOUT":     "ten per minute",
		"INGRESS_RATELIMIT_PROVISIONING": "0/1m",
		"INGRESS_RATELIMIT_REVEAL":       "5/-1s",
		"INGRESS_RATELIMIT_CLIENTS":      "0",
		"INGRESS_TRUSTED_PROXIES":        "10.0.0.0/8, proxy.internal",
	}))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"INGRESS_RATELIMIT_CHECKOUT must be", "INGRESS_RATELIMIT_PROVISIONING must be",
		"INGRESS_RATELIMIT_REVEAL must be", "INGRESS_RATELIMIT_CLIENTS must be", `"proxy.internal"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	c, err := ingress.LoadConfig(config.FromMap(map[string]string{"STRIPE_WEBHOOK_SECRET": "whsec_x", "INGRESS_RATELIMIT_REVEAL": "off"}))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Limits.Reveal.Off() || c.Limits.Checkout != (ingress.Limit{N: 10, Per: 60e9}) || c.Limits.Provisioning.N != 120 {
		t.Errorf("limits %+v", c.Limits)
	}
}
