package main

import (
	"context"
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
		if err := runStripe(context.Background(), args); err != nil {
			t.Fatalf("%s: %v", event, err)
		}
		mu.Lock()
		last := got[len(got)-1]
		mu.Unlock()
		if last != typ {
			t.Errorf("%s sent %s, want %s", event, last, typ)
		}
	}
	if err := runStripe(context.Background(), []string{"cancel", "--url", srv.URL}); err == nil {
		t.Error("an event without --customer was sent")
	}
	if err := runStripe(context.Background(), []string{"refund", "--customer", "c", "--subscription", "s", "--url", srv.URL}); err == nil {
		t.Error("an unknown event was accepted")
	}
}
