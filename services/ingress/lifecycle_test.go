package ingress_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/pkg/servicetest"
	fx "clawdbot.cloud/pkg/stripefixture"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
)

var t0 = time.Unix(1_760_000_000, 0)

func ref(evt, sub string) *pb.StripeRef {
	return &pb.StripeRef{EventId: evt, Created: timestamppb.New(t0), SubscriptionId: sub}
}

// Each lifecycle webhook becomes its customer.* event, with the Stripe
// reference, the customer (unknown to the platform: published all the
// same) and MsgID = the Stripe event id; a second delivery stores nothing.
func TestLifecycleWebhooks(t *testing.T) {
	t.Parallel()
	h := start(t)
	sub := func(evt string) fx.Subscription {
		return fx.Subscription{EventID: evt, SubscriptionID: "sub_LC1", CustomerID: "cus_LC1", Plan: plans.Team, Created: t0}
	}
	upgrade := sub("evt_lc_up")
	upgrade.PreviousPlan = plans.Starter
	downgrade := sub("evt_lc_down")
	downgrade.Plan, downgrade.PreviousPlan = plans.Starter, plans.Team
	unknownOld := sub("evt_lc_oldprice")
	unknownOld.PreviousPriceID = "price_legacy2019"
	trial := sub("evt_lc_trial")
	trial.TrialEnd = t0.Add(72 * time.Hour)
	inv := func(evt string) fx.Invoice {
		return fx.Invoice{EventID: evt, InvoiceID: "in_LC1", SubscriptionID: "sub_LC1", CustomerID: "cus_LC1", Created: t0}
	}
	failed := inv("evt_lc_failed")
	failed.AttemptCount, failed.NextPaymentAttempt = 2, t0.Add(48*time.Hour)
	lastTry := inv("evt_lc_lasttry")
	lastTry.AttemptCount = 4

	tests := []struct {
		name, eventType, subject string
		body                     []byte
		want                     proto.Message
	}{
		{"upgrade", "customer.subscription.updated", subjects.CustomerPlanChanged, fx.SubscriptionUpdated(upgrade),
			&pb.CustomerPlanChanged{Stripe: ref("evt_lc_up", "sub_LC1"), CustomerId: "cus_LC1", Plan: "team", PreviousPlan: "starter"}},
		{"downgrade", "customer.subscription.updated", subjects.CustomerPlanChanged, fx.SubscriptionUpdated(downgrade),
			&pb.CustomerPlanChanged{Stripe: ref("evt_lc_down", "sub_LC1"), CustomerId: "cus_LC1", Plan: "starter", PreviousPlan: "team"}},
		{"from an unknown price", "customer.subscription.updated", subjects.CustomerPlanChanged, fx.SubscriptionUpdated(unknownOld),
			&pb.CustomerPlanChanged{Stripe: ref("evt_lc_oldprice", "sub_LC1"), CustomerId: "cus_LC1", Plan: "team"}},
		{"trial will end", "customer.subscription.trial_will_end", subjects.CustomerTrialWillEnd, fx.TrialWillEnd(trial),
			&pb.CustomerTrialWillEnd{Stripe: ref("evt_lc_trial", "sub_LC1"), CustomerId: "cus_LC1", TrialEnd: timestamppb.New(t0.Add(72 * time.Hour))}},
		{"payment failed", "invoice.payment_failed", subjects.CustomerPaymentFailed, fx.InvoicePaymentFailed(failed),
			&pb.CustomerPaymentFailed{Stripe: ref("evt_lc_failed", "sub_LC1"), CustomerId: "cus_LC1", InvoiceId: "in_LC1",
				AttemptCount: 2, NextPaymentAttempt: timestamppb.New(t0.Add(48 * time.Hour))}},
		{"last payment attempt failed", "invoice.payment_failed", subjects.CustomerPaymentFailed, fx.InvoicePaymentFailed(lastTry),
			&pb.CustomerPaymentFailed{Stripe: ref("evt_lc_lasttry", "sub_LC1"), CustomerId: "cus_LC1", InvoiceId: "in_LC1", AttemptCount: 4}},
		{"paid", "invoice.paid", subjects.CustomerPaymentSucceeded, fx.InvoicePaid(inv("evt_lc_paid")),
			&pb.CustomerPaymentSucceeded{Stripe: ref("evt_lc_paid", "sub_LC1"), CustomerId: "cus_LC1", InvoiceId: "in_LC1"}},
		{"canceled", "customer.subscription.deleted", subjects.CustomerCanceled, fx.SubscriptionDeleted(sub("evt_lc_del")),
			&pb.CustomerCanceled{Stripe: ref("evt_lc_del", "sub_LC1"), CustomerId: "cus_LC1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(h.stored(t, tc.subject))
			res := h.deliver(t, tc.body)
			if res.Code != http.StatusOK || res.Body["received"] != true || res.Body["duplicate"] != false {
				t.Fatalf("got %d %v, want 200 received", res.Code, res.Body)
			}
			msgs := h.stored(t, tc.subject)
			if len(msgs) != before+1 {
				t.Fatalf("%d messages on %s, want %d", len(msgs), tc.subject, before+1)
			}
			m := msgs[len(msgs)-1]
			got := subjects.New(tc.subject)
			if err := bus.Decode(m.Data(), got); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got, protocmp.Transform()); d != "" {
				t.Errorf("%s (-want +got):\n%s", tc.subject, d)
			}
			evt := tc.want.(interface{ GetStripe() *pb.StripeRef }).GetStripe().GetEventId()
			for k, v := range map[string]string{"Nats-Msg-Id": evt, bus.HeaderCustomerID: "cus_LC1", bus.HeaderStripeEventID: evt} {
				if g := m.Headers().Get(k); g != v {
					t.Errorf("header %s = %q, want %q", k, g, v)
				}
			}
			if n := h.webhooks(t, tc.eventType, "published"); n < 1 {
				t.Errorf("published counter for %s = %v", tc.eventType, n)
			}

			// Stripe delivers again: answered from the record, nothing stored.
			dup := h.webhooks(t, tc.eventType, "duplicate")
			res = h.deliver(t, tc.body)
			if res.Code != http.StatusOK || res.Body["duplicate"] != true {
				t.Fatalf("redelivery: %d %v", res.Code, res.Body)
			}
			if n := len(h.stored(t, tc.subject)); n != before+1 {
				t.Errorf("%d messages after the redelivery, want %d", n, before+1)
			}
			if n := h.webhooks(t, tc.eventType, "duplicate"); n != dup+1 {
				t.Errorf("duplicate counter %v → %v", dup, n)
			}
		})
	}
}

