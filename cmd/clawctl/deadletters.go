package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"clawdbot.cloud/cmd/clawctl/internal/deadletter"
	"clawdbot.cloud/pkg/bus"
)

// newDeadlettersCmd is deadletters list|redrive. s answers where redrive
// --all asks for confirmation.
func newDeadlettersCmd(s streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "deadletters list|redrive",
		Short: "Inspect and re-drive the dead-letter stream (CLAW_DLQ)",
		Long: `list prints the dead-letter stream (CLAW_DLQ); redrive publishes dead
letters again on their original subject with a fresh Nats-Msg-Id
(redrive-<seq>) and deletes them from CLAW_DLQ (--keep leaves them).
redrive takes --seq N (one), --consumer NAME (every one of a consumer) or
--all (every one: asks on a terminal, refuses without one unless --yes).`,
		Args: noSubcommand,
		RunE: func(*cobra.Command, []string) error { return nil },
	}
	cmd.AddCommand(newDeadlettersListCmd(), newDeadlettersRedriveCmd(s))
	return cmd
}

// deadletterJSON is a dead letter as --json prints it.
type deadletterJSON struct {
	Seq      uint64    `json:"seq"`
	Time     time.Time `json:"time"`
	Consumer string    `json:"consumer"`
	Subject  string    `json:"subject"`
	OrigSeq  uint64    `json:"orig_seq"`
	SagaID   string    `json:"saga_id,omitempty"`
	Reason   string    `json:"reason"`
	// RedrivenAs is the CLAW sequence of the re-driven copy (redrive).
	RedrivenAs uint64 `json:"redriven_as,omitempty"`
	// Duplicate says the copy was already stored (redrive).
	Duplicate bool `json:"duplicate,omitempty"`
}

func letterJSON(l deadletter.Letter) deadletterJSON {
	return deadletterJSON{Seq: l.Seq, Time: l.Time.UTC(), Consumer: l.Consumer, Subject: l.Subject, OrigSeq: l.OrigSeq,
		SagaID: l.Header.Get(bus.HeaderSagaID), Reason: l.Reason}
}

// listLetters connects to NATS and lists the dead letters of consumer
// (every consumer when empty); close ends the connection.
func listLetters(ctx context.Context, natsURL string, auth natsAuth, consumer string) (b *bus.Bus, letters []deadletter.Letter, err error) {
	b, err = connectBus(ctx, natsURL, auth)
	if err != nil {
		return nil, nil, err
	}
	letters, err = deadletter.List(ctx, b.JetStream(), consumer)
	if err != nil {
		b.Close()
		return nil, nil, err
	}
	return b, letters, nil
}

func newDeadlettersListCmd() *cobra.Command {
	var (
		consumer, natsURL string
		auth              natsAuth
		asJSON            bool
	)
	cmd := &cobra.Command{
		Use:   "list [--consumer NAME]",
		Short: "Print the dead letters: sequence, time, consumer, subject, original sequence, saga, reason",
		Args:  positional(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, letters, err := listLetters(cmd.Context(), natsURL, auth, consumer)
			if err != nil {
				return err
			}
			defer b.Close()
			w := cmd.OutOrStdout()
			if asJSON {
				out := make([]deadletterJSON, 0, len(letters))
				for _, l := range letters {
					out = append(out, letterJSON(l))
				}
				return writeJSON(w, out)
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SEQ\tTIME\tCONSUMER\tSUBJECT\tORIG SEQ\tSAGA\tREASON")
			for _, l := range letters {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\n", l.Seq, l.Time.UTC().Format(time.RFC3339), l.Consumer,
					l.Subject, l.OrigSeq, l.Header.Get(bus.HeaderSagaID), l.Reason)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&consumer, "consumer", "", "only the dead letters of this consumer (service)")
	natsFlag(cmd.Flags(), &natsURL)
	natsAuthFlags(cmd.Flags(), &auth)
	jsonFlag(cmd.Flags(), &asJSON)
	return cmd
}

func newDeadlettersRedriveCmd(s streams) *cobra.Command {
	var (
		consumer, natsURL      string
		auth                   natsAuth
		seq                    uint64
		all, keep, yes, asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "redrive --seq N | --consumer NAME | --all [--yes] [--keep]",
		Short: "Publish dead letters again on their original subject",
		Args:  positional(cobra.NoArgs),
		PreRunE: func(*cobra.Command, []string) error {
			switch {
			case seq == 0 && consumer == "" && !all:
				return usageErrorf("deadletters redrive: name what to re-drive: --seq N, --consumer NAME or --all")
			case all && (seq != 0 || consumer != ""):
				return usageErrorf("deadletters redrive: --all re-drives every dead letter; it goes with neither --seq nor --consumer")
			case all && !yes && !s.isTerminal():
				return errors.New("deadletters redrive --all: no terminal to confirm on; add --yes to re-drive every dead letter")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			b, letters, err := listLetters(ctx, natsURL, auth, consumer)
			if err != nil {
				return err
			}
			defer b.Close()
			if all && !yes && len(letters) > 0 {
				if !confirm(ctx, s, fmt.Sprintf("Re-drive all %d dead letter(s)? [y/N] ", len(letters))) {
					return errors.New("deadletters redrive --all: not confirmed; nothing re-driven")
				}
			}
			w := cmd.OutOrStdout()
			done := []deadletterJSON{}
			for _, l := range letters {
				if seq != 0 && l.Seq != seq {
					continue
				}
				newSeq, dup, err := deadletter.Redrive(ctx, b.JetStream(), l, keep)
				if err != nil {
					return err
				}
				j := letterJSON(l)
				j.RedrivenAs, j.Duplicate = newSeq, dup
				done = append(done, j)
				if asJSON {
					continue
				}
				note := ""
				if dup {
					note = " (already re-driven: duplicate dropped)"
				}
				fmt.Fprintf(w, "re-drove dead letter %d (%s, %s) as CLAW sequence %d%s\n", l.Seq, l.Consumer, l.Subject, newSeq, note)
			}
			if seq != 0 && len(done) == 0 {
				return fmt.Errorf("deadletters redrive: no dead letter with sequence %d", seq)
			}
			if asJSON {
				return writeJSON(w, done)
			}
			fmt.Fprintf(w, "%d dead letter(s) re-driven\n", len(done))
			return nil
		},
	}
	cmd.Flags().Uint64Var(&seq, "seq", 0, "only the dead letter with this CLAW_DLQ sequence")
	cmd.Flags().StringVar(&consumer, "consumer", "", "every dead letter of this consumer (service)")
	cmd.Flags().BoolVar(&all, "all", false, "every dead letter (asks first; without a terminal, needs --yes)")
	cmd.Flags().BoolVar(&yes, "yes", false, "re-drive --all without asking")
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the dead letters in CLAW_DLQ")
	natsFlag(cmd.Flags(), &natsURL)
	natsAuthFlags(cmd.Flags(), &auth)
	jsonFlag(cmd.Flags(), &asJSON)
	return cmd
}

// confirm asks question on s and reports whether the answer is yes. Ctrl-C
// (ctx done) is a no: main's signal handling keeps it from ending the
// process, and the read it abandons ends with the process.
func confirm(ctx context.Context, s streams, question string) bool {
	fmt.Fprint(s.errOut, question)
	answer := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(s.in).ReadString('\n')
		answer <- line
	}()
	select {
	case <-ctx.Done():
		fmt.Fprintln(s.errOut)
		return false
	case line := <-answer:
		switch strings.ToLower(strings.TrimSpace(line)) {
		case "y", "yes":
			return true
		}
		return false
	}
}
