package ingress_test

import (
	"net/http"
	"strings"
	"testing"

	"clawdbot.cloud/pkg/stripemock"

	"github.com/google/go-cmp/cmp"

	"clawdbot.cloud/pkg/config"
	"clawdbot.cloud/services/ingress"
)

const successURL = "https://app.example/welcome?session_id={CHECKOUT_SESSION_ID}"

// internalToken is the web app's token in these tests.
const internalToken = "internal-token-of-the-web-app-0123456789"

// revealHash is the SHA-256 of "the-browser-nonce-0001", as the web app
// would bind it.
const revealHash = "74f3f16eae4bc04add4cc45efd71ec45d551018b062abcf2b077bcfb77716901"

// startBilling starts an ingress whose Stripe API is stripe-mock, behind a
// recording proxy.
func startBilling(t *testing.T) (*harness, *stripeProxy) {
	t.Helper()
	proxy := newStripeProxy(t, stripemock.Start(t))
	h := startWith(t, map[string]string{
		"STRIPE_SECRET_KEY":         "sk_test_ingress",
		"STRIPE_API_BASE":           proxy.URL,
		"CHECKOUT_SUCCESS_URL":      successURL,
		"CHECKOUT_CANCEL_URL":       "https://app.example/pricing",
		"BILLING_PORTAL_RETURN_URL": "https://app.example/account",
		"STRIPE_PRICE_STARTER":      "price_1Starter",
		"STRIPE_PRICE_PRO":          "price_1Pro",
		"STRIPE_PRICE_TEAM":         "price_1Team",
		"INGRESS_INTERNAL_TOKEN":    internalToken,
	})
	return h, proxy
}

func (h *harness) postJSON(t testing.TB, path, body string) response {
	t.Helper()
	return h.postAuth(t, path, "", body)
}

// postAuth posts body with Authorization: Bearer token ("" = none).
func (h *harness) postAuth(t testing.TB, path, token, body string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return do(t, req)
}

