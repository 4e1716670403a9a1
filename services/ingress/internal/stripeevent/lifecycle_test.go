package stripeevent

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stripe/stripe-go/v76"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"clawdbot.cloud/pkg/plans"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
)

func testPrices(t testing.TB) plans.Prices {
	t.Helper()
	p, err := plans.NewPrices(map[string]string{"starter": "price_S", "pro": "price_P", "team": "price_T"})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// lifecycleEvent builds a verified event of typ around object, with
// previous_attributes when prev is not nil.
func lifecycleEvent(t testing.TB, typ string, object any, prev map[string]any) Verified {
	t.Helper()
	data := map[string]any{"object": object}
	if prev != nil {
		data["previous_attributes"] = prev
	}
	b, err := json.Marshal(map[string]any{"id": "evt_L", "object": "event", "created": 1700000000, "type": typ, "data": data})
	if err != nil {
		t.Fatal(err)
	}
	v := NewVerifier(secret)
	evt, err := v.Verify(b, signed(t, b, time.Now(), secret))
	if err != nil {
		t.Fatal(err)
	}
	return evt
}

func sub(price any) map[string]any {
	return map[string]any{"id": "sub_L", "object": "subscription", "customer": "cus_L", "status": "active",
		"items": map[string]any{"data": []any{map[string]any{"price": price}}}}
}

func TestParseLifecycle(t *testing.T) {
	created := timestamppb.New(time.Unix(1700000000, 0))
	ref := &pb.StripeRef{EventId: "evt_L", Created: created, SubscriptionId: "sub_L"}
	items := func(price string) map[string]any {
		return map[string]any{"items": map[string]any{"data": []any{map[string]any{"price": map[string]any{"id": price}}}}}
	}
	tests := []struct {
		name    string
		typ     string
		object  any
		prev    map[string]any
		subject string
		want    *pb.CustomerPlanChanged
		wantErr error
	}{
		{name: "upgrade, prices as objects", typ: "customer.subscription.updated", object: sub(map[string]any{"id": "price_T"}), prev: items("price_P"),
			subject: subjects.CustomerPlanChanged, want: &pb.CustomerPlanChanged{Stripe: ref, CustomerId: "cus_L", Plan: "team", PreviousPlan: "pro"}},
		{name: "price as id, legacy plan in previous", typ: "customer.subscription.updated", object: sub("price_S"),
			prev:    map[string]any{"plan": map[string]any{"id": "price_T"}},
			subject: subjects.CustomerPlanChanged, want: &pb.CustomerPlanChanged{Stripe: ref, CustomerId: "cus_L", Plan: "starter", PreviousPlan: "team"}},
		{name: "previous price unknown", typ: "customer.subscription.updated", object: sub("price_S"), prev: items("price_old"),
			subject: subjects.CustomerPlanChanged, want: &pb.CustomerPlanChanged{Stripe: ref, CustomerId: "cus_L", Plan: "starter"}},
		// Updates that do not touch the price still say which plan the
		// subscription is on: the saga judges it against the customer's state.
		{name: "status only", typ: "customer.subscription.updated", object: sub("price_S"), prev: map[string]any{"status": "trialing"},
			subject: subjects.CustomerPlanChanged, want: &pb.CustomerPlanChanged{Stripe: ref, CustomerId: "cus_L", Plan: "starter"}},
		{name: "no previous attributes", typ: "customer.subscription.updated", object: sub("price_T"),
			subject: subjects.CustomerPlanChanged, want: &pb.CustomerPlanChanged{Stripe: ref, CustomerId: "cus_L", Plan: "team"}},
		{name: "quantity change", typ: "customer.subscription.updated", object: sub("price_S"), prev: items("price_S"),
			subject: subjects.CustomerPlanChanged, want: &pb.CustomerPlanChanged{Stripe: ref, CustomerId: "cus_L", Plan: "starter", PreviousPlan: "starter"}},
		{name: "status only, price of no plan", typ: "customer.subscription.updated", object: sub("price_old"), prev: map[string]any{"status": "trialing"}, wantErr: ErrNoChange},
		{name: "new price unknown", typ: "customer.subscription.updated", object: sub("price_new"), prev: items("price_S"), wantErr: plans.ErrUnknownPlan},
		{name: "no price at all", typ: "customer.subscription.updated", object: sub(nil), prev: items("price_S"), wantErr: plans.ErrUnknownPlan},
		{name: "previous items not a list", typ: "customer.subscription.updated", object: sub("price_S"), prev: map[string]any{"items": "x"}, wantErr: ErrPayload},
		{name: "price is a number", typ: "customer.subscription.updated", object: sub(7), prev: items("price_S"), wantErr: ErrPayload},
		{name: "deleted for a bad customer", typ: "customer.subscription.deleted",
			object: map[string]any{"id": "sub_L", "object": "subscription", "customer": "cus_"}, wantErr: ErrPayload},
		{name: "invoice without id", typ: "invoice.paid", object: map[string]any{"object": "invoice", "customer": "cus_L", "subscription": "sub_L"}, wantErr: ErrPayload},
		{name: "invoice of no subscription", typ: "invoice.paid", object: map[string]any{"id": "in_1", "object": "invoice", "customer": "cus_L"}, wantErr: ErrNoChange},
		{name: "not a lifecycle type", typ: "charge.refunded", object: map[string]any{"id": "ch_1"}, wantErr: ErrNoChange},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lc, err := ParseLifecycle(lifecycleEvent(t, tc.typ, tc.object, tc.prev), testPrices(t))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if lc.Subject != tc.subject || lc.CustomerID != "cus_L" {
				t.Fatalf("lifecycle %+v", lc)
			}
			if d := cmp.Diff(tc.want, lc.Msg, protocmp.Transform()); d != "" {
				t.Fatalf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestParseInvoice(t *testing.T) {
	in, err := ParseInvoice([]byte(`{"id":"in_1","object":"invoice","customer":{"id":"cus_L"},"subscription":null,
		"parent":{"subscription_details":{"subscription":"sub_new"}},"attempt_count":99999999999,"next_payment_attempt":null}`))
	if err != nil {
		t.Fatal(err)
	}
	want := Invoice{ID: "in_1", CustomerID: "cus_L", SubscriptionID: "sub_new", AttemptCount: 1<<31 - 1}
	if d := cmp.Diff(want, in); d != "" {
		t.Fatalf("invoice of a later API version (-want +got):\n%s", d)
	}
}

// A timestamp that protobuf cannot carry is dropped, not turned into an
// event the bus cannot encode.
func TestHugeTimestamps(t *testing.T) {
	obj := map[string]any{"id": "sub_L", "object": "subscription", "customer": "cus_L", "trial_end": int64(1) << 60}
	evt := lifecycleEvent(t, string(stripe.EventTypeCustomerSubscriptionTrialWillEnd), obj, nil)
	evt.Created = 1 << 62
	lc, err := ParseLifecycle(evt, testPrices(t))
	if err != nil {
		t.Fatal(err)
	}
	m := lc.Msg.(*pb.CustomerTrialWillEnd)
	if m.TrialEnd != nil || m.Stripe.Created != nil {
		t.Fatalf("out-of-range timestamps kept: %v", m)
	}
}
