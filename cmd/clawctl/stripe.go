package main

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"clawdbot.cloud/cmd/clawctl/internal/signup"
	"clawdbot.cloud/pkg/stripefixture"
)

// stripeFlags are the flags of every stripe event.
type stripeFlags struct {
	customer, subscription, plan, from, url, secret string
	json                                            bool
}

// stripeEvent is a lifecycle event clawctl stripe sends, a subcommand: its
// help line and the body it builds.
type stripeEvent struct {
	name, short string
	body        func(f *stripeFlags, now time.Time) ([]byte, error)
}

// stripeEvents are the lifecycle events clawctl stripe sends.
func stripeEvents() []stripeEvent {
	return []stripeEvent{
		{"plan-change", "customer.subscription.updated with the new plan's price (--plan, optional --from)", func(f *stripeFlags, now time.Time) ([]byte, error) {
			if f.plan == "" {
				return nil, usageErrorf("stripe plan-change: --plan is required")
			}
			sub := f.sub(now)
			if sub.PreviousPlan == "" {
				// Stripe names the old price in previous_attributes; without
				// --from it is one the platform does not know.
				sub.PreviousPriceID = "price_previous"
			}
			sub.Fill()
			return stripefixture.SubscriptionUpdated(sub), nil
		}},
		{"trial-ending", "customer.subscription.trial_will_end", func(f *stripeFlags, now time.Time) ([]byte, error) {
			sub := f.sub(now)
			sub.TrialEnd = now.Add(72 * time.Hour)
			sub.Fill()
			return stripefixture.TrialWillEnd(sub), nil
		}},
		{"payment-failed", "invoice.payment_failed", func(f *stripeFlags, now time.Time) ([]byte, error) {
			inv := f.invoice(now)
			inv.Fill()
			return stripefixture.InvoicePaymentFailed(inv), nil
		}},
		{"payment-succeeded", "invoice.paid", func(f *stripeFlags, now time.Time) ([]byte, error) {
			inv := f.invoice(now)
			inv.Fill()
			return stripefixture.InvoicePaid(inv), nil
		}},
		{"cancel", "customer.subscription.deleted", func(f *stripeFlags, now time.Time) ([]byte, error) {
			sub := f.sub(now)
			sub.Fill()
			return stripefixture.SubscriptionDeleted(sub), nil
		}},
	}
}

func (f *stripeFlags) sub(now time.Time) stripefixture.Subscription {
	return stripefixture.Subscription{CustomerID: f.customer, SubscriptionID: f.subscription, Plan: f.plan, PreviousPlan: f.from, Created: now}
}

func (f *stripeFlags) invoice(now time.Time) stripefixture.Invoice {
	return stripefixture.Invoice{CustomerID: f.customer, SubscriptionID: f.subscription, Created: now}
}

// newStripeCmd is stripe <event>: one signed lifecycle webhook, exactly as
// Stripe sends it after a customer acts in the billing portal.
func newStripeCmd() *cobra.Command {
	var f stripeFlags
	cmd := &cobra.Command{
		Use:   "stripe EVENT --customer cus_… --subscription sub_…",
		Short: "Send a signed lifecycle webhook (plan-change, payment-failed, cancel, …)",
		Long: `Sends a lifecycle webhook exactly as Stripe would, signed with the platform's
webhook secret (what Stripe does after a customer acts in the billing portal).`,
		Args: noSubcommand,
		RunE: func(*cobra.Command, []string) error { return nil },
	}
	fs := cmd.PersistentFlags()
	fs.StringVar(&f.customer, "customer", "", "Stripe customer id (cus_…), as clawctl signup printed it (required)")
	fs.StringVar(&f.subscription, "subscription", "", "Stripe subscription id (sub_…), as clawctl signup printed it (required)")
	fs.StringVar(&f.plan, "plan", "", "plan-change: the new plan")
	fs.StringVar(&f.from, "from", "", "plan-change: the previous plan (optional)")
	urlFlag(fs, &f.url)
	secretFlag(fs, &f.secret)
	jsonFlag(fs, &f.json)
	for _, ev := range stripeEvents() {
		cmd.AddCommand(&cobra.Command{
			Use:   ev.name,
			Short: ev.short,
			Args:  positional(cobra.NoArgs),
			RunE: func(cmd *cobra.Command, _ []string) error {
				if f.customer == "" || f.subscription == "" {
					return usageErrorf("stripe: --customer and --subscription are required")
				}
				body, err := ev.body(&f, time.Now())
				if err != nil {
					return err
				}
				if err := signup.Post(cmd.Context(), &http.Client{Timeout: 10 * time.Second}, strings.TrimRight(f.url, "/"), f.secret, body); err != nil {
					return err
				}
				if f.json {
					return writeJSON(cmd.OutOrStdout(), map[string]string{"event": ev.name, "customer_id": f.customer, "subscription_id": f.subscription, "status": "accepted"})
				}
				fmt.Fprintf(cmd.OutOrStdout(), "→ %s accepted for %s; follow it with: clawctl customer %s\n", ev.name, f.customer, f.customer)
				return nil
			},
		})
	}
	return cmd
}
