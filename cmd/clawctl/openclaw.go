package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"

	"clawdbot.cloud/proto/subjects"
)

// The shapes of the compute service's admin subjects
// (services/railway/internal/admin; services/railway/README.md).
type (
	rolloutStep struct {
		CustomerID string  `json:"customer_id"`
		From       string  `json:"from"`
		To         string  `json:"to"`
		Healthy    bool    `json:"healthy"`
		Error      string  `json:"error,omitempty"`
		Seconds    float64 `json:"seconds"`
	}
	rolloutReport struct {
		To         string        `json:"to"`
		Batch      int           `json:"batch"`
		Outcome    string        `json:"outcome"`
		Started    time.Time     `json:"started"`
		Ended      time.Time     `json:"ended"`
		Moved      []rolloutStep `json:"moved"`
		RolledBack []rolloutStep `json:"rolled_back"`
		Failure    string        `json:"failure"`
		Stopped    int           `json:"stopped"`
		Pinned     string        `json:"pinned"`
		Resumed    bool          `json:"resumed"`
	}
	openclawStatus struct {
		Pinned    string         `json:"pinned"`
		Instances map[string]int `json:"instances"`
		Rollout   *rolloutReport `json:"rollout"`
	}
)

// newOpenClawCmd is openclaw rollout|status: the openclaw engine's
// versions on the process driver, over the bus as the operator.
func newOpenClawCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "openclaw rollout|status",
		Short: "OpenClaw versions of the openclaw engine: health-gated rollouts with rollback (compute service, over NATS)",
		Long: `status prints the pinned OpenClaw version (what new instances get), the
instances by version and the latest rollout. rollout --to V moves every
instance on the openclaw engine to V (a directory of the compute service's
OPENCLAW_INSTALLS), --batch N at a time, each restarted on V and required to
answer /health 200 within --timeout; on the first that does not, every
instance moved is moved back and health-checked again. It follows the
rollout to its end and fails unless it succeeded.
Runbook: docs/runbooks/openclaw-rollout.md.`,
		Args: noSubcommand,
		RunE: func(*cobra.Command, []string) error { return nil },
	}
	cmd.AddCommand(newOpenClawStatusCmd(), newOpenClawRolloutCmd())
	return cmd
}

// computeAdmin sends one request to the compute service's admin subject and
// decodes its JSON answer into out; a refusal is an error with its reason.
func computeAdmin(ctx context.Context, nc *nats.Conn, subject string, req, out any) error {
	data, err := json.Marshal(req)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	msg, err := nc.RequestWithContext(ctx, subject, data)
	if errors.Is(err, nats.ErrNoResponders) {
		return fmt.Errorf("%s: no compute service answers (is it running with COMPUTE_DRIVER=process?)", subject)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", subject, err)
	}
	var e struct {
		Error string `json:"error"`
		Code  string `json:"code"`
	}
	if json.Unmarshal(msg.Data, &e) == nil && e.Error != "" {
		return fmt.Errorf("refused (%s): %s", e.Code, e.Error)
	}
	if err := json.Unmarshal(msg.Data, out); err != nil {
		return fmt.Errorf("%s: bad answer: %w", subject, err)
	}
	return nil
}

func newOpenClawStatusCmd() *cobra.Command {
	var (
		natsURL string
		auth    natsAuth
		asJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Print the pinned OpenClaw version, the instances by version and the latest rollout",
		Args:  positional(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := connectBus(cmd.Context(), natsURL, auth)
			if err != nil {
				return err
			}
			defer b.Close()
			var st openclawStatus
			if err := computeAdmin(cmd.Context(), b.Conn(), subjects.AdminComputeOpenClawStatus, struct{}{}, &st); err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), st)
			}
			return showOpenClawStatus(cmd.OutOrStdout(), st)
		},
	}
	natsFlag(cmd.Flags(), &natsURL)
	natsAuthFlags(cmd.Flags(), &auth)
	jsonFlag(cmd.Flags(), &asJSON)
	return cmd
}