// A subscription update that does not touch the price still publishes the
// plan the subscription is on: whether that is a change is the saga's call,
// against the customer's recorded plan (a lost or refused price change is
// corrected by the next update), never previous_attributes' alone.
func TestSubscriptionUpdateCarriesThePlan(t *testing.T) {
	t.Parallel()
	h := start(t)
	tests := []struct {
		name string
		sub  fx.Subscription
	}{
		{"status change", fx.Subscription{EventID: "evt_pl_status", CustomerID: "cus_PL1", Plan: plans.Team}},
		{"price unchanged", fx.Subscription{EventID: "evt_pl_same", CustomerID: "cus_PL2", Plan: plans.Pro, PreviousPlan: plans.Pro}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := h.deliver(t, fx.SubscriptionUpdated(tc.sub))
			if res.Code != http.StatusOK || res.Body["ignored"] == true {
				t.Fatalf("got %d %v, want 200 published", res.Code, res.Body)
			}
			var found bool
			for _, m := range h.stored(t, subjects.CustomerPlanChanged) {
				var pc pb.CustomerPlanChanged
				if err := bus.Decode(m.Data(), &pc); err != nil {
					t.Fatal(err)
				}
				if pc.GetCustomerId() == tc.sub.CustomerID {
					found = true
					if pc.GetPlan() != tc.sub.Plan {
						t.Errorf("plan_changed carries plan %q, want %q", pc.GetPlan(), tc.sub.Plan)
					}
				}
			}
			if !found {
				t.Errorf("no customer.plan_changed for %s", tc.sub.CustomerID)
			}
		})
	}
}

// Invoices for no subscription are acknowledged and counted, and publish
// nothing.
func TestLifecycleIgnored(t *testing.T) {
	t.Parallel()
	h := start(t)
	oneOff := map[string]any{"id": "in_oneoff", "object": "invoice", "customer": "cus_IG1", "subscription": nil, "attempt_count": 1}
	tests := []struct {
		name, eventType string
		body            []byte
	}{
		{"status change on a price of no plan", "customer.subscription.updated",
			fx.SubscriptionUpdated(fx.Subscription{EventID: "evt_ig_status", PriceID: "price_retired_long_ago"})},
		{"one-off invoice paid", "invoice.paid", fx.Event("evt_ig_oneoff", "invoice.paid", t0, oneOff)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := h.webhooks(t, tc.eventType, "ignored")
			res := h.deliver(t, tc.body)
			if res.Code != http.StatusOK || res.Body["ignored"] != true {
				t.Fatalf("got %d %v, want 200 ignored", res.Code, res.Body)
			}
			if n := len(h.stored(t, "customer.>")); n != 0 {
				t.Errorf("%d customer events published, want none", n)
			}
			if after := h.webhooks(t, tc.eventType, "ignored"); after != before+1 {
				t.Errorf("ignored counter %v → %v", before, after)
			}
		})
	}
}

