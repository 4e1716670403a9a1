package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/proto/subjects"
)

const tailUsage = `usage: clawctl tail [--since 10m | --all] [--nats URL] [SUBJECT ...]

Prints the platform's events and commands as they are stored on the CLAW
stream, decoded, one per line: time, stream sequence, subject, saga id, and
the message as JSON. SUBJECT filters (NATS wildcards allowed, e.g. "cmd.>",
"customer.*"); without one every subject is shown.
`

func runTail(ctx context.Context, args []string) error {
	return tail(ctx, args, os.Stdout)
}

func tail(ctx context.Context, args []string, w io.Writer) error {
	fs := flag.NewFlagSet("tail", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, tailUsage) }
	since := fs.Duration("since", 0, "start with the events of this last period")
	all := fs.Bool("all", false, "start with the whole history")
	natsURL := fs.String("nats", envOr("NATS_URL", "nats://127.0.0.1:4222"), "NATS server URL")
	if err := fs.Parse(args); err != nil {
		return err
	}
	b, err := bus.Connect(ctx, *natsURL, "clawctl", slog.New(slog.DiscardHandler), nil)
	if err != nil {
		return err
	}
	defer b.Close()
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: fs.Args(), DeliverPolicy: jetstream.DeliverNewPolicy}
	switch {
	case *all:
		cfg.DeliverPolicy = jetstream.DeliverAllPolicy
	case *since > 0:
		start := time.Now().Add(-*since)
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &start
	}
	c, err := b.JetStream().OrderedConsumer(ctx, subjects.Stream, cfg)
	if err != nil {
		return fmt.Errorf("tail: %w", err)
	}
	for {
		m, err := c.Next(jetstream.FetchContext(ctx))
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			if errors.Is(err, jetstream.ErrNoMessages) {
				continue
			}
			return fmt.Errorf("tail: %w", err)
		}
		fmt.Fprintln(w, formatEvent(m))
	}
}

// formatEvent renders one stored message: decoded through its subject's
// protobuf type when the subject is known, raw otherwise.
func formatEvent(m jetstream.Msg) string {
	var seq uint64
	ts := time.Now()
	if meta, err := m.Metadata(); err == nil {
		seq, ts = meta.Sequence.Stream, meta.Timestamp
	}
	body := string(m.Data())
	if msg := subjects.New(m.Subject()); msg != nil {
		if err := bus.Decode(m.Data(), msg); err == nil {
			if b, err := (protojson.MarshalOptions{UseProtoNames: true}).Marshal(msg); err == nil {
				body = string(b)
			}
		} else {
			body = fmt.Sprintf("undecodable (%v): %s", err, m.Data())
		}
	}
	saga := m.Headers().Get(bus.HeaderSagaID)
	if saga == "" {
		saga = "-"
	}
	return fmt.Sprintf("%s %6d %-28s %s %s", ts.UTC().Format("15:04:05.000"), seq, m.Subject(), saga, body)
}
