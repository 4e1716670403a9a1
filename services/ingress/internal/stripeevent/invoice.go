package stripeevent

import (
	"encoding/json"
	"fmt"
	"math"
)

// Invoice is what the platform reads from an Invoice object.
type Invoice struct {
	// ID is the invoice id (in_...), validated.
	ID string
	// CustomerID is the Stripe customer (cus_...), validated.
	CustomerID string
	// SubscriptionID is the subscription the invoice bills (sub_...),
	// validated when present; "" for a one-off invoice.
	SubscriptionID string
	// AttemptCount is how many payment attempts were made.
	AttemptCount int32
	// NextPaymentAttempt is when Stripe retries, in Unix seconds; 0 when it
	// will not.
	NextPaymentAttempt int64
}

// rawInvoice is the wire shape of the fields read. The subscription is a
// top-level field in 2023-10-16; later API versions moved it under
// parent.subscription_details, which is read as a fallback.
type rawInvoice struct {
	Object             string     `json:"object"`
	ID                 string     `json:"id"`
	Customer           expandable `json:"customer"`
	Subscription       expandable `json:"subscription"`
	AttemptCount       *int64     `json:"attempt_count"`
	NextPaymentAttempt *int64     `json:"next_payment_attempt"`
	Parent             *struct {
		SubscriptionDetails *struct {
			Subscription expandable `json:"subscription"`
		} `json:"subscription_details"`
	} `json:"parent"`
}

// ValidInvoiceID reports whether s looks like an invoice id (in_...).
func ValidInvoiceID(s string) bool { return validID(s, "in_") }

// ParseInvoice parses data.object of an invoice.* event. Errors wrap
// ErrPayload.
func ParseInvoice(raw []byte) (Invoice, error) {
	var r rawInvoice
	if err := json.Unmarshal(raw, &r); err != nil {
		return Invoice{}, fmt.Errorf("%w: invoice: %w", ErrPayload, err)
	}
	if r.Object != "invoice" {
		return Invoice{}, fmt.Errorf("%w: data.object is %q, not an invoice", ErrPayload, clip(r.Object))
	}
	if !ValidInvoiceID(r.ID) {
		return Invoice{}, fmt.Errorf("%w: invoice id %q", ErrPayload, clip(r.ID))
	}
	if !ValidCustomerID(string(r.Customer)) {
		return Invoice{}, fmt.Errorf("%w: invoice %s: customer %q", ErrPayload, r.ID, clip(string(r.Customer)))
	}
	in := Invoice{ID: r.ID, CustomerID: string(r.Customer), SubscriptionID: string(r.Subscription)}
	if in.SubscriptionID == "" && r.Parent != nil && r.Parent.SubscriptionDetails != nil {
		in.SubscriptionID = string(r.Parent.SubscriptionDetails.Subscription)
	}
	if in.SubscriptionID != "" && !ValidSubscriptionID(in.SubscriptionID) {
		return Invoice{}, fmt.Errorf("%w: invoice %s: subscription %q", ErrPayload, r.ID, clip(in.SubscriptionID))
	}
	if r.AttemptCount != nil {
		in.AttemptCount = int32(min(max(*r.AttemptCount, 0), math.MaxInt32))
	}
	if r.NextPaymentAttempt != nil {
		in.NextPaymentAttempt = *r.NextPaymentAttempt
	}
	return in, nil
}
