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
			switch {
			case o.busAuth != "on" && o.busAuth != "off" && o.busAuth != "both":
				return usageErrorf("bench: --bus-auth is on, off or both, not %q", o.busAuth)
			case o.url != "" && cmd.Flags().Changed("bus-auth"):
				return usageErrorf("bench: --bus-auth applies to the platform bench starts, not to --url")
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
	fs.StringVar(&o.busAuth, "bus-auth", "on", "the started platform's bus: on (each service its own NATS user), off, or both (off, then on, in this run)")
	secretFlag(fs, &o.secret)
	jsonFlag(fs, &o.json)
	return cmd
}

// benchOptions are bench's flags.
type benchOptions struct {
	n                    int
	url, secret, busAuth string
	json                 bool
}

// benchPhase is one phase's figures as --json prints them.
type benchPhase struct {
	// BusAuth is on or off for a platform bench started; empty with --url.
	BusAuth string  `json:"bus_auth,omitempty"`
	Phase   string  `json:"phase"`
	N       int     `json:"n"`
	Ready   int     `json:"ready"`
	P50Ms   float64 `json:"p50_ms"`
	P99Ms   float64 `json:"p99_ms"`
	MaxMs   float64 `json:"max_ms"`
	WallMs  float64 `json:"wall_ms"`
}

func runBench(ctx context.Context, w io.Writer, o benchOptions) error {
	if o.url != "" {
		return benchPhases(ctx, w, o, strings.TrimRight(o.url, "/"), o.secret, "")
	}
	modes := []string{o.busAuth}
	if o.busAuth == "both" {
		modes = []string{"off", "on"}
	}
	for _, mode := range modes {
		if err := benchStarted(ctx, w, o, mode); err != nil {
			return fmt.Errorf("bus auth %s: %w", mode, err)
		}
	}
	return nil
}

// benchStarted starts a platform in a temporary directory with the bus
// authenticated or not (CLAW_BUS_AUTH=busAuth) and benches it.
func benchStarted(ctx context.Context, w io.Writer, o benchOptions, busAuth string) error {
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
	base, err := bench.IsolatedEnv(dir)
	if err != nil {
		return err
	}
	env := func(k string) (string, bool) {
		if k == "CLAW_BUS_AUTH" {
			return busAuth, true
		}
		return base(k)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	p, err := platform.Start(ctx, platform.Options{DataDir: dir, Env: env, Log: log})
	if err != nil {
		return err
	}
	defer p.Stop() //nolint:errcheck
	if !o.json {
		fmt.Fprintf(w, "platform started in %s (bus auth %s)\n", dir, busAuth)
	}
	return benchPhases(ctx, w, o, p.IngressURL, p.WebhookSecret, busAuth)
}

// benchPhases runs the sequential and the concurrent phase against ingress.
func benchPhases(ctx context.Context, w io.Writer, o benchOptions, ingress, whsec, busAuth string) error {
	n := o.n
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
			if err := writeJSON(w, benchPhase{busAuth, phase.name, n, r.Ready, ms(r.P50), ms(r.P99), ms(r.Max), ms(r.Wall)}); err != nil {
				return err
			}
			continue
		}
		label := ""
		if busAuth != "" {
			label = "bus-auth=" + busAuth + " "
		}
		fmt.Fprintf(w, "%s%-10s n=%d ready=%d p50=%v p99=%v max=%v wall=%v\n", label, phase.name, n, r.Ready, r.P50, r.P99, r.Max, r.Wall)
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
