package stripeevent

import (
	"bytes"
	"encoding/json"
	"fmt"

	"clawdbot.cloud/pkg/names"
)

// CheckoutSession is what the platform reads from a Checkout Session object:
// nothing else of it is trusted or kept.
type CheckoutSession struct {
	// ID is the session id (cs_...), validated.
	ID string
	// Mode is "subscription", "payment" or "setup".
	Mode string
	// PaymentStatus is "paid", "unpaid" or "no_payment_required" (a trial).
	PaymentStatus string
	// CustomerID and SubscriptionID are as sent (validated by Signup).
	CustomerID     string
	SubscriptionID string
	// Email and Name come from customer_details (email falls back to
	// customer_email).
	Email string
	Name  string
	// Metadata holds the session's string metadata (plan, timezone,
	// reveal_hash).
	Metadata map[string]string
	// RevealHash is metadata.reveal_hash when it is well formed
	// (ValidRevealHash), else "".
	RevealHash string
	// RevealHashMalformed is set when metadata.reveal_hash is present but
	// not well formed; it is then treated as absent.
	RevealHashMalformed bool
	// Prices are the prices paid, from the expanded line_items or
	// subscription when the event carries them (Stripe's own webhooks do
	// not: the ingress then fetches the line items and sets them).
	Prices []Price
}

// maxFieldLen bounds the free-text fields copied into events.
const maxFieldLen = 1024

// expandable is a Stripe reference that arrives either as an id string or,
// when expanded, as the object itself (of which only the id is read).
type expandable string

// UnmarshalJSON accepts null, "id" or {"id": "..."}.
func (e *expandable) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*e = ""
		return nil
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*e = expandable(s)
		return nil
	case len(b) > 0 && b[0] == '{':
		var o struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(b, &o); err != nil {
			return err
		}
		*e = expandable(o.ID)
		return nil
	}
	return fmt.Errorf("want an id or an object, got %.20s", b)
}

// rawSession is the wire shape; pointers tell null from absent where it matters.
type rawSession struct {
	Object          string     `json:"object"`
	ID              string     `json:"id"`
	Mode            string     `json:"mode"`
	PaymentStatus   string     `json:"payment_status"`
	Customer        expandable `json:"customer"`
	Subscription    expandable `json:"subscription"`
	CustomerEmail   *string    `json:"customer_email"`
	CustomerDetails *struct {
		Email *string `json:"email"`
		Name  *string `json:"name"`
	} `json:"customer_details"`
	// Metadata values are strings in every API version; anything else is
	// dropped rather than failing the whole event.
	Metadata map[string]any `json:"metadata"`
}

// ParseCheckoutSession parses data.object of a checkout.session.* event.
// Errors wrap ErrPayload.
func ParseCheckoutSession(raw []byte) (CheckoutSession, error) {
	var r rawSession
	if err := json.Unmarshal(raw, &r); err != nil {
		return CheckoutSession{}, fmt.Errorf("%w: checkout session: %w", ErrPayload, err)
	}
	if r.Object != "checkout.session" {
		return CheckoutSession{}, fmt.Errorf("%w: data.object is %q, not a checkout.session", ErrPayload, clip(r.Object))
	}
	if !ValidCheckoutSessionID(r.ID) {
		return CheckoutSession{}, fmt.Errorf("%w: malformed checkout session id", ErrPayload)
	}
	cs := CheckoutSession{
		ID:             r.ID,
		Mode:           r.Mode,
		PaymentStatus:  r.PaymentStatus,
		CustomerID:     string(r.Customer),
		SubscriptionID: string(r.Subscription),
		Metadata:       map[string]string{},
	}
	if r.CustomerDetails != nil {
		cs.Email = deref(r.CustomerDetails.Email)
		cs.Name = deref(r.CustomerDetails.Name)
	}
	if cs.Email == "" {
		cs.Email = deref(r.CustomerEmail)
	}
	for k, v := range r.Metadata {
		if s, ok := v.(string); ok {
			cs.Metadata[k] = s
		}
	}
	if h, ok := cs.Metadata[MetadataRevealHash]; ok {
		if ValidRevealHash(h) {
			cs.RevealHash = h
		} else {
			cs.RevealHashMalformed = true
		}
	}
	prices, err := sessionPrices(raw)
	if err != nil {
		return CheckoutSession{}, err
	}
	cs.Prices = prices
	for what, v := range map[string]string{"email": cs.Email, "name": cs.Name, "mode": cs.Mode, "payment_status": cs.PaymentStatus} {
		if len(v) > maxFieldLen {
			return CheckoutSession{}, fmt.Errorf("%w: checkout %s: %s longer than %d bytes", ErrPayload, Ref(cs.ID), what, maxFieldLen)
		}
	}
	return cs, nil
}

// ValidRevealHash reports whether s is a lowercase hex SHA-256 (64 digits),
// the shape of metadata.reveal_hash.
func ValidRevealHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Ref is how errors and logs name a Checkout Session: names.CheckoutRef,
// never the id itself.
func Ref(checkoutSessionID string) string { return names.CheckoutRef(checkoutSessionID) }

// deref returns *p, or "" for nil.
func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
