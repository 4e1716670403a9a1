// Package deadletter lists and re-drives the dead-letter stream (CLAW_DLQ).
//
// A dead letter is a copy of a message a consumer terminated or gave up on,
// with its original subject, payload and headers (the Nats-Msg-Id dropped)
// plus Claw-Dead-* headers saying which consumer, why and at which stream
// sequence. Re-driving publishes it again on its original subject with the
// original headers and a fresh Nats-Msg-Id, "redrive-<dead-letter seq>":
// a second re-drive of the same dead letter inside the stream's duplicate
// window is dropped by the stream, and beyond it the handlers' own state
// (processed-event keys, saga state, find-by-name before create) makes the
// copy harmless. The new message reaches every consumer of the subject, not
// only the one that gave up: every handler is idempotent, so the others
// ignore it. A re-driven dead letter is deleted from CLAW_DLQ unless kept.
package deadletter

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/proto/subjects"
)

// HeaderRedrivenFrom names the dead-letter sequence a re-driven message came from.
const HeaderRedrivenFrom = "Claw-Redriven-From"

// Letter is one message of the dead-letter stream.
type Letter struct {
	// Seq is the dead letter's sequence in CLAW_DLQ.
	Seq uint64
	// Time is when it was dead-lettered.
	Time time.Time
	// Consumer gave up on it; Subject and OrigSeq are where it was in CLAW.
	Consumer, Subject, Reason string
	OrigSeq                   uint64
	Header                    nats.Header
	Data                      []byte
}

// List returns the dead letters of consumer (every consumer when empty),
// oldest first.
func List(ctx context.Context, js jetstream.JetStream, consumer string) ([]Letter, error) {
	filter := subjects.DeadLetterPrefix + ">"
	if consumer != "" {
		filter = subjects.DeadLetterPrefix + consumer
	}
	c, err := js.OrderedConsumer(ctx, subjects.DeadLetterStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", subjects.DeadLetterStream, err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", subjects.DeadLetterStream, err)
	}
	var out []Letter
	for range info.NumPending {
		m, err := c.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", subjects.DeadLetterStream, err)
		}
		out = append(out, letterOf(m))
	}
	return out, nil
}

func letterOf(m jetstream.Msg) Letter {
	h := m.Headers()
	l := Letter{
		Consumer: h.Get(bus.HeaderDeadConsumer), Subject: h.Get(bus.HeaderDeadSubject),
		Reason: h.Get(bus.HeaderDeadReason), Header: h, Data: m.Data(),
	}
	l.OrigSeq, _ = strconv.ParseUint(h.Get(bus.HeaderDeadSequence), 10, 64)
	if meta, err := m.Metadata(); err == nil {
		l.Seq, l.Time = meta.Sequence.Stream, meta.Timestamp
	}
	if l.Consumer == "" {
		l.Consumer = strings.TrimPrefix(m.Subject(), subjects.DeadLetterPrefix)
	}
	return l
}

// Redrive publishes l again on its original subject and returns the new
// message's sequence in CLAW. Unless keep, the dead letter is then deleted.
// duplicate reports that the stream already had this re-drive.
func Redrive(ctx context.Context, js jetstream.JetStream, l Letter, keep bool) (seq uint64, duplicate bool, err error) {
	if l.Subject == "" {
		return 0, false, fmt.Errorf("dead letter %d has no %s header", l.Seq, bus.HeaderDeadSubject)
	}
	m := nats.NewMsg(l.Subject)
	m.Data = l.Data
	for k, v := range l.Header {
		if strings.HasPrefix(k, "Claw-Dead-") || k == nats.MsgIdHdr {
			continue
		}
		m.Header[k] = v
	}
	m.Header.Set(HeaderRedrivenFrom, strconv.FormatUint(l.Seq, 10))
	ack, err := js.PublishMsg(ctx, m, jetstream.WithMsgID(MsgID(l.Seq)))
	if err != nil {
		return 0, false, fmt.Errorf("re-drive dead letter %d to %s: %w", l.Seq, l.Subject, err)
	}
	if !keep {
		s, err := js.Stream(ctx, subjects.DeadLetterStream)
		if err == nil {
			// Already gone (another operator, or `nats stream rmm`) is fine.
			if _, err = s.GetMsg(ctx, l.Seq); err == nil {
				err = s.DeleteMsg(ctx, l.Seq)
			}
		}
		if err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return ack.Sequence, ack.Duplicate, fmt.Errorf("re-drove dead letter %d but could not delete it: %w", l.Seq, err)
		}
	}
	return ack.Sequence, ack.Duplicate, nil
}

// MsgID is the Nats-Msg-Id of the re-drive of dead letter seq.
func MsgID(seq uint64) string { return "redrive-" + strconv.FormatUint(seq, 10) }
