package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"clawdbot.cloud/cmd/clawctl/internal/bench"
	"clawdbot.cloud/cmd/clawctl/internal/platform"
)

func newBenchCmd() *cobra.Command {
	var o benchOptions
	cmd := &cobra.Command{
		Use:   "bench [-n N] [--url URL]",
		Short: "Measure signup → instance ready latency (sequential and concurrent)",
		Args:  positional(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.n < 1 {
				return usageErrorf("bench: -n must be at least 1")
			}
			return runBench(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	fs := cmd.Flags()
	fs.IntVarP(&o.n, "signups", "n", 50, "signups per phase (sequential, then concurrent)")
	// --n, the standard flag package's spelling of -n, stays an alias.
	fs.SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if name == "n" {
			name = "signups"
		}
		return pflag.NormalizedName(name)
	})
	fs.StringVar(&o.url, "url", "", "ingress of a running platform (default: start one in a temporary directory)")
	secretFlag(fs, &o.secret)
	jsonFlag(fs, &o.json)
	return cmd
}

// benchOptions are bench's flags.
type benchOptions struct {
	n           int
	url, secret string
	json        bool
}

// benchPhase is one phase's figures as --json prints them.
type benchPhase struct {
	Phase  string  `json:"phase"`
	N      int     `json:"n"`
	Ready  int     `json:"ready"`
	P50Ms  float64 `json:"p50_ms"`
	P99Ms  float64 `json:"p99_ms"`
	MaxMs  float64 `json:"max_ms"`
	WallMs float64 `json:"wall_ms"`
}

func runBench(ctx context.Context, w io.Writer, o benchOptions) error {
	n := o.n
	ingress, whsec := strings.TrimRight(o.url, "/"), o.secret
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
		if !o.json {
			fmt.Fprintf(w, "platform started in %s\n", dir)
		}
	}
	for _, phase := range []struct {
		name        string
		concurrency int
	}{{"sequential", 1}, {"concurrent", n}} {
		r, err := bench.Signups(ctx, ingress, whsec, n, phase.concurrency)
		if err != nil {
			return fmt.Errorf("%s: %w", phase.name, err)
		}
		if o.json {
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
			if err := writeJSON(w, benchPhase{phase.name, n, r.Ready, ms(r.P50), ms(r.P99), ms(r.Max), ms(r.Wall)}); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(w, "%-10s n=%d ready=%d p50=%v p99=%v max=%v wall=%v\n", phase.name, n, r.Ready, r.P50, r.P99, r.Max, r.Wall)
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
