package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"strings"
	"time"

	"clawdbot.cloud/cmd/clawctl/internal/platform"
	"clawdbot.cloud/cmd/clawctl/internal/signup"
	"clawdbot.cloud/pkg/stripefixture"
)

const stripeUsage = `usage: clawctl stripe <event> --customer cus_… --subscription sub_… [flags]

Sends a lifecycle webhook exactly as Stripe would, signed with the platform's
webhook secret (what Stripe does after a customer acts in the billing portal):

  plan-change --plan pro [--from starter]   customer.subscription.updated with the plan's price
  trial-ending                              customer.subscription.trial_will_end
  payment-failed                            invoice.payment_failed
  payment-succeeded                         invoice.paid
  cancel                                    customer.subscription.deleted
`

// runStripe sends one signed lifecycle event to the ingress.
func runStripe(ctx context.Context, args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Print(stripeUsage)
		return errors.New("stripe: name an event")
	}
	event := args[0]
	fs := flag.NewFlagSet("stripe "+event, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), stripeUsage) }
	customer := fs.String("customer", "", "Stripe customer id (cus_…), as clawctl signup printed it")
	subscription := fs.String("subscription", "", "Stripe subscription id (sub_…), as clawctl signup printed it")
	plan := fs.String("plan", "", "plan-change: the new plan")
	from := fs.String("from", "", "plan-change: the previous plan (optional)")
	url := fs.String("url", envOr("CLAW_INGRESS_URL", "http://127.0.0.1:8080"), "ingress URL")
	secret := fs.String("secret", envOr("STRIPE_WEBHOOK_SECRET", platform.DevWebhookSecret), "Stripe webhook secret the platform runs with")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *customer == "" || *subscription == "" {
		return errors.New("stripe: --customer and --subscription are required")
	}
	now := time.Now()
	sub := stripefixture.Subscription{CustomerID: *customer, SubscriptionID: *subscription, Plan: *plan, PreviousPlan: *from, Created: now}
	inv := stripefixture.Invoice{CustomerID: *customer, SubscriptionID: *subscription, Created: now}
	var body []byte
	switch event {
	case "plan-change":
		if *plan == "" {
			return errors.New("stripe plan-change: --plan is required")
		}
		if sub.PreviousPlan == "" {
			// Stripe names the old price in previous_attributes; without
			// --from it is one the platform does not know.
			sub.PreviousPriceID = "price_previous"
		}
		sub.Fill()
		body = stripefixture.SubscriptionUpdated(sub)
	case "trial-ending":
		sub.TrialEnd = now.Add(72 * time.Hour)
		sub.Fill()
		body = stripefixture.TrialWillEnd(sub)
	case "payment-failed":
		inv.Fill()
		body = stripefixture.InvoicePaymentFailed(inv)
	case "payment-succeeded":
		inv.Fill()
		body = stripefixture.InvoicePaid(inv)
	case "cancel":
		sub.Fill()
		body = stripefixture.SubscriptionDeleted(sub)
	default:
		fmt.Print(stripeUsage)
		return fmt.Errorf("stripe: unknown event %q", event)
	}
	if err := signup.Post(ctx, &http.Client{Timeout: 10 * time.Second}, strings.TrimRight(*url, "/"), *secret, body); err != nil {
		return err
	}
	fmt.Printf("→ %s accepted for %s; follow it with: clawctl customer %s\n", event, *customer, *customer)
	return nil
}