// Bad lifecycle deliveries: each answered with its code, counted, and
// nothing published.
func TestLifecycleRefusals(t *testing.T) {
	t.Parallel()
	h := start(t)
	newPrice := fx.Subscription{EventID: "evt_bad_price", CustomerID: "cus_BAD1", PriceID: "price_notconfigured", PreviousPlan: plans.Pro}
	subObj := func(over map[string]any) map[string]any {
		o := map[string]any{"id": "sub_BAD1", "object": "subscription", "customer": "cus_BAD1", "status": "active"}
		for k, v := range over {
			o[k] = v
		}
		return o
	}
	tests := []struct {
		name, eventType string
		body            []byte
		code            int
		outcome, errSub string
	}{
		{"price of no plan", "customer.subscription.updated", fx.SubscriptionUpdated(newPrice), 422, "unknown_plan", "price_notconfigured"},
		{"bad customer id", "customer.subscription.deleted",
			fx.Event("evt_bad_cus", "customer.subscription.deleted", t0, subObj(map[string]any{"customer": "acct_1"})), 400, "bad_payload", "customer"},
		{"customer is a number", "customer.subscription.trial_will_end",
			fx.Event("evt_bad_num", "customer.subscription.trial_will_end", t0, subObj(map[string]any{"customer": 7})), 400, "bad_payload", "invalid payload"},
		{"not a subscription", "customer.subscription.deleted",
			fx.Event("evt_bad_obj", "customer.subscription.deleted", t0, subObj(map[string]any{"object": "invoice"})), 400, "bad_payload", "not a subscription"},
		{"bad subscription id", "customer.subscription.deleted",
			fx.Event("evt_bad_sub", "customer.subscription.deleted", t0, subObj(map[string]any{"id": "sub_../x"})), 400, "bad_payload", "subscription id"},
		{"invoice with bad subscription", "invoice.payment_failed",
			fx.Event("evt_bad_inv", "invoice.payment_failed", t0, map[string]any{"id": "in_1", "object": "invoice", "customer": "cus_BAD1", "subscription": "sub_x y"}),
			400, "bad_payload", "subscription"},
		{"trial end is text", "customer.subscription.trial_will_end",
			fx.Event("evt_bad_trial", "customer.subscription.trial_will_end", t0, subObj(map[string]any{"trial_end": "soon"})), 400, "bad_payload", "invalid payload"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := h.webhooks(t, tc.eventType, tc.outcome)
			res := h.deliver(t, tc.body)
			if res.Code != tc.code {
				t.Fatalf("got %d %v, want %d", res.Code, res.Body, tc.code)
			}
			if msg, _ := res.Body["error"].(string); !strings.Contains(msg, tc.errSub) {
				t.Errorf("error %q, want it to mention %q", msg, tc.errSub)
			}
			if n := len(h.stored(t, "customer.>")); n != 0 {
				t.Errorf("%d customer events published, want none", n)
			}
			if after := h.webhooks(t, tc.eventType, tc.outcome); after != before+1 {
				t.Errorf("counter %s/%s %v → %v", tc.eventType, tc.outcome, before, after)
			}
		})
	}
	var reason string
	if err := h.env.DB.QueryRow(context.Background(),
		`SELECT reason FROM ingress.rejected_events WHERE event_id = 'evt_bad_price'`).Scan(&reason); err != nil || !strings.Contains(reason, "price_notconfigured") {
		t.Errorf("rejected price change: reason %q, err %v", reason, err)
	}
}

// A lifecycle event that cannot be made durable is answered 503 and not
// marked processed, so Stripe's retry publishes it.
func TestLifecycleNATSDown(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.nats.Shutdown()
	h.nats.WaitForShutdown()
	servicetest.Eventually(t, 5*time.Second, "the bus to notice NATS is gone", func() bool { return h.env.Bus.Ready() != nil })
	res := h.deliver(t, fx.SubscriptionDeleted(fx.Subscription{EventID: "evt_lc_down1", Plan: plans.Pro}))
	if res.Code != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Fatalf("got %d %v, want 503 with Retry-After", res.Code, res.Body)
	}
	if n := h.webhooks(t, "customer.subscription.deleted", "unavailable"); n != 1 {
		t.Errorf("unavailable counter = %v", n)
	}
	var processed bool
	if err := h.env.DB.QueryRow(context.Background(),
		`SELECT EXISTS (SELECT 1 FROM ingress.processed_events WHERE event_id = 'evt_lc_down1')`).Scan(&processed); err != nil || processed {
		t.Errorf("event marked processed although it never reached the stream (err %v)", err)
	}
}
