package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"clawdbot.cloud/cmd/clawctl/internal/signup"
	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/stripefixture"
)

func newSignupCmd() *cobra.Command {
	var (
		email, name, plan, url, secret string
		asJSON                         bool
	)
	cmd := &cobra.Command{
		Use:   "signup --email EMAIL [--plan starter|pro|team]",
		Short: "Send a signed checkout.session.completed and follow provisioning to the credentials",
		Args:  positional(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if email == "" {
				return usageErrorf("signup: --email is required")
			}
			if name == "" {
				name = strings.Split(email, "@")[0]
			}
			w := cmd.OutOrStdout()
			co := stripefixture.Checkout{Email: email, Name: name, Plan: plan}
			co.Fill()
			// The session id is never printed or logged (it names the
			// provisioning page): its checkout_ref stands for it.
			ref := names.CheckoutRef(co.SessionID)
			if !asJSON {
				fmt.Fprintf(w, "→ checkout.session.completed, checkout_ref %s (customer %s, subscription %s, plan %s)\n",
					ref, co.CustomerID, co.SubscriptionID, plan)
			}
			res, err := signup.Run(cmd.Context(), signup.Options{
				IngressURL: strings.TrimRight(url, "/"), Secret: secret, Checkout: co,
				Progress: func(s signup.Step) {
					if !asJSON {
						fmt.Fprintf(w, "  %-10s %s\n", s.Name, s.Status)
					}
				},
			})
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(w, map[string]any{
					"checkout_ref": ref, "customer_id": co.CustomerID, "subscription_id": co.SubscriptionID, "plan": plan,
					"latency_ms": res.Latency.Milliseconds(), "instance_url": res.Status.InstanceURL, "api_key": res.Status.APIKey,
				})
			}
			fmt.Fprintf(w, "\n✓ ready in %v\n  instance URL  %s\n  API key       %s\n  (the key is shown once; store it now)\n\n",
				res.Latency.Round(1e6), res.Status.InstanceURL, res.Status.APIKey)
			fmt.Fprintf(w, "Try: curl -H \"Authorization: Bearer %s\" %s/status\n", res.Status.APIKey, res.Status.InstanceURL)
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&email, "email", "", "customer email (required)")
	fs.StringVar(&name, "name", "", "customer name (default: from the email)")
	fs.StringVar(&plan, "plan", "starter", "plan id: starter, pro or team")
	urlFlag(fs, &url)
	secretFlag(fs, &secret)
	jsonFlag(fs, &asJSON)
	return cmd
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
