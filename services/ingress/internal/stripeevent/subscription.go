package stripeevent

import (
	"encoding/json"
	"fmt"
	"slices"
)

// Subscription is what the platform reads from a Subscription object.
type Subscription struct {
	// ID is the subscription id (sub_...), validated.
	ID string
	// CustomerID is the Stripe customer (cus_...), validated: the platform
	// customer id.
	CustomerID string
	// Status is Stripe's subscription status (trialing, active, past_due...).
	Status string
	// PriceIDs are the prices of the subscription's items, in item order
	// (the legacy single "plan" last), without duplicates.
	PriceIDs []string
	// TrialEnd is the end of the trial in Unix seconds, 0 when none.
	TrialEnd int64
}

// rawSubscription is the wire shape of the fields read. Prices arrive as
// objects in events, but are read as expandables so an id string does too.
type rawSubscription struct {
	Object   string     `json:"object"`
	ID       string     `json:"id"`
	Customer expandable `json:"customer"`
	Status   string     `json:"status"`
	TrialEnd *int64     `json:"trial_end"`
	rawPrices
}

// rawPrices are the fields a subscription's price lives in, in the object
// and in previous_attributes alike.
type rawPrices struct {
	Items *struct {
		Data []struct {
			Price expandable `json:"price"`
			Plan  expandable `json:"plan"`
		} `json:"data"`
	} `json:"items"`
	// Plan is the legacy single-price field, still sent in 2023-10-16.
	Plan expandable `json:"plan"`
}

// ids returns the price ids in r, in order, without duplicates or blanks.
func (r rawPrices) ids() []string {
	var out []string
	add := func(id expandable) {
		if id != "" && !slices.Contains(out, string(id)) {
			out = append(out, string(id))
		}
	}
	if r.Items != nil {
		for _, it := range r.Items.Data {
			add(it.Price)
			if it.Price == "" {
				add(it.Plan)
			}
		}
	}
	add(r.Plan)
	return out
}

// ParseSubscription parses data.object of a customer.subscription.* event.
// Errors wrap ErrPayload.
func ParseSubscription(raw []byte) (Subscription, error) {
	var r rawSubscription
	if err := json.Unmarshal(raw, &r); err != nil {
		return Subscription{}, fmt.Errorf("%w: subscription: %w", ErrPayload, err)
	}
	if r.Object != "subscription" {
		return Subscription{}, fmt.Errorf("%w: data.object is %q, not a subscription", ErrPayload, clip(r.Object))
	}
	if !ValidSubscriptionID(r.ID) {
		return Subscription{}, fmt.Errorf("%w: subscription id %q", ErrPayload, clip(r.ID))
	}
	if !ValidCustomerID(string(r.Customer)) {
		return Subscription{}, fmt.Errorf("%w: subscription %s: customer %q", ErrPayload, r.ID, clip(string(r.Customer)))
	}
	if len(r.Status) > 64 {
		return Subscription{}, fmt.Errorf("%w: subscription %s: status longer than 64 bytes", ErrPayload, r.ID)
	}
	s := Subscription{ID: r.ID, CustomerID: string(r.Customer), Status: r.Status, PriceIDs: r.ids()}
	if r.TrialEnd != nil {
		s.TrialEnd = *r.TrialEnd
	}
	return s, nil
}

// previousPrices reads the prices in data.previous_attributes. changed is
// false when the update did not touch the items or the plan, so it cannot
// have changed the price.
func previousPrices(prev map[string]any) (ids []string, changed bool, err error) {
	_, items := prev["items"]
	_, plan := prev["plan"]
	if !items && !plan {
		return nil, false, nil
	}
	b, err := json.Marshal(prev)
	if err != nil {
		return nil, false, fmt.Errorf("%w: previous_attributes: %w", ErrPayload, err)
	}
	var r rawPrices
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, false, fmt.Errorf("%w: previous_attributes: %w", ErrPayload, err)
	}
	return r.ids(), true, nil
}