func newOpenClawRolloutCmd() *cobra.Command {
	var (
		natsURL, to, timeout string
		batch                int
		poll                 time.Duration
		auth                 natsAuth
		asJSON               bool
	)
	cmd := &cobra.Command{
		Use:   "rollout --to VERSION [--batch N] [--timeout D]",
		Short: "Move every openclaw instance to VERSION, health-gated, rolling back on the first failure",
		Args:  positional(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if to == "" {
				return usageError{errors.New("--to VERSION is required")}
			}
			ctx := cmd.Context()
			b, err := connectBus(ctx, natsURL, auth)
			if err != nil {
				return err
			}
			defer b.Close()
			req := map[string]any{"to": to, "batch": batch}
			if timeout != "" {
				req["timeout"] = timeout
			}
			var st openclawStatus
			if err := computeAdmin(ctx, b.Conn(), subjects.AdminComputeOpenClawRollout, req, &st); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if !asJSON {
				fmt.Fprintf(w, "rollout to %s started (batch %d); pinned %s\n", to, max(batch, 1), st.Pinned)
			}
			shown := 0
			for st.Rollout == nil || st.Rollout.Outcome == "running" {
				if st.Rollout != nil && !asJSON {
					shown = showSteps(w, st.Rollout.Moved, shown, "moved")
				}
				select {
				case <-ctx.Done():
					return fmt.Errorf("stopped following the rollout (it goes on; clawctl openclaw status): %w", ctx.Err())
				case <-time.After(poll):
				}
				if err := computeAdmin(ctx, b.Conn(), subjects.AdminComputeOpenClawStatus, struct{}{}, &st); err != nil {
					return err
				}
			}
			rep := st.Rollout
			if asJSON {
				if err := writeJSON(w, rep); err != nil {
					return err
				}
			} else {
				showSteps(w, rep.Moved, shown, "moved")
				showSteps(w, rep.RolledBack, 0, "rolled back")
				fmt.Fprintf(w, "outcome %s; pinned %s\n", rep.Outcome, rep.Pinned)
			}
			if rep.Outcome != "succeeded" {
				return fmt.Errorf("rollout to %s %s: %s", rep.To, rep.Outcome, rep.Failure)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "the OpenClaw version to move to (a directory of OPENCLAW_INSTALLS)")
	cmd.Flags().IntVar(&batch, "batch", 1, "instances moved at once")
	cmd.Flags().StringVar(&timeout, "timeout", "", "each instance's time to answer /health 200 on the new version (default the service's OPENCLAW_ROLLOUT_TIMEOUT, 5m)")
	cmd.Flags().DurationVar(&poll, "poll", 2*time.Second, "how often the rollout's progress is read")
	natsFlag(cmd.Flags(), &natsURL)
	natsAuthFlags(cmd.Flags(), &auth)
	jsonFlag(cmd.Flags(), &asJSON)
	return cmd
}

// showSteps prints steps[from:] and returns how many were printed in all.
func showSteps(w io.Writer, steps []rolloutStep, from int, what string) int {
	for _, s := range steps[min(from, len(steps)):] {
		state := "healthy"
		if !s.Healthy {
			state = "NOT healthy: " + s.Error
		}
		fmt.Fprintf(w, "%s %s %s -> %s in %.1fs: %s\n", what, s.CustomerID, s.From, s.To, s.Seconds, state)
	}
	return len(steps)
}

func showOpenClawStatus(w io.Writer, st openclawStatus) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "PINNED\t%s\n", st.Pinned)
	versions := make([]string, 0, len(st.Instances))
	for v := range st.Instances {
		versions = append(versions, v)
	}
	sort.Strings(versions)
	for _, v := range versions {
		fmt.Fprintf(tw, "INSTANCES ON %s\t%d\n", v, st.Instances[v])
	}
	if r := st.Rollout; r != nil {
		resumed := ""
		if r.Resumed {
			resumed = " (resumed after a restart of the compute service)"
		}
		fmt.Fprintf(tw, "LAST ROLLOUT\tto %s, %s, %d moved, %d rolled back, started %s%s\n", r.To, r.Outcome,
			len(r.Moved), len(r.RolledBack), r.Started.UTC().Format(time.RFC3339), resumed)
		if r.Failure != "" {
			fmt.Fprintf(tw, "FAILURE\t%s\n", r.Failure)
		}
	}
	return tw.Flush()
}
