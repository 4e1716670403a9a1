package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/proto/subjects"
)

func newTailCmd() *cobra.Command {
	var o tailOptions
	cmd := &cobra.Command{
		Use:   "tail [--since 10m | --all] [SUBJECT ...]",
		Short: "Print decoded events and commands as they are stored on the CLAW stream",
		Long: `Prints the platform's events and commands as they are stored on the CLAW
stream, decoded, one per line: time, stream sequence, subject, saga id, and
the message as JSON (--json: one JSON object per line). SUBJECT filters
(NATS wildcards allowed, e.g. "cmd.>", "customer.*"); without one every
subject is shown.`,
		RunE: func(cmd *cobra.Command, filters []string) error {
			o.subjects = filters
			return tail(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	fs := cmd.Flags()
	fs.DurationVar(&o.since, "since", 0, "start with the events of this last period")
	fs.BoolVar(&o.all, "all", false, "start with the whole history")
	natsFlag(fs, &o.nats)
	natsAuthFlags(fs, &o.auth)
	jsonFlag(fs, &o.json)
	return cmd
}

// tailOptions are tail's flags and subjects.
type tailOptions struct {
	since     time.Duration
	all, json bool
	nats      string
	auth      natsAuth
	subjects  []string
}

func tail(ctx context.Context, o tailOptions, w io.Writer) error {
	b, err := connectBus(ctx, o.nats, o.auth)
	if err != nil {
		return err
	}
	defer b.Close()
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: o.subjects, DeliverPolicy: jetstream.DeliverNewPolicy}
	switch {
	case o.all:
		cfg.DeliverPolicy = jetstream.DeliverAllPolicy
	case o.since > 0:
		start := time.Now().Add(-o.since)
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
		if o.json {
			if err := writeJSON(w, eventJSON(m)); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintln(w, formatEvent(m))
	}
}

// tailEvent is one stored message as tail --json prints it.
type tailEvent struct {
	Time    time.Time `json:"time"`
	Seq     uint64    `json:"seq"`
	Subject string    `json:"subject"`
	SagaID  string    `json:"saga_id,omitempty"`
	// Message is the decoded message; Raw the payload when it is not
	// decodable.
	Message json.RawMessage `json:"message,omitempty"`
	Raw     string          `json:"raw,omitempty"`
	Error   string          `json:"error,omitempty"`
}

func eventJSON(m jetstream.Msg) tailEvent {
	e := tailEvent{Time: time.Now().UTC(), Subject: m.Subject(), SagaID: m.Headers().Get(bus.HeaderSagaID)}
	if meta, err := m.Metadata(); err == nil {
		e.Seq, e.Time = meta.Sequence.Stream, meta.Timestamp.UTC()
	}
	msg := subjects.New(m.Subject())
	if msg == nil {
		e.Raw = string(m.Data())
		return e
	}
	if err := bus.Decode(m.Data(), msg); err != nil {
		e.Raw, e.Error = string(m.Data()), err.Error()
		return e
	}
	b, err := (protojson.MarshalOptions{UseProtoNames: true}).Marshal(msg)
	if err != nil {
		e.Raw, e.Error = string(m.Data()), err.Error()
		return e
	}
	e.Message = b
	return e
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