func TestCheckout(t *testing.T) {
	t.Parallel()
	h, stripe := startBilling(t)
	res := h.postJSON(t, "/v1/checkout", `{"plan":"pro","email":"ada@example.com","timezone":"Europe/Paris","reveal_hash":"`+revealHash+`"}`)
	if res.Code != http.StatusOK {
		t.Fatalf("got %d %v", res.Code, res.Body)
	}
	id, _ := res.Body["id"].(string)
	u, _ := res.Body["url"].(string)
	if !strings.HasPrefix(id, "cs_") || !strings.HasPrefix(u, "https://") {
		t.Errorf("session %v", res.Body)
	}
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	calls := stripe.recorded()
	if len(calls) != 1 || calls[0].Method != http.MethodPost || calls[0].Path != "/v1/checkout/sessions" {
		t.Fatalf("Stripe calls %+v", calls)
	}
	if calls[0].Auth != "Bearer sk_test_ingress" {
		t.Errorf("authorization %q", calls[0].Auth)
	}
	want := map[string]string{
		"mode":                                 "subscription",
		"line_items[0][price]":                 "price_1Pro",
		"line_items[0][quantity]":              "1",
		"subscription_data[trial_period_days]": "14",
		"subscription_data[metadata][plan]":    "pro",
		"metadata[plan]":                       "pro",
		"metadata[timezone]":                   "Europe/Paris",
		"metadata[reveal_hash]":                revealHash,
		"customer_email":                       "ada@example.com",
		"success_url":                          successURL,
		"cancel_url":                           "https://app.example/pricing",
	}
	got := map[string]string{}
	for k := range want {
		got[k] = calls[0].Form.Get(k)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("checkout session parameters (-want +got):\n%s", d)
	}

	t.Run("invalid requests", func(t *testing.T) {
		for body, want := range map[string]string{
			`{"plan":"gold","email":"nope"}`:               "plan must be one of starter, pro, team; email",
			`{"plan":"pro"}`:                               "email",
			`{"plan":"pro","email":"a@example.com","x":1}`: "unknown field",
			`not json`: "JSON",
			`{"plan":"pro","email":"a@example.com","reveal_hash":"ABC"}`:                                 "reveal_hash must be",
			`{"plan":"pro","email":"a@example.com","reveal_hash":"` + strings.ToUpper(revealHash) + `"}`: "reveal_hash must be",
			`{"plan":"pro","email":"a@example.com","reveal_hash":"` + revealHash + `0"}`:                 "reveal_hash must be",
			`{"plan":"pro","email":"` + strings.Repeat("a", 20<<10) + `@example.com"}`:                   "larger than",
		} {
			before := len(stripe.recorded())
			res := h.postJSON(t, "/v1/checkout", body)
			wantCode := http.StatusBadRequest
			if want == "larger than" {
				wantCode = http.StatusRequestEntityTooLarge
			}
			if res.Code != wantCode {
				t.Errorf("%.40s: got %d %v, want %d", body, res.Code, res.Body, wantCode)
			}
			if msg, _ := res.Body["error"].(string); !strings.Contains(msg, want) {
				t.Errorf("%.40s: error %q lacks %q", body, msg, want)
			}
			if n := len(stripe.recorded()); n != before {
				t.Errorf("%.40s: an invalid request reached Stripe", body)
			}
		}
		res := h.postJSON(t, "/v1/checkout", `{"plan":"gold","email":"nope"}`)
		if r, _ := res.Body["reasons"].([]any); len(r) != 2 {
			t.Errorf("reasons %v, want both", res.Body["reasons"])
		}
	})

	t.Run("no reveal hash", func(t *testing.T) {
		before := len(stripe.recorded())
		if res := h.postJSON(t, "/v1/checkout", `{"plan":"starter","email":"ada@example.com"}`); res.Code != http.StatusOK {
			t.Fatalf("got %d %v", res.Code, res.Body)
		}
		calls := stripe.recorded()
		if len(calls) != before+1 || calls[before].Form.Has("metadata[reveal_hash]") {
			t.Errorf("a checkout without reveal_hash sent one: %+v", calls[before:])
		}
	})

	t.Run("stripe error", func(t *testing.T) {
		stripe.setFail(true)
		defer stripe.setFail(false)
		res := h.postJSON(t, "/v1/checkout", `{"plan":"team","email":"ada@example.com"}`)
		if res.Code != http.StatusBadGateway {
			t.Fatalf("got %d %v, want 502", res.Code, res.Body)
		}
		if msg, _ := res.Body["error"].(string); !strings.Contains(msg, "No such price") || strings.Contains(msg, "sk_test") {
			t.Errorf("error %q", msg)
		}
	})

	t.Run("wrong method", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, h.base+"/v1/checkout", nil)
		if res := do(t, req); res.Code != http.StatusMethodNotAllowed {
			t.Errorf("GET: %d", res.Code)
		}
	})
}

func TestBillingPortal(t *testing.T) {
	t.Parallel()
	h, stripe := startBilling(t)
	// A customer id is no credential: only the web app's token opens a portal.
	for _, tok := range []string{"", "wrong", internalToken + "x", internalToken[:len(internalToken)-1]} {
		res := h.postAuth(t, "/v1/billing-portal", tok, `{"customer_id":"cus_Portal1"}`)
		if res.Code != http.StatusUnauthorized || res.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("token %q: got %d %v, want 401", tok, res.Code, res.Body)
		}
	}
	if n := len(stripe.recorded()); n != 0 {
		t.Fatalf("unauthenticated requests reached Stripe: %d calls", n)
	}
	res := h.postAuth(t, "/v1/billing-portal", internalToken, `{"customer_id":"cus_Portal1"}`)
	if res.Code != http.StatusOK {
		t.Fatalf("got %d %v", res.Code, res.Body)
	}
	if u, _ := res.Body["url"].(string); !strings.HasPrefix(u, "https://") {
		t.Errorf("url %v", res.Body)
	}
	calls := stripe.recorded()
	if len(calls) != 1 || calls[0].Path != "/v1/billing_portal/sessions" ||
		calls[0].Form.Get("customer") != "cus_Portal1" || calls[0].Form.Get("return_url") != "https://app.example/account" {
		t.Fatalf("Stripe calls %+v", calls)
	}
	for _, body := range []string{`{"customer_id":"acct_1"}`, `{"customer_id":""}`, `{}`, `{"customer_id":"cus_1/../x"}`} {
		if res := h.postAuth(t, "/v1/billing-portal", internalToken, body); res.Code != http.StatusBadRequest {
			t.Errorf("%s: got %d %v, want 400", body, res.Code, res.Body)
		}
	}
	if n := len(stripe.recorded()); n != 1 {
		t.Errorf("invalid requests reached Stripe: %d calls", n)
	}
	stripe.setFail(true)
	if res := h.postAuth(t, "/v1/billing-portal", internalToken, `{"customer_id":"cus_Portal1"}`); res.Code != http.StatusBadGateway {
		t.Errorf("Stripe error: got %d %v, want 502", res.Code, res.Body)
	}
}

