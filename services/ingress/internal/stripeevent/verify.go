// Package stripeevent turns a Stripe webhook delivery into the platform's
// terms: it verifies the Stripe-Signature header, parses the few fields of a
// Checkout Session, Subscription or Invoice the platform uses (defensively:
// a field that is missing, mistyped or malformed is refused, never trusted),
// and maps a completed subscription checkout onto customer.signed_up and the
// subscription and invoice events onto the customer.* lifecycle events
// (ParseLifecycle).
//
// API version: the platform is built and tested against Stripe API version
// 2023-10-16, the version stripe-go v76 pins (APIVersion). Operators
// must create the webhook endpoint with that version (Dashboard → Developers
// → Webhooks → API version, or `stripe webhook_endpoints create
// --api-version 2023-10-16`). Events of another version are still accepted
// (IgnoreAPIVersionMismatch): this package reads data.object itself and
// only touches fields whose shape has been stable across versions, and
// refusing an authentic event would make Stripe retry it for three days
// without any chance of success, stalling every signup after an account
// upgrade. A mismatch is reported (Verified.APIVersionMismatch) so it can be
// counted and logged.
package stripeevent

import (
	"errors"
	"fmt"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"
)

// Tolerance is how old a signature's timestamp may be: Stripe's own default,
// which bounds how long a captured delivery can be replayed.
const Tolerance = 300 * time.Second

// APIVersion is the Stripe API version the platform is built and tested
// against, and the one an operator configures on the webhook endpoint.
const APIVersion = stripe.APIVersion

// ErrSignature is wrapped by every error about the Stripe-Signature header:
// it is absent, malformed, too old, or signed with another secret. The
// wrapped stripe-go sentinel (webhook.ErrNotSigned, ErrInvalidHeader,
// ErrTooOld, ErrNoValidSignature) says which.
var ErrSignature = errors.New("invalid Stripe-Signature")

// ErrPayload is wrapped by every error about an authentic delivery whose
// body the platform cannot use: malformed JSON, a missing id, an object of
// the wrong shape.
var ErrPayload = errors.New("invalid payload")

// Verifier checks deliveries against one webhook endpoint's signing secret.
type Verifier struct {
	secret string
}

// NewVerifier returns a Verifier for the endpoint secret (whsec_...).
func NewVerifier(secret string) *Verifier { return &Verifier{secret: secret} }

// Verified is an authentic Stripe event.
type Verified struct {
	stripe.Event
	// APIVersionMismatch is set when the endpoint sends events of another
	// API version than APIVersion (see the package comment).
	APIVersionMismatch bool
}

// Verify checks header against payload and parses the event envelope. Its
// errors wrap ErrSignature or ErrPayload. The signature is checked before
// anything in payload is looked at.
func (v *Verifier) Verify(payload []byte, header string) (Verified, error) {
	evt, err := webhook.ConstructEventWithOptions(payload, header, v.secret, webhook.ConstructEventOptions{
		Tolerance:                Tolerance,
		IgnoreAPIVersionMismatch: true,
	})
	if err != nil {
		for _, sig := range []error{webhook.ErrNotSigned, webhook.ErrInvalidHeader, webhook.ErrTooOld, webhook.ErrNoValidSignature} {
			if errors.Is(err, sig) {
				return Verified{}, fmt.Errorf("%w: %w", ErrSignature, err)
			}
		}
		// Anything else comes from decoding the (authentic) body.
		return Verified{}, fmt.Errorf("%w: %w", ErrPayload, err)
	}
	if !ValidEventID(evt.ID) {
		return Verified{}, fmt.Errorf("%w: event id %q", ErrPayload, clip(evt.ID))
	}
	if evt.Type == "" {
		return Verified{}, fmt.Errorf("%w: event %s has no type", ErrPayload, evt.ID)
	}
	return Verified{Event: evt, APIVersionMismatch: evt.APIVersion != APIVersion}, nil
}

// clip shortens attacker-influenced text before it lands in an error.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
