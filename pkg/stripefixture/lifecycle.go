package stripefixture

import (
	"time"

	"clawdbot.cloud/pkg/plans"
)

// Subscription describes a subscription as the customer.subscription.*
// events carry it.
type Subscription struct {
	EventID, SubscriptionID, CustomerID string
	// Plan selects the price plans.DevPriceID(Plan) when PriceID is empty
	// (the prices the platform runs with when none are configured).
	Plan, PriceID string
	// PreviousPlan / PreviousPriceID, for SubscriptionUpdated, put the old
	// price in data.previous_attributes (a plan change). When both are
	// empty the update is a status change (previous status "trialing").
	PreviousPlan, PreviousPriceID string
	// Status is the subscription status; "active" when empty.
	Status string
	// TrialEnd is the end of the trial; none when zero.
	TrialEnd time.Time
	Created  time.Time
}

// Fill gives every empty id a fresh value, Created the current time and
// Status "active".
func (s *Subscription) Fill() {
	fillIDs(&s.EventID, &s.SubscriptionID, &s.CustomerID)
	if s.Created.IsZero() {
		s.Created = time.Now()
	}
	if s.Status == "" {
		s.Status = "active"
	}
}

func price(id, plan string) string {
	if id == "" && plan != "" {
		return plans.DevPriceID(plan)
	}
	return id
}

// priceObject is a Price as subscription items embed it.
func priceObject(id string) map[string]any {
	return map[string]any{
		"id": id, "object": "price", "active": true, "lookup_key": nil, "currency": "usd", "product": "prod_clawdbot",
		"type": "recurring", "recurring": map[string]any{"interval": "month", "interval_count": 1},
	}
}

// items is a subscription's items list with one item at price id.
func items(subID, id string) map[string]any {
	return map[string]any{"object": "list", "has_more": false, "data": []any{map[string]any{
		"id": "si_" + subID[len("sub_"):], "object": "subscription_item", "quantity": 1,
		"subscription": subID, "price": priceObject(id),
	}}}
}

// subscriptionObject returns the Subscription object of s.
func subscriptionObject(s Subscription) map[string]any {
	p := price(s.PriceID, s.Plan)
	o := map[string]any{
		"id": s.SubscriptionID, "object": "subscription", "customer": s.CustomerID, "status": s.Status,
		"livemode": false, "created": s.Created.Unix(), "currency": "usd",
		"current_period_start": s.Created.Unix(), "current_period_end": s.Created.AddDate(0, 1, 0).Unix(),
		"cancel_at_period_end": false, "canceled_at": nil, "ended_at": nil, "trial_start": nil, "trial_end": nil,
		"items": items(s.SubscriptionID, p), "plan": map[string]any{"id": p, "object": "plan"},
		"metadata": map[string]any{},
	}
	if !s.TrialEnd.IsZero() {
		o["trial_start"] = s.Created.Unix()
		o["trial_end"] = s.TrialEnd.Unix()
	}
	return o
}

// SubscriptionUpdated returns a customer.subscription.updated event: a plan
// change when s names a previous price or plan, a status change otherwise.
func SubscriptionUpdated(s Subscription) []byte {
	s.Fill()
	prev := map[string]any{"status": "trialing"}
	if p := price(s.PreviousPriceID, s.PreviousPlan); p != "" {
		prev = map[string]any{"items": items(s.SubscriptionID, p), "plan": map[string]any{"id": p, "object": "plan"}}
	}
	return eventWith(s.EventID, "customer.subscription.updated", s.Created, subscriptionObject(s), prev)
}

// TrialWillEnd returns a customer.subscription.trial_will_end event (Stripe
// sends it three days before TrialEnd; three days after Created when unset).
func TrialWillEnd(s Subscription) []byte {
	s.Fill()
	if s.TrialEnd.IsZero() {
		s.TrialEnd = s.Created.Add(72 * time.Hour)
	}
	s.Status = "trialing"
	return Event(s.EventID, "customer.subscription.trial_will_end", s.Created, subscriptionObject(s))
}

// SubscriptionDeleted returns a customer.subscription.deleted event.
func SubscriptionDeleted(s Subscription) []byte {
	s.Fill()
	s.Status = "canceled"
	o := subscriptionObject(s)
	o["canceled_at"], o["ended_at"] = s.Created.Unix(), s.Created.Unix()
	return Event(s.EventID, "customer.subscription.deleted", s.Created, o)
}

// Invoice describes a subscription invoice as invoice.* events carry it.
type Invoice struct {
	EventID, InvoiceID, CustomerID, SubscriptionID string
	AmountCents                                    int64
	// AttemptCount is the number of payment attempts made (1 when zero).
	AttemptCount int64
	// NextPaymentAttempt is when Stripe retries; none when zero.
	NextPaymentAttempt time.Time
	Created            time.Time
}

// Fill gives every empty id a fresh value and Created the current time.
func (in *Invoice) Fill() {
	fillIDs(&in.EventID, nil, &in.CustomerID)
	if in.SubscriptionID == "" {
		in.SubscriptionID = NewID("sub_")
	}
	if in.InvoiceID == "" {
		in.InvoiceID = NewID("in_")
	}
	if in.Created.IsZero() {
		in.Created = time.Now()
	}
	if in.AttemptCount == 0 {
		in.AttemptCount = 1
	}
}

func invoiceObject(in Invoice, paid bool) map[string]any {
	status := "open"
	if paid {
		status = "paid"
	}
	o := map[string]any{
		"id": in.InvoiceID, "object": "invoice", "customer": in.CustomerID, "subscription": in.SubscriptionID,
		"status": status, "paid": paid, "livemode": false, "currency": "usd", "created": in.Created.Unix(),
		"amount_due": in.AmountCents, "amount_paid": 0, "amount_remaining": in.AmountCents,
		"attempt_count": in.AttemptCount, "attempted": true, "billing_reason": "subscription_cycle",
		"next_payment_attempt": nil,
	}
	if paid {
		o["amount_paid"], o["amount_remaining"] = in.AmountCents, 0
	}
	if !in.NextPaymentAttempt.IsZero() {
		o["next_payment_attempt"] = in.NextPaymentAttempt.Unix()
	}
	return o
}

// InvoicePaid returns an invoice.paid event.
func InvoicePaid(in Invoice) []byte {
	in.Fill()
	return Event(in.EventID, "invoice.paid", in.Created, invoiceObject(in, true))
}

// InvoicePaymentFailed returns an invoice.payment_failed event.
func InvoicePaymentFailed(in Invoice) []byte {
	in.Fill()
	return Event(in.EventID, "invoice.payment_failed", in.Created, invoiceObject(in, false))
}

// fillIDs gives each empty id (nil: none) a fresh value.
func fillIDs(eventID, subscriptionID, customerID *string) {
	for _, f := range []struct {
		p      *string
		prefix string
	}{{eventID, "evt_"}, {subscriptionID, "sub_"}, {customerID, "cus_"}} {
		if f.p != nil && *f.p == "" {
			*f.p = NewID(f.prefix)
		}
	}
}
