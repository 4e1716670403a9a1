package stripeevent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"clawdbot.cloud/pkg/plans"
)

// Price is a price a checkout was paid at, as the line items (or the
// subscription's items) name it.
type Price struct {
	// ID is the Stripe price id (price_...).
	ID string
	// LookupKey is the price's lookup_key, "" when it has none.
	LookupKey string
}

// ErrNoPrice is wrapped when a signup's event names no price paid (its
// session carries neither expanded line items nor an expanded
// subscription): the plan cannot be judged from metadata alone. It wraps
// plans.ErrUnknownPlan, so an unresolved one is refused like an unknown
// plan; the ingress first fetches the line items when it has a Stripe key.
var ErrNoPrice = fmt.Errorf("%w: the event names no price paid (no line items)", plans.ErrUnknownPlan)

// ErrPlanMismatch is wrapped when metadata.plan names another plan than
// the price paid, or the prices paid name several plans: someone paid for
// one plan and asks for another.
var ErrPlanMismatch = errors.New("plan mismatch")

// maxPrices bounds how many prices of a session are looked at.
const maxPrices = 100

// rawPrice is a price as an id or an expanded object.
type rawPrice Price

// UnmarshalJSON accepts null, "price_..." or {"id": ..., "lookup_key": ...}.
func (p *rawPrice) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '{' {
		var o struct {
			ID        string  `json:"id"`
			LookupKey *string `json:"lookup_key"`
		}
		if err := json.Unmarshal(b, &o); err != nil {
			return err
		}
		*p = rawPrice{ID: o.ID, LookupKey: deref(o.LookupKey)}
		return nil
	}
	var id expandable
	if err := id.UnmarshalJSON(b); err != nil {
		return err
	}
	*p = rawPrice{ID: string(id)}
	return nil
}

// rawItems is a list of line items or subscription items.
type rawItems struct {
	Data []struct {
		Price rawPrice `json:"price"`
	} `json:"data"`
}

// prices returns the prices of l, in order, without duplicates or blanks.
func (l *rawItems) prices() []Price {
	if l == nil {
		return nil
	}
	var out []Price
	for _, it := range l.Data {
		p := Price(it.Price)
		if p.ID != "" && !slices.Contains(out, p) && len(out) < maxPrices {
			out = append(out, p)
		}
	}
	return out
}

// sessionPrices reads the prices paid from a session's expanded line_items,
// or else from its expanded subscription's items. Errors wrap ErrPayload.
func sessionPrices(raw []byte) ([]Price, error) {
	var r struct {
		LineItems    *rawItems       `json:"line_items"`
		Subscription json.RawMessage `json:"subscription"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("%w: checkout session line items: %w", ErrPayload, err)
	}
	if p := r.LineItems.prices(); len(p) > 0 {
		return p, nil
	}
	if s := bytes.TrimSpace(r.Subscription); len(s) > 0 && s[0] == '{' {
		var sub struct {
			Items *rawItems `json:"items"`
		}
		if err := json.Unmarshal(s, &sub); err != nil {
			return nil, fmt.Errorf("%w: checkout session subscription items: %w", ErrPayload, err)
		}
		return sub.Items.prices(), nil
	}
	return nil, nil
}

// PlanPaid returns the plan the prices paid name: each price maps through
// prices (STRIPE_PRICE_*) or else its lookup_key (plans.LookupKey). Prices
// that map to no plan are skipped (an add-on, say) as long as one does.
// Errors wrap ErrNoPrice (no price), plans.ErrUnknownPlan (none maps) or
// ErrPlanMismatch (they name two plans).
func PlanPaid(prices PriceMap, paid []Price) (plans.Plan, error) {
	if len(paid) == 0 {
		return plans.Plan{}, ErrNoPrice
	}
	var plan plans.Plan
	for _, p := range paid {
		got, err := prices.Plan(p.ID)
		if err != nil && p.LookupKey != "" {
			got, err = plans.PlanByLookupKey(p.LookupKey)
		}
		switch {
		case err != nil:
			continue
		case plan.ID == "":
			plan = got
		case plan.ID != got.ID:
			return plans.Plan{}, fmt.Errorf("%w: the prices paid name plans %s and %s", ErrPlanMismatch, plan.ID, got.ID)
		}
	}
	if plan.ID == "" {
		return plans.Plan{}, fmt.Errorf("%w: price %q (set STRIPE_PRICE_* or lookup_key %s)", plans.ErrUnknownPrice,
			clip(paid[0].ID), plans.LookupKey("<plan>"))
	}
	return plan, nil
}
