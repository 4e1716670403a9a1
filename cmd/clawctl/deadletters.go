package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"text/tabwriter"
	"time"

	"clawdbot.cloud/cmd/clawctl/internal/deadletter"
	"clawdbot.cloud/pkg/bus"
)

const deadlettersUsage = `usage: clawctl deadletters list    [--consumer NAME] [--nats URL]
       clawctl deadletters redrive [--consumer NAME] [--seq N] [--keep] [--nats URL]

list prints the dead-letter stream (CLAW_DLQ); redrive publishes dead
letters again on their original subject with a fresh Nats-Msg-Id
(redrive-<seq>) and deletes them from CLAW_DLQ (--keep leaves them).
Without --seq, redrive re-drives every dead letter (of --consumer).
`

func runDeadletters(ctx context.Context, args []string) error {
	return deadletters(ctx, args, os.Stdout)
}

func deadletters(ctx context.Context, args []string, w io.Writer) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "redrive") {
		fmt.Fprint(os.Stderr, deadlettersUsage)
		return errors.New("deadletters: want list or redrive")
	}
	verb := args[0]
	fs := flag.NewFlagSet("deadletters "+verb, flag.ContinueOnError)
	consumer := fs.String("consumer", "", "only the dead letters of this consumer (service)")
	seq := fs.Uint64("seq", 0, "redrive: only the dead letter with this CLAW_DLQ sequence")
	keep := fs.Bool("keep", false, "redrive: keep the dead letters in CLAW_DLQ")
	natsURL := fs.String("nats", envOr("NATS_URL", "nats://127.0.0.1:4222"), "NATS server URL")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	b, err := bus.Connect(ctx, *natsURL, "clawctl", slog.New(slog.DiscardHandler), nil)
	if err != nil {
		return err
	}
	defer b.Close()
	letters, err := deadletter.List(ctx, b.JetStream(), *consumer)
	if err != nil {
		return err
	}
	if verb == "list" {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SEQ\tTIME\tCONSUMER\tSUBJECT\tORIG SEQ\tSAGA\tREASON")
		for _, l := range letters {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\n", l.Seq, l.Time.UTC().Format(time.RFC3339), l.Consumer,
				l.Subject, l.OrigSeq, l.Header.Get(bus.HeaderSagaID), l.Reason)
		}
		return tw.Flush()
	}
	n := 0
	for _, l := range letters {
		if *seq != 0 && l.Seq != *seq {
			continue
		}
		newSeq, dup, err := deadletter.Redrive(ctx, b.JetStream(), l, *keep)
		if err != nil {
			return err
		}
		note := ""
		if dup {
			note = " (already re-driven: duplicate dropped)"
		}
		fmt.Fprintf(w, "re-drove dead letter %d (%s, %s) as CLAW sequence %d%s\n", l.Seq, l.Consumer, l.Subject, newSeq, note)
		n++
	}
	if *seq != 0 && n == 0 {
		return fmt.Errorf("deadletters redrive: no dead letter with sequence %d", *seq)
	}
	fmt.Fprintf(w, "%d dead letter(s) re-driven\n", n)
	return nil
}
