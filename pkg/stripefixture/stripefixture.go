// Package stripefixture builds Stripe webhook deliveries exactly as Stripe sends
// them (API version 2023-10-16) and signs them like Stripe does, for
// `clawctl signup`, the bench command and tests: checkout completion, and
// the lifecycle events (subscription updated, trial ending, deleted; invoice
// paid, payment failed).
package stripefixture

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"
)

// APIVersion is the Stripe API version the platform's webhook endpoint must
// be configured with (the version stripe-go v76 pins).
const APIVersion = "2023-10-16"

// Checkout describes a completed Checkout Session.
type Checkout struct {
	EventID, SessionID, CustomerID, SubscriptionID string
	Email, Name, Plan                              string
	// AmountCents is the first invoice total; 0 during a trial.
	AmountCents int64
	Created     time.Time
	// RevealHash, when set, is metadata.reveal_hash: the lowercase hex
	// SHA-256 of the nonce that may reveal the new customer's API key.
	RevealHash string
	// PriceID is the price paid, put in the session's expanded line_items
	// (the ingress maps the plan from it, never from metadata alone);
	// plans.DevPriceID(Plan) when empty, the price the ingress runs with
	// when no STRIPE_PRICE_* is set.
	PriceID string
	// LookupKey, when set, is the price's lookup_key (plans.LookupKey).
	LookupKey string
	// MetadataPlan, when set, replaces Plan in metadata.plan (a checkout
	// whose metadata disagrees with its price); "-" leaves metadata.plan out.
	MetadataPlan string
	// Livemode marks the event and session as live mode (test mode when
	// false, what `clawctl` and dev checkouts send).
	Livemode bool
}

// NewID returns a Stripe-looking id with prefix (evt_, cs_test_, cus_, sub_).
func NewID(prefix string) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return prefix + hex.EncodeToString(b)
}

// Fill gives every empty id a fresh value and Created the current time.
func (c *Checkout) Fill() {
	for _, f := range []struct {
		p      *string
		prefix string
	}{{&c.EventID, "evt_"}, {&c.SessionID, "cs_test_"}, {&c.CustomerID, "cus_"}, {&c.SubscriptionID, "sub_"}} {
		if *f.p == "" {
			*f.p = NewID(f.prefix)
		}
	}
	if c.Created.IsZero() {
		c.Created = time.Now()
	}
}

// CheckoutCompleted returns the JSON body of a checkout.session.completed
// event. Its session carries line_items expanded, as a session retrieved
// with expand[]=line_items does (Stripe's own webhooks leave them out and
// the ingress then fetches them with its secret key): without a key, they
// are how the ingress learns the price paid.
func CheckoutCompleted(c Checkout) []byte {
	c.Fill()
	meta := map[string]any{"plan": c.Plan}
	switch c.MetadataPlan {
	case "":
	case "-":
		delete(meta, "plan")
	default:
		meta["plan"] = c.MetadataPlan
	}
	session := map[string]any{
		"id":                  c.SessionID,
		"object":              "checkout.session",
		"mode":                "subscription",
		"status":              "complete",
		"payment_status":      "paid",
		"livemode":            c.Livemode,
		"currency":            "usd",
		"amount_subtotal":     c.AmountCents,
		"amount_total":        c.AmountCents,
		"created":             c.Created.Unix(),
		"expires_at":          c.Created.Add(24 * time.Hour).Unix(),
		"customer":            c.CustomerID,
		"customer_email":      c.Email,
		"subscription":        c.SubscriptionID,
		"client_reference_id": nil,
		"success_url":         "https://app.clawdbot.cloud/welcome?session_id={CHECKOUT_SESSION_ID}",
		"customer_details": map[string]any{
			"email":      c.Email,
			"name":       c.Name,
			"phone":      nil,
			"tax_exempt": "none",
			"address":    nil,
		},
		"metadata":   meta,
		"line_items": lineItems(c),
	}
	if c.RevealHash != "" {
		meta["reveal_hash"] = c.RevealHash
	}
	return envelope(c.EventID, "checkout.session.completed", c.Created, c.Livemode, session, nil)
}

// lineItems is the expanded line_items list of c's session: one item of
// the price paid.
func lineItems(c Checkout) map[string]any {
	p := priceObject(price(c.PriceID, c.Plan))
	p["livemode"] = c.Livemode
	if c.LookupKey != "" {
		p["lookup_key"] = c.LookupKey
	}
	return map[string]any{"object": "list", "has_more": false, "url": "/v1/checkout/sessions/" + c.SessionID + "/line_items",
		"data": []any{map[string]any{
			"id": "li_" + c.SessionID[len("cs_"):], "object": "item", "quantity": 1, "currency": "usd",
			"amount_subtotal": c.AmountCents, "amount_total": c.AmountCents, "description": "Clawdbot " + c.Plan,
			"price": p,
		}}}
}

// Event wraps object in a Stripe event envelope of the given type.
func Event(id, typ string, created time.Time, object map[string]any) []byte {
	return eventWith(id, typ, created, object, nil)
}

// eventWith is Event with data.previous_attributes (nil: none), as
// *.updated events carry it.
func eventWith(id, typ string, created time.Time, object, previous map[string]any) []byte {
	return envelope(id, typ, created, false, object, previous)
}

// envelope wraps object (and previous, nil: none) in an event of the given
// mode.
func envelope(id, typ string, created time.Time, livemode bool, object, previous map[string]any) []byte {
	data := map[string]any{"object": object}
	if previous != nil {
		data["previous_attributes"] = previous
	}
	ev := map[string]any{
		"id":               id,
		"object":           "event",
		"api_version":      APIVersion,
		"created":          created.Unix(),
		"data":             data,
		"livemode":         livemode,
		"pending_webhooks": 1,
		"request":          map[string]any{"id": nil, "idempotency_key": nil},
		"type":             typ,
	}
	b, err := json.Marshal(ev)
	if err != nil {
		panic(err) // only plain maps and strings
	}
	return b
}

// Sign returns the Stripe-Signature header for payload signed with secret at t.
func Sign(payload []byte, secret string, t time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{
		Payload: payload, Secret: secret, Timestamp: t,
	}).Header
}
