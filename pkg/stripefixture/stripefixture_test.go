package stripefixture_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/pkg/stripefixture"
)

// Every builder's event verifies with stripe-go under the pinned API
// version and carries the object and fields the ingress reads.
func TestBuildersVerify(t *testing.T) {
	const secret = "whsec_fixture"
	at := time.Unix(1_760_000_000, 0)
	sub := stripefixture.Subscription{SubscriptionID: "sub_F1", CustomerID: "cus_F1", Plan: plans.Team, PreviousPlan: plans.Pro, Created: at}
	inv := stripefixture.Invoice{InvoiceID: "in_F1", SubscriptionID: "sub_F1", CustomerID: "cus_F1", AttemptCount: 2,
		NextPaymentAttempt: at.Add(72 * time.Hour), Created: at}
	tests := []struct {
		name, typ, object string
		body              []byte
		check             func(t *testing.T, e stripe.Event)
	}{
		{"checkout", "checkout.session.completed", "checkout.session",
			stripefixture.CheckoutCompleted(stripefixture.Checkout{Plan: "pro", Email: "a@example.com"}),
			func(t *testing.T, e stripe.Event) {
				var s stripe.CheckoutSession
				if err := json.Unmarshal(e.Data.Raw, &s); err != nil {
					t.Fatal(err)
				}
				if s.LineItems == nil || len(s.LineItems.Data) != 1 || s.LineItems.Data[0].Price.ID != plans.DevPriceID(plans.Pro) {
					t.Errorf("line items %+v, want one at the dev price of pro", s.LineItems)
				}
				if s.Metadata["plan"] != "pro" || e.Livemode || s.Livemode {
					t.Errorf("metadata %v livemode %v/%v", s.Metadata, e.Livemode, s.Livemode)
				}
			}},
		{"live checkout at a lookup key", "checkout.session.completed", "checkout.session",
			stripefixture.CheckoutCompleted(stripefixture.Checkout{Plan: "pro", PriceID: "price_1X", LookupKey: plans.LookupKey(plans.Pro), MetadataPlan: "-", Livemode: true}),
			func(t *testing.T, e stripe.Event) {
				var s stripe.CheckoutSession
				if err := json.Unmarshal(e.Data.Raw, &s); err != nil {
					t.Fatal(err)
				}
				if p := s.LineItems.Data[0].Price; p.ID != "price_1X" || p.LookupKey != "clawdbot_pro" {
					t.Errorf("price %+v", p)
				}
				if _, ok := s.Metadata["plan"]; ok || !e.Livemode || !s.Livemode {
					t.Errorf("metadata %v livemode %v/%v", s.Metadata, e.Livemode, s.Livemode)
				}
			}},
		{"plan change", "customer.subscription.updated", "subscription", stripefixture.SubscriptionUpdated(sub),
			func(t *testing.T, e stripe.Event) {
				var s stripe.Subscription
				if err := json.Unmarshal(e.Data.Raw, &s); err != nil {
					t.Fatal(err)
				}
				if s.Items.Data[0].Price.ID != "price_dev_team" || s.Customer.ID != "cus_F1" {
					t.Errorf("subscription %+v", s)
				}
				if _, ok := e.Data.PreviousAttributes["items"]; !ok {
					t.Errorf("previous_attributes %v lack items", e.Data.PreviousAttributes)
				}
			}},
		{"status change", "customer.subscription.updated", "subscription",
			stripefixture.SubscriptionUpdated(stripefixture.Subscription{Plan: plans.Pro}),
			func(t *testing.T, e stripe.Event) {
				if _, ok := e.Data.PreviousAttributes["items"]; ok {
					t.Errorf("a status change carries previous items")
				}
			}},
		{"trial", "customer.subscription.trial_will_end", "subscription", stripefixture.TrialWillEnd(sub),
			func(t *testing.T, e stripe.Event) {
				if e.Data.Object["trial_end"] != float64(at.Add(72*time.Hour).Unix()) {
					t.Errorf("trial_end %v", e.Data.Object["trial_end"])
				}
			}},
		{"deleted", "customer.subscription.deleted", "subscription", stripefixture.SubscriptionDeleted(sub), nil},
		{"paid", "invoice.paid", "invoice", stripefixture.InvoicePaid(inv), nil},
		{"failed", "invoice.payment_failed", "invoice", stripefixture.InvoicePaymentFailed(inv),
			func(t *testing.T, e stripe.Event) {
				var in stripe.Invoice
				if err := json.Unmarshal(e.Data.Raw, &in); err != nil {
					t.Fatal(err)
				}
				if in.AttemptCount != 2 || in.NextPaymentAttempt != at.Add(72*time.Hour).Unix() || in.Subscription.ID != "sub_F1" {
					t.Errorf("invoice %+v", in)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := webhook.ConstructEvent(tc.body, stripefixture.Sign(tc.body, secret, time.Now()), secret)
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			if string(e.Type) != tc.typ || e.Data.Object["object"] != tc.object {
				t.Fatalf("event %s with a %v", e.Type, e.Data.Object["object"])
			}
			if tc.check != nil {
				tc.check(t, e)
			}
		})
	}
}
