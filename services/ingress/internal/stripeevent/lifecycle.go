package stripeevent

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/stripe/stripe-go/v76"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"clawdbot.cloud/pkg/plans"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
)

// Lifecycle event types: the deliveries that move a customer after signup.
const (
	SubscriptionUpdated      = stripe.EventTypeCustomerSubscriptionUpdated
	SubscriptionTrialWillEnd = stripe.EventTypeCustomerSubscriptionTrialWillEnd
	SubscriptionDeleted      = stripe.EventTypeCustomerSubscriptionDeleted
	InvoicePaymentFailed     = stripe.EventTypeInvoicePaymentFailed
	InvoicePaid              = stripe.EventTypeInvoicePaid
)

// LifecycleTypes are the lifecycle event types, in a stable order.
var LifecycleTypes = []stripe.EventType{
	SubscriptionUpdated, SubscriptionTrialWillEnd, SubscriptionDeleted, InvoicePaymentFailed, InvoicePaid,
}

// IsLifecycle reports whether t is a lifecycle event type.
func IsLifecycle(t stripe.EventType) bool { return slices.Contains(LifecycleTypes, t) }

// ErrNoChange is wrapped when a lifecycle event is authentic and well formed
// but asks nothing of the platform: a subscription update that leaves the
// plan as it was, an invoice not tied to a subscription. Such a delivery is
// acknowledged and ignored.
var ErrNoChange = errors.New("nothing to do")

// PriceMap maps a Stripe price id to its plan: plans.Prices. Its errors
// wrap plans.ErrUnknownPlan.
type PriceMap interface {
	Plan(priceID string) (plans.Plan, error)
}

// Lifecycle is the domain event a lifecycle delivery becomes.
type Lifecycle struct {
	// Subject is where Msg is published (proto/subjects).
	Subject string
	Msg     proto.Message
	// CustomerID is the platform customer (a valid cus_ id). The customer
	// may be unknown to the platform: the saga decides what that means.
	CustomerID string
}

// ParseLifecycle maps an authentic lifecycle event onto its domain event.
// Errors wrap ErrPayload (unusable body), ErrNoChange (nothing to do) or
// plans.ErrUnknownPlan (a new price that maps to no plan).
func ParseLifecycle(evt Verified, prices PriceMap) (Lifecycle, error) {
	if evt.Data == nil || len(evt.Data.Raw) == 0 {
		return Lifecycle{}, fmt.Errorf("%w: event %s has no data.object", ErrPayload, evt.ID)
	}
	switch evt.Type {
	case SubscriptionUpdated, SubscriptionTrialWillEnd, SubscriptionDeleted:
		sub, err := ParseSubscription(evt.Data.Raw)
		if err != nil {
			return Lifecycle{}, err
		}
		ref := stripeRef(evt, sub.ID)
		out := Lifecycle{CustomerID: sub.CustomerID}
		switch evt.Type {
		case SubscriptionUpdated:
			plan, previous, err := planChange(sub, evt.Data.PreviousAttributes, prices)
			if err != nil {
				return Lifecycle{}, err
			}
			out.Subject = subjects.CustomerPlanChanged
			out.Msg = &pb.CustomerPlanChanged{Stripe: ref, CustomerId: sub.CustomerID, Plan: plan, PreviousPlan: previous}
		case SubscriptionTrialWillEnd:
			out.Subject = subjects.CustomerTrialWillEnd
			out.Msg = &pb.CustomerTrialWillEnd{Stripe: ref, CustomerId: sub.CustomerID, TrialEnd: timestamp(sub.TrialEnd)}
		default:
			out.Subject = subjects.CustomerCanceled
			out.Msg = &pb.CustomerCanceled{Stripe: ref, CustomerId: sub.CustomerID}
		}
		return out, nil
	case InvoicePaymentFailed, InvoicePaid:
		in, err := ParseInvoice(evt.Data.Raw)
		if err != nil {
			return Lifecycle{}, err
		}
		if in.SubscriptionID == "" {
			return Lifecycle{}, fmt.Errorf("%w: invoice %s bills no subscription", ErrNoChange, in.ID)
		}
		ref := stripeRef(evt, in.SubscriptionID)
		out := Lifecycle{CustomerID: in.CustomerID}
		if evt.Type == InvoicePaid {
			out.Subject = subjects.CustomerPaymentSucceeded
			out.Msg = &pb.CustomerPaymentSucceeded{Stripe: ref, CustomerId: in.CustomerID, InvoiceId: in.ID}
		} else {
			out.Subject = subjects.CustomerPaymentFailed
			out.Msg = &pb.CustomerPaymentFailed{
				Stripe: ref, CustomerId: in.CustomerID, InvoiceId: in.ID,
				AttemptCount: in.AttemptCount, NextPaymentAttempt: timestamp(in.NextPaymentAttempt),
			}
		}
		return out, nil
	}
	return Lifecycle{}, fmt.Errorf("%w: %s is not a lifecycle event", ErrNoChange, clip(string(evt.Type)))
}

// planChange returns the plan sub now has and, when the update's
// previous_attributes name a price of a known plan, the plan it had.
//
// The saga, not the ingress, decides whether the plan changed: it compares
// the plan with the customer's recorded state and ignores an update that
// leaves it as it is. So an update whose previous_attributes do not mention
// the price (a status or quantity change, a renewal) still carries the plan
// the subscription is on: if an earlier price change was lost or refused,
// the next update of any kind puts the customer on the plan they pay for.
// previous_attributes are only a hint (PreviousPlan, for the records).
//
// A price that maps to no plan wraps plans.ErrUnknownPlan when the update
// changed the price, and ErrNoChange when it did not (the customer already
// sat on that price, so refusing this delivery would only make Stripe retry
// an event nothing can act on).
func planChange(sub Subscription, prev map[string]any, prices PriceMap) (plan, previous string, err error) {
	prevIDs, touched, err := previousPrices(prev)
	if err != nil {
		return "", "", err
	}
	priceChanged := touched && !slices.Equal(prevIDs, sub.PriceIDs)
	plan, err = planOf(sub.PriceIDs, prices)
	if err != nil {
		if !priceChanged {
			return "", "", fmt.Errorf("%w: subscription %s: price unchanged and %w", ErrNoChange, sub.ID, err)
		}
		return "", "", fmt.Errorf("subscription %s: %w", sub.ID, err)
	}
	if touched {
		previous, _ = planOf(prevIDs, prices)
	}
	return plan, previous, nil
}

// planOf returns the plan of the first price in ids that maps to one.
func planOf(ids []string, prices PriceMap) (string, error) {
	if len(ids) == 0 {
		return "", fmt.Errorf("%w: subscription has no price", plans.ErrUnknownPlan)
	}
	var first error
	for _, id := range ids {
		p, err := prices.Plan(id)
		if err == nil {
			return p.ID, nil
		}
		if first == nil {
			first = err
		}
	}
	return "", first
}

func stripeRef(evt Verified, subscriptionID string) *pb.StripeRef {
	return &pb.StripeRef{EventId: evt.ID, Created: timestamp(evt.Created), SubscriptionId: subscriptionID}
}

// maxUnix is the last second protobuf timestamps can carry (9999-12-31).
const maxUnix = 253402300799

// timestamp returns Unix seconds as a protobuf timestamp, or nil when unset
// or out of the range a timestamp can encode (which would make the event
// unpublishable, and Stripe retry it for three days).
func timestamp(unix int64) *timestamppb.Timestamp {
	if unix <= 0 || unix > maxUnix {
		return nil
	}
	return timestamppb.New(time.Unix(unix, 0))
}
