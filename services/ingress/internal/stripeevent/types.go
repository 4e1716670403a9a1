package stripeevent

import "github.com/stripe/stripe-go/v76"

// Signup event types: the delivery that means a subscription checkout is done.
// A session paid by an asynchronous method (SEPA debit, say) completes with
// payment_status "unpaid"; async_payment_succeeded follows once it settles.
const (
	CheckoutCompleted             = stripe.EventTypeCheckoutSessionCompleted
	CheckoutAsyncPaymentSucceeded = stripe.EventTypeCheckoutSessionAsyncPaymentSucceeded
)

// known are the event types the platform subscribes its endpoint to (see
// ../shared/reference/stripe.md). Only these appear as metric labels, so a
// flood of other types cannot grow the label set.
var known = map[stripe.EventType]bool{
	stripe.EventTypeCheckoutSessionCompleted:             true,
	stripe.EventTypeCheckoutSessionAsyncPaymentSucceeded: true,
	stripe.EventTypeCheckoutSessionAsyncPaymentFailed:    true,
	stripe.EventTypeCheckoutSessionExpired:               true,
	stripe.EventTypeCustomerSubscriptionCreated:          true,
	stripe.EventTypeCustomerSubscriptionUpdated:          true,
	stripe.EventTypeCustomerSubscriptionDeleted:          true,
	stripe.EventTypeCustomerSubscriptionPaused:           true,
	stripe.EventTypeCustomerSubscriptionResumed:          true,
	stripe.EventTypeCustomerSubscriptionTrialWillEnd:     true,
	stripe.EventTypeInvoicePaid:                          true,
	stripe.EventTypeInvoicePaymentFailed:                 true,
}

// OtherType is the metric label of every event type not in the known set,
// and of deliveries whose type is not known because they were refused
// before it could be trusted.
const OtherType = "other"

// TypeLabel returns t as a metric label: t itself when it is a known type,
// OtherType otherwise.
func TypeLabel(t stripe.EventType) string {
	if known[t] {
		return string(t)
	}
	return OtherType
}

// IsSignup reports whether t is a delivery that can start a signup.
func IsSignup(t stripe.EventType) bool {
	return t == CheckoutCompleted || t == CheckoutAsyncPaymentSucceeded
}
