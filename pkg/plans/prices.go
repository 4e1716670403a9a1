package plans

import (
	"errors"
	"fmt"
	"strings"
)

// ErrUnknownPrice is returned by Prices.Plan for a Stripe price id that no
// plan is configured with. It wraps ErrUnknownPlan: to a caller, a price the
// platform cannot map is a plan it does not sell.
var ErrUnknownPrice = fmt.Errorf("%w: unknown Stripe price", ErrUnknownPlan)

// PriceEnv is the environment variable that names plan id's Stripe price,
// STRIPE_PRICE_<ID> (STRIPE_PRICE_STARTER, STRIPE_PRICE_PRO, ...). Prices
// are configuration, not catalog: they differ between Stripe accounts and
// between test and live mode.
func PriceEnv(id string) string { return "STRIPE_PRICE_" + strings.ToUpper(id) }

// DevPriceID is the price id a plan has when none is configured (embedded
// development, tests, `clawctl`): "price_dev_<id>". No real Stripe price has
// such an id, so a misconfigured production checkout fails at Stripe rather
// than charging the wrong amount.
func DevPriceID(id string) string { return "price_dev_" + id }

// Prices maps Stripe price ids to catalog plans and back. The zero value
// knows no price.
type Prices struct {
	byPrice map[string]string
	byPlan  map[string]string
}

// NewPrices validates a plan id → Stripe price id map: every catalog plan
// must have exactly one well-formed price (price_...), no price may serve
// two plans, and no unknown plan may appear. Every problem is reported.
func NewPrices(byPlan map[string]string) (Prices, error) {
	p := Prices{byPrice: map[string]string{}, byPlan: map[string]string{}}
	var errs []error
	for id := range byPlan {
		if _, err := Lookup(id); err != nil {
			errs = append(errs, fmt.Errorf("price for %w", err))
		}
	}
	for _, plan := range catalog {
		price := byPlan[plan.ID]
		switch {
		case price == "":
			errs = append(errs, fmt.Errorf("%s: no Stripe price for plan %q", PriceEnv(plan.ID), plan.ID))
			continue
		case !validPriceID(price):
			errs = append(errs, fmt.Errorf("%s=%q is not a Stripe price id (price_...)", PriceEnv(plan.ID), price))
			continue
		}
		if other, dup := p.byPrice[price]; dup {
			errs = append(errs, fmt.Errorf("%s: price %q already serves plan %q", PriceEnv(plan.ID), price, other))
			continue
		}
		p.byPrice[price] = plan.ID
		p.byPlan[plan.ID] = price
	}
	if err := errors.Join(errs...); err != nil {
		return Prices{}, err
	}
	return p, nil
}

// Plan returns the plan sold at Stripe price priceID, or an error wrapping
// ErrUnknownPrice.
func (p Prices) Plan(priceID string) (Plan, error) {
	id, ok := p.byPrice[priceID]
	if !ok {
		return Plan{}, fmt.Errorf("%w %q", ErrUnknownPrice, clipPrice(priceID))
	}
	return Lookup(id)
}

// PriceID returns the Stripe price of plan id, and false when it has none.
func (p Prices) PriceID(id string) (string, bool) {
	price, ok := p.byPlan[id]
	return price, ok
}

// validPriceID reports whether s looks like a Stripe price id: "price_"
// followed by 1 to 249 ASCII letters, digits or underscores.
func validPriceID(s string) bool {
	rest, ok := strings.CutPrefix(s, "price_")
	if !ok || rest == "" || len(s) > 255 {
		return false
	}
	for _, c := range []byte(rest) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// clipPrice shortens an untrusted price id before it lands in an error.
func clipPrice(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// lookupKeyPrefix namespaces the platform's lookup keys within a Stripe
// account that may sell other things.
const lookupKeyPrefix = "clawdbot_"

// LookupKey is the Stripe lookup_key that names plan id's price when its
// STRIPE_PRICE_* is not the price paid: "clawdbot_<id>" (clawdbot_pro). An
// operator who replaces a price (a new amount) moves the lookup key to the
// new price with transfer_lookup_key, and signups keep mapping.
func LookupKey(id string) string { return lookupKeyPrefix + id }

// PlanByLookupKey returns the plan a price's lookup_key names, or an error
// wrapping ErrUnknownPrice.
func PlanByLookupKey(key string) (Plan, error) {
	id, ok := strings.CutPrefix(key, lookupKeyPrefix)
	if !ok {
		return Plan{}, fmt.Errorf("%w: lookup_key %q", ErrUnknownPrice, clipPrice(key))
	}
	p, err := Lookup(id)
	if err != nil {
		return Plan{}, fmt.Errorf("%w: lookup_key %q", ErrUnknownPrice, clipPrice(key))
	}
	return p, nil
}
