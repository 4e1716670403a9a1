package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"clawdbot.cloud/cmd/clawctl/internal/platform"
	"clawdbot.cloud/pkg/service"
)

func runDev(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	dataDir := fs.String("data", ".data", "data directory (env CLAW_DATA_DIR wins)")
	opsBase := fs.Int("ops-port-base", 9101, "service i serves /metrics, /healthz, /readyz on this port + i")
	if err := fs.Parse(args); err != nil {
		return err
	}
	// Each service adds its own "service" attribute.
	format := os.Getenv("LOG_FORMAT")
	if format == "" {
		format = "text"
	}
	log := service.NewLogger(format, "")
	p, err := platform.Start(ctx, platform.Options{DataDir: *dataDir, Env: os.LookupEnv, Log: log, OpsPortBase: *opsBase})
	if err != nil {
		return err
	}
	fmt.Printf(`
Clawdbot Cloud is running (Ctrl-C stops everything).
  web app (sign up, dashboard)                 %s
  ingress (Stripe webhooks, provisioning API)  %s
  NATS                                         %s
  control-plane database                       %s
  Stripe webhook secret                        %s
`, p.WebURL, p.IngressURL, p.NATSURL, redact(p.DatabaseURL), p.WebhookSecret)
	if p.WebhookSecret == platform.DevWebhookSecret {
		fmt.Println("    (the dev default; set STRIPE_WEBHOOK_SECRET for anything real)")
	}
	if os.Getenv("ADMIN_TOKEN") == "" {
		fmt.Printf("  admin token (clawctl customer/sagas/…)        %s (dev default)\n", platform.DevAdminToken)
	}
	fmt.Println("  ops endpoints (/metrics /healthz /readyz):")
	for _, s := range platform.Services {
		fmt.Printf("    %-10s http://%s\n", s.Name, p.Ops[s.Name])
	}
	fmt.Printf("\nOpen %s to sign up in the browser, or: go run ./cmd/clawctl signup --email ada@example.com --plan pro\n\n", p.WebURL)
	<-ctx.Done()
	fmt.Println("stopping…")
	return p.Stop()
}
