package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"clawdbot.cloud/cmd/clawctl/internal/platform"
	"clawdbot.cloud/cmd/clawctl/internal/signup"
	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/stripefixture"
)

func runSignup(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("signup", flag.ContinueOnError)
	email := fs.String("email", "", "customer email (required)")
	name := fs.String("name", "", "customer name (default: from the email)")
	plan := fs.String("plan", "starter", "plan id: starter, pro or team")
	url := fs.String("url", envOr("CLAW_INGRESS_URL", "http://127.0.0.1:8080"), "ingress URL")
	secret := fs.String("secret", envOr("STRIPE_WEBHOOK_SECRET", platform.DevWebhookSecret), "Stripe webhook secret the platform runs with")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *email == "" {
		return fmt.Errorf("signup: --email is required")
	}
	if *name == "" {
		*name = strings.Split(*email, "@")[0]
	}
	co := stripefixture.Checkout{Email: *email, Name: *name, Plan: *plan}
	co.Fill()
	// The session id is never printed or logged (it names the provisioning
	// page): its checkout_ref stands for it.
	fmt.Printf("→ checkout.session.completed, checkout_ref %s (customer %s, subscription %s, plan %s)\n",
		names.CheckoutRef(co.SessionID), co.CustomerID, co.SubscriptionID, *plan)
	res, err := signup.Run(ctx, signup.Options{
		IngressURL: strings.TrimRight(*url, "/"), Secret: *secret, Checkout: co,
		Progress: func(s signup.Step) { fmt.Printf("  %-10s %s\n", s.Name, s.Status) },
	})
	if err != nil {
		return err
	}
	fmt.Printf("\n✓ ready in %v\n  instance URL  %s\n  API key       %s\n  (the key is shown once; store it now)\n\n",
		res.Latency.Round(1e6), res.Status.InstanceURL, res.Status.APIKey)
	fmt.Printf("Try: curl -H \"Authorization: Bearer %s\" %s/status\n", res.Status.APIKey, res.Status.InstanceURL)
	return nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
