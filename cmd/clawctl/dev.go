package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"clawdbot.cloud/cmd/clawctl/internal/platform"
	"clawdbot.cloud/pkg/service"
)

func newDevCmd() *cobra.Command {
	var (
		dataDir string
		opsBase int
	)
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the whole platform on embedded defaults (what make run does)",
		Args:  positional(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDev(cmd.Context(), cmd.OutOrStdout(), dataDir, opsBase)
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", ".data", "data directory (env CLAW_DATA_DIR wins)")
	cmd.Flags().IntVar(&opsBase, "ops-port-base", 9101, "service i serves /metrics, /healthz, /readyz on this port + i")
	return cmd
}

func runDev(ctx context.Context, w io.Writer, dataDir string, opsBase int) error {
	// Each service adds its own "service" attribute.
	format := os.Getenv("LOG_FORMAT")
	if format == "" {
		format = "text"
	}
	log := service.NewLogger(format, "")
	p, err := platform.Start(ctx, platform.Options{DataDir: dataDir, Env: os.LookupEnv, Log: log, OpsPortBase: opsBase})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, `
Clawdbot Cloud is running (Ctrl-C stops everything).
  web app (sign up, dashboard)                 %s
  ingress (Stripe webhooks, provisioning API)  %s
  NATS                                         %s
`, p.WebURL, p.IngressURL, p.NATSURL)
	if p.NATSPassword("operator") != "" {
		fmt.Fprintf(w, "    (as the operator: password in %s; docs/runbooks/nats-auth.md)\n", filepath.Join(envOr("CLAW_DATA_DIR", dataDir), platform.NATSAuthDir, "operator.password"))
	}
	fmt.Fprintf(w, "  control-plane database                       %s\n", redact(p.DatabaseURL))
	fmt.Fprintf(w, "  Stripe webhook secret                        %s\n", p.WebhookSecret)
	if p.WebhookSecret == platform.DevWebhookSecret {
		fmt.Fprintln(w, "    (the dev default; set STRIPE_WEBHOOK_SECRET for anything real)")
	}
	if os.Getenv("ADMIN_TOKEN") == "" {
		fmt.Fprintf(w, "  admin token (clawctl customer/sagas/…)        %s (dev default)\n", platform.DevAdminToken)
	}
	fmt.Fprintln(w, "  ops endpoints (/metrics /healthz /readyz):")
	for _, s := range platform.Services {
		fmt.Fprintf(w, "    %-10s http://%s\n", s.Name, p.Ops[s.Name])
	}
	fmt.Fprintf(w, "\nOpen %s to sign up in the browser, or: go run ./cmd/clawctl signup --email ada@example.com --plan pro\n\n", p.WebURL)
	<-ctx.Done()
	fmt.Fprintln(w, "stopping…")
	return p.Stop()
}
