package billing

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/stripe/stripe-go/v76"

	"clawdbot.cloud/services/ingress/internal/stripeevent"
)

// maxLineItems bounds how many line items of one session are read: a
// subscription checkout has one per price, and the platform sells one.
const maxLineItems = 100

// LineItems returns the prices a Checkout Session was paid at, read from
// Stripe (GET /v1/checkout/sessions/{id}/line_items): Stripe's webhooks do
// not carry them, and the plan must come from the price paid, not from the
// session's metadata alone. The session id is not in its errors.
func (c *Client) LineItems(ctx context.Context, checkoutSessionID string) ([]stripeevent.Price, error) {
	params := &stripe.CheckoutSessionListLineItemsParams{Session: stripe.String(checkoutSessionID)}
	params.Limit = stripe.Int64(maxLineItems)
	params.Context = ctx
	it := c.checkout.ListLineItems(params)
	var out []stripeevent.Price
	for it.Next() && len(out) < maxLineItems {
		li := it.LineItem()
		if li.Price == nil || li.Price.ID == "" {
			continue
		}
		out = append(out, stripeevent.Price{ID: li.Price.ID, LookupKey: li.Price.LookupKey})
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("list checkout %s line items: %w", stripeevent.Ref(checkoutSessionID), err)
	}
	return out, nil
}

// Refused reports whether err is Stripe refusing a request for good (a 4xx
// other than 429: the object does not exist in this account or mode, the
// key lacks the permission), as opposed to a failure worth retrying.
func Refused(err error) bool {
	var se *stripe.Error
	return errors.As(err, &se) && se.HTTPStatusCode >= 400 && se.HTTPStatusCode < 500 &&
		se.HTTPStatusCode != http.StatusTooManyRequests
}
