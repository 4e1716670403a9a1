package stripeevent

import (
	"errors"
	"fmt"
	"time"

	"clawdbot.cloud/pkg/names"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
)

// Metadata keys the platform's checkout sets on every session it creates.
const (
	// MetadataPlan is the plan id from the catalog (starter, pro, team).
	MetadataPlan = "plan"
	// MetadataTimezone is the customer's IANA timezone, when the checkout
	// page could tell it. Optional.
	MetadataTimezone = "timezone"
	// MetadataRevealHash is the lowercase hex SHA-256 of a nonce the
	// browser that started checkout holds; only that nonce can reveal the
	// new customer's API key. Optional: without it nobody can.
	MetadataRevealHash = "reveal_hash"
)

// ErrNotSignup is wrapped when a session is authentic and well formed but is
// not (yet) a signup: not a subscription, or its payment is still pending.
// Such a delivery is acknowledged and ignored.
var ErrNotSignup = errors.New("not a signup")

// Signup checks that cs completes a subscription checkout for a plan in the
// catalog and returns the customer.signed_up event for it. The plan is the
// one the price paid names (PlanPaid, through prices); metadata.plan, when
// present, must agree. Errors wrap ErrNotSignup, ErrPayload, ErrNoPrice
// (cs.Prices is empty: fetch the line items and call again),
// plans.ErrUnknownPlan or ErrPlanMismatch.
func Signup(evt Verified, cs CheckoutSession, prices PriceMap) (*pb.CustomerSignedUp, error) {
	if cs.Mode != "subscription" {
		return nil, fmt.Errorf("%w: checkout session mode %q", ErrNotSignup, clip(cs.Mode))
	}
	switch cs.PaymentStatus {
	case "paid", "no_payment_required":
	case "unpaid":
		// An asynchronous payment method: checkout.session.async_payment_succeeded follows.
		return nil, fmt.Errorf("%w: payment still pending", ErrNotSignup)
	default:
		return nil, fmt.Errorf("%w: payment_status %q", ErrPayload, clip(cs.PaymentStatus))
	}
	if !ValidCustomerID(cs.CustomerID) {
		return nil, fmt.Errorf("%w: customer %q", ErrPayload, clip(cs.CustomerID))
	}
	if !ValidSubscriptionID(cs.SubscriptionID) {
		return nil, fmt.Errorf("%w: subscription %q", ErrPayload, clip(cs.SubscriptionID))
	}
	plan, err := PlanPaid(prices, cs.Prices)
	if err != nil {
		return nil, fmt.Errorf("checkout %s: %w", Ref(cs.ID), err)
	}
	// Metadata is written by whoever creates the session: it may only agree.
	if m, ok := cs.Metadata[MetadataPlan]; ok && m != plan.ID {
		return nil, fmt.Errorf("%w: checkout %s: metadata.plan %q but the price paid is plan %s", ErrPlanMismatch, Ref(cs.ID), clip(m), plan.ID)
	}
	msg := &pb.CustomerSignedUp{
		StripeEventId:     evt.ID,
		CheckoutSessionId: cs.ID,
		CustomerId:        cs.CustomerID,
		SubscriptionId:    cs.SubscriptionID,
		Email:             cs.Email,
		Name:              cs.Name,
		Plan:              plan.ID,
		Timezone:          timezone(cs.Metadata[MetadataTimezone]),
		SagaId:            names.SignupSagaID(cs.ID),
	}
	// A created time a timestamp cannot carry would make the event
	// unpublishable (503 for three days); it is left out instead.
	msg.OccurredAt = timestamp(evt.Created)
	return msg, nil
}

// timezone returns tz when it names an IANA zone this host knows, else "":
// a wrong or missing timezone only costs the workspace its default (UTC), it
// is no reason to refuse a paying customer.
func timezone(tz string) string {
	// LoadLocation itself refuses paths ("..", a leading slash).
	if tz == "" || len(tz) > 64 || tz == "Local" {
		return ""
	}
	if _, err := time.LoadLocation(tz); err != nil {
		return ""
	}
	return tz
}
