package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stripe/stripe-go/v76/webhook"
)

// Every lifecycle event clawctl sends is signed as Stripe signs and carries
// the event type the ingress maps.
func TestStripeEventsAreSignedLikeStripe(t *testing.T) {
	const secret = "whsec_test_clawctl"
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ev, err := webhook.ConstructEventWithOptions(body, r.Header.Get("Stripe-Signature"), secret, webhook.ConstructEventOptions{})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, string(ev.Type))
		mu.Unlock()
	}))
	defer srv.Close()
	want := map[string]string{
		"plan-change":       "customer.subscription.updated",
		"trial-ending":      "customer.subscription.trial_will_end",
		"payment-failed":    "invoice.payment_failed",
		"payment-succeeded": "invoice.paid",
		"cancel":            "customer.subscription.deleted",
	}
	for event, typ := range want {
		args := []string{event, "--customer", "cus_T", "--subscription", "sub_T", "--url", srv.URL, "--secret", secret, "--plan", "pro"}
		if _, stderr, code := runCLI(t, "", false, append([]string{"stripe"}, args...)...); code != 0 {
			t.Fatalf("%s: exit %d: %s", event, code, stderr)
		}
		mu.Lock()
		last := got[len(got)-1]
		mu.Unlock()
		if last != typ {
			t.Errorf("%s sent %s, want %s", event, last, typ)
		}
	}
	n := len(got)
	if _, _, code := runCLI(t, "", false, "stripe", "cancel", "--url", srv.URL); code != 2 {
		t.Errorf("an event without --customer: exit %d", code)
	}
	if _, _, code := runCLI(t, "", false, "stripe", "refund", "--customer", "c", "--subscription", "s", "--url", srv.URL); code != 2 {
		t.Errorf("an unknown event: exit %d", code)
	}
	out, _, code := runCLI(t, "", false, "stripe", "--customer", "cus_T", "--subscription", "sub_T", "--url", srv.URL, "--secret", secret, "--json", "cancel")
	if code != 0 || !json.Valid([]byte(out)) {
		t.Errorf("stripe --json: exit %d, %q", code, out)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != n+1 {
		t.Errorf("%d events sent after the refused ones, want 1", len(got)-n)
	}
}