// Without a Stripe key both endpoints say what to set; without an internal
// token the portal says so first.
func TestBillingUnconfigured(t *testing.T) {
	t.Parallel()
	h := start(t)
	res := h.postAuth(t, "/v1/billing-portal", internalToken, `{"customer_id":"cus_Portal1"}`)
	if msg, _ := res.Body["error"].(string); res.Code != http.StatusServiceUnavailable || msg != "portal disabled: set INGRESS_INTERNAL_TOKEN" {
		t.Errorf("portal without a token: got %d %q", res.Code, msg)
	}
	h = startWith(t, map[string]string{"INGRESS_INTERNAL_TOKEN": internalToken})
	for _, path := range []string{"/v1/checkout", "/v1/billing-portal"} {
		res := h.postAuth(t, path, internalToken, `{"plan":"pro","email":"ada@example.com"}`)
		msg, _ := res.Body["error"].(string)
		if res.Code != http.StatusServiceUnavailable || !strings.Contains(msg, "STRIPE_SECRET_KEY") || !strings.Contains(msg, "STRIPE_PRICE_PRO") {
			t.Errorf("%s: got %d %q", path, res.Code, msg)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	base := map[string]string{"STRIPE_WEBHOOK_SECRET": "whsec_x"}
	with := func(kv ...string) *config.Loader {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return config.FromMap(m)
	}
	if _, err := ingress.LoadConfig(with()); err != nil {
		t.Fatalf("dev defaults: %v", err)
	}
	_, err := ingress.LoadConfig(with("STRIPE_SECRET_KEY", "sk_test_1", "CHECKOUT_SUCCESS_URL", "https://x/ok",
		"STRIPE_PRICE_PRO", "prod_1", "ADMIN_TOKEN", "short", "INGRESS_INTERNAL_TOKEN", "short", "INGRESS_REVEAL_TTL", "0s"))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"CHECKOUT_CANCEL_URL is required", "{CHECKOUT_SESSION_ID}", "STRIPE_PRICE_STARTER is required",
		"STRIPE_PRICE_TEAM is required", "ADMIN_TOKEN must be at least", "INGRESS_INTERNAL_TOKEN must be at least",
		"INGRESS_REVEAL_TTL must be positive"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	_, err = ingress.LoadConfig(with("STRIPE_SECRET_KEY", "pk_live_1", "CHECKOUT_SUCCESS_URL", successURL, "CHECKOUT_CANCEL_URL", "https://x/no",
		"STRIPE_PRICE_STARTER", "price_S", "STRIPE_PRICE_PRO", "price_P", "STRIPE_PRICE_TEAM", "price_T"))
	if err == nil || !strings.Contains(err.Error(), "STRIPE_SECRET_KEY must be a Stripe secret") {
		t.Errorf("a publishable key, whose mode the webhook checks: %v", err)
	}
	for key, live := range map[string]bool{"": false, "sk_test_1": false, "rk_test_1": false, "sk_live_1": true, "rk_live_1": true} {
		if got := (ingress.Config{StripeSecretKey: key}).LiveMode(); got != live {
			t.Errorf("LiveMode(%q) = %v, want %v", key, got, live)
		}
	}
	_, err = ingress.LoadConfig(with("STRIPE_PRICE_STARTER", "price_same", "STRIPE_PRICE_PRO", "price_same"))
	if err == nil || !strings.Contains(err.Error(), "already serves") {
		t.Errorf("a price for two plans: %v", err)
	}
}
