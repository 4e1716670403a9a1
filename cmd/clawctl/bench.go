package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"

	"clawdbot.cloud/cmd/clawctl/internal/bench"
	"clawdbot.cloud/cmd/clawctl/internal/platform"
)

func runBench(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	n := fs.Int("n", 50, "signups per phase (sequential, then concurrent)")
	target := fs.String("url", "", "ingress of a running platform (default: start one in a temporary directory)")
	secret := fs.String("secret", envOr("STRIPE_WEBHOOK_SECRET", platform.DevWebhookSecret), "webhook secret of --url's platform")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ingress, whsec := strings.TrimRight(*target, "/"), *secret
	if ingress == "" {
		dir, err := os.MkdirTemp("", "clawctl-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		// The private Postgres runs as an unprivileged user when we are
		// root; it must be able to traverse into the directory.
		if err := os.Chmod(dir, 0o711); err != nil {
			return err
		}
		env, err := bench.IsolatedEnv(dir)
		if err != nil {
			return err
		}
		log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		p, err := platform.Start(ctx, platform.Options{DataDir: dir, Env: env, Log: log})
		if err != nil {
			return err
		}
		defer p.Stop() //nolint:errcheck
		ingress, whsec = p.IngressURL, p.WebhookSecret
		fmt.Printf("platform started in %s\n", dir)
	}
	for _, phase := range []struct {
		name        string
		concurrency int
	}{{"sequential", 1}, {"concurrent", *n}} {
		r, err := bench.Signups(ctx, ingress, whsec, *n, phase.concurrency)
		if err != nil {
			return fmt.Errorf("%s: %w", phase.name, err)
		}
		fmt.Printf("%-10s n=%d ready=%d p50=%v p99=%v max=%v wall=%v\n", phase.name, *n, r.Ready, r.P50, r.P99, r.Max, r.Wall)
	}
	return nil
}

// redact hides the password of a database URL.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}
