// Package names derives every per-customer resource name and secret
// reference from the customer and saga ids, deterministically, so a retried
// create finds what already exists.
package names

import (
	"crypto/sha256"
	"encoding/hex"
)

// Slug is a short, lowercase, identifier-safe name for a customer: 32 hex
// digits (128 bits) of a domain-separated SHA-256 of the customer id. It
// names the customer's resources outside the platform (Neon and Railway
// consoles, Postgres roles, directories, archive keys), where a customer id
// must not appear: it is the key to the customer's billing records. Distinct
// ids never collide (Stripe ids are case-sensitive) and the result is a
// valid Postgres identifier once prefixed with a letter.
//
// The hash is not keyed. Stripe customer ids carry about 80 bits of
// randomness, so the name cannot be turned back into the id, nor an id
// guessed and confirmed; someone who already holds a customer id can find
// that customer's resources, which anyone with console access can do by
// other means anyway. A keyed hash would tie every resource name to a key
// all services share and could never rotate.
func Slug(customerID string) string {
	sum := sha256.Sum256([]byte("clawdbot.cloud/names/v2\x00" + customerID))
	return hex.EncodeToString(sum[:16])
}

// Database is the customer's database (and role) name.
func Database(customerID string) string { return "claw_" + Slug(customerID) }

// Service is the customer's compute service name.
func Service(customerID string) string {
	return "claw-" + Slug(customerID)
}

// DatabaseRef is the secret reference of the customer's database URL.
func DatabaseRef(customerID string) string { return "db/" + customerID }

// APIKeyRevealRef is the secret reference of a saga's one-time key reveal.
func APIKeyRevealRef(sagaID string) string { return "apikey/" + sagaID }

// SignupSagaPrefix begins the id of every signup saga.
const SignupSagaPrefix = "signup-"

// SignupSagaID is the saga id of the signup started by a checkout session:
// SignupSagaPrefix and 32 hex digits (128 bits) of the session id's SHA-256.
// The id is deterministic, so every delivery of a checkout names the same
// saga, but it does not contain the session id: saga ids are logged and
// shown everywhere, and the session id must not be (it identifies the
// paying browser's checkout).
func SignupSagaID(checkoutSessionID string) string {
	sum := sha256.Sum256([]byte(checkoutSessionID))
	return SignupSagaPrefix + hex.EncodeToString(sum[:16])
}

// CheckoutRef is what logs say instead of a Checkout Session id: the first
// 12 hex digits of its SHA-256. It correlates the lines of one checkout
// without letting a log reader reach its provisioning page (log it as
// attribute checkout_ref).
func CheckoutRef(checkoutSessionID string) string {
	sum := sha256.Sum256([]byte(checkoutSessionID))
	return hex.EncodeToString(sum[:6])
}

// InstanceTokenRef is the secret reference of the token the platform uses to
// read an instance's /status (usage) without a customer key.
func InstanceTokenRef(customerID string) string { return "instance-token/" + customerID }

// ArchiveRef is the reference of the customer's archive in archive storage.
func ArchiveRef(customerID string) string { return "archive/" + Slug(customerID) }
