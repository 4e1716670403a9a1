package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"clawdbot.cloud/cmd/clawctl/internal/chaos"
	"clawdbot.cloud/cmd/clawctl/internal/platform"
	"clawdbot.cloud/pkg/service"
)

// errInvariants is the failure of a chaos run whose checks found damage.
var errInvariants = errors.New("chaos: invariants broken (see the report)")

func newChaosCmd() *cobra.Command {
	var (
		o      chaos.Options
		keep   bool
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "chaos",
		Short: "Run the cluster under signups and lifecycle events while crashing its parts, then check nothing was lost",
		Long: `chaos starts the production topology (as clawctl cluster does, on free ports, in a new data
directory, with its own Postgres), signs customers up and sends their lifecycle webhooks (upgrade,
payment failed, paid, cancel) while it SIGKILLs the NATS node leading the event stream and brings
it back, SIGKILLs one replica of every service (the supervisor restarts them) and crashes and
restarts Postgres. Then it checks: every saga completed exactly once, every key works, no orphan
process, database or role, no event lost, no duplicate instance. It prints what it sent, what it
killed and what it found; exit code 1 when an invariant is broken. docs/runbooks/chaos.md`,
		Args: positional(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runChaos(cmd.Context(), cmd.OutOrStdout(), o, keep, asJSON)
		},
	}
	fs := cmd.Flags()
	fs.IntVar(&o.Customers, "customers", 30, "customers to sign up (each runs one lifecycle script)")
	fs.IntVar(&o.Concurrency, "concurrency", 6, "customers in flight at once")
	fs.DurationVar(&o.NATSDown, "nats-down", 5*time.Second, "how long the killed NATS node stays down")
	fs.DurationVar(&o.Settle, "settle", 3*time.Minute, "how long to wait for every saga to finish after the load")
	fs.BoolVar(&o.SkipRestarts, "no-restart", false, "leave killed replicas down (to see the checks fail)")
	fs.StringVar(&o.Dir, "data", "", "data directory (default: a new one under the system's temp directory, removed afterwards)")
	fs.BoolVar(&keep, "keep", false, "keep the data directory (logs in <data>/logs)")
	jsonFlag(fs, &asJSON)
	return cmd
}

func runChaos(ctx context.Context, w io.Writer, o chaos.Options, keep, asJSON bool) error {
	if o.Customers < 1 || o.Concurrency < 1 {
		return usageErrorf("chaos: --customers and --concurrency must be at least 1")
	}
	if o.Dir == "" {
		dir, err := os.MkdirTemp("", "clawctl-chaos-")
		if err != nil {
			return err
		}
		// The Postgres and runtime users traverse it (never list it).
		if err := os.Chmod(dir, 0o711); err != nil {
			return err
		}
		o.Dir = dir
		if !keep {
			defer os.RemoveAll(dir)
		}
	}
	o.BinDir = filepath.Dir(platform.DefaultBinary("clawctl"))
	o.Log = service.NewLogger("text", "")
	r, err := chaos.Run(ctx, o)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return err
		}
	} else {
		r.Print(w)
		if keep {
			fmt.Fprintf(w, "data and logs kept in %s\n", o.Dir)
		}
	}
	if !r.OK() {
		return errInvariants
	}
	return nil
}
