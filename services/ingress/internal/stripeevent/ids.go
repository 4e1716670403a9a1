package stripeevent

import "strings"

// maxIDLen bounds every Stripe id the platform accepts. Stripe's ids are far
// shorter (a live Checkout Session id is about 66 characters); the bound
// keeps hostile input out of subjects, headers and primary keys.
const maxIDLen = 255

// validID reports whether s is prefix followed by 1 to maxIDLen-len(prefix)
// ASCII letters, digits or underscores, the alphabet of Stripe ids.
func validID(s, prefix string) bool {
	if len(s) <= len(prefix) || len(s) > maxIDLen || !strings.HasPrefix(s, prefix) {
		return false
	}
	for i := len(prefix); i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// ValidCheckoutSessionID reports whether s looks like a Checkout Session id
// (cs_test_... or cs_live_...). The provisioning API checks ids with it
// before touching the database.
func ValidCheckoutSessionID(s string) bool { return validID(s, "cs_") }

// ValidEventID reports whether s looks like a Stripe event id (evt_...). It
// becomes a Nats-Msg-Id and a primary key.
func ValidEventID(s string) bool { return validID(s, "evt_") }

// ValidCustomerID reports whether s looks like a Stripe customer id (cus_...),
// which is the platform's customer id.
func ValidCustomerID(s string) bool { return validID(s, "cus_") }

// ValidSubscriptionID reports whether s looks like a subscription id (sub_...).
func ValidSubscriptionID(s string) bool { return validID(s, "sub_") }
