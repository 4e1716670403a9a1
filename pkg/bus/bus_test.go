package bus_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/natstest"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
)

func newBus(t *testing.T) *bus.Bus {
	t.Helper()
	b, err := bus.Connect(context.Background(), natstest.URL(t), "test", slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	if err := b.Setup(context.Background(), bus.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	// Setup is idempotent.
	if err := b.Setup(context.Background(), bus.StreamOptions{}); err != nil {
		t.Fatalf("second Setup: %v", err)
	}
	return b
}

func signup(id string) *pb.CustomerSignedUp {
	return &pb.CustomerSignedUp{StripeEventId: id, CustomerId: "cus_" + id, Plan: "pro"}
}

func TestPublishDeduplicatesByMsgID(t *testing.T) {
	b := newBus(t)
	ctx := context.Background()
	for i := range 3 {
		dup, err := b.Publish(ctx, subjects.CustomerSignedUp, signup("evt_1"), bus.Envelope{MsgID: "evt_1", CustomerID: "cus_evt_1"})
		if err != nil {
			t.Fatal(err)
		}
		if dup != (i > 0) {
			t.Fatalf("publish %d: duplicate = %v", i, dup)
		}
	}
	info, err := b.JetStream().Stream(ctx, subjects.Stream)
	if err != nil {
		t.Fatal(err)
	}
	if n := info.CachedInfo().State.Msgs; n != 1 {
		t.Fatalf("stream holds %d messages, want 1", n)
	}
	raw, err := info.GetLastMsgForSubject(ctx, subjects.CustomerSignedUp)
	if err != nil {
		t.Fatal(err)
	}
	if got := raw.Header.Get(bus.HeaderEventType); got != "clawdbot.v1.CustomerSignedUp" {
		t.Errorf("event type header = %q", got)
	}
	if got := string(raw.Data); got == "" || got[0] != '{' {
		t.Errorf("payload is not JSON: %q", got)
	}
}

func TestPublishRejectsWrongMessageAndEmptyID(t *testing.T) {
	b := newBus(t)
	ctx := context.Background()
	if _, err := b.Publish(ctx, subjects.CustomerSignedUp, signup("x"), bus.Envelope{}); err == nil {
		t.Error("empty MsgID accepted")
	}
	if _, err := b.Publish(ctx, subjects.DatabaseCreated, signup("x"), bus.Envelope{MsgID: "x"}); err == nil {
		t.Error("wrong message type for subject accepted")
	}
}

func TestBatchStoresInOrderAndCountsWhatTheStreamTook(t *testing.T) {
	b := newBus(t)
	ctx := context.Background()
	if _, err := b.Publish(ctx, subjects.CustomerSignedUp, signup("evt_0"), bus.Envelope{MsgID: "evt_0"}); err != nil {
		t.Fatal(err)
	}

	// Twenty messages, the first already stored: all count, in order.
	bt := b.NewBatch()
	for i := range 20 {
		id := fmt.Sprintf("evt_%d", i)
		if err := bt.Add(ctx, subjects.CustomerSignedUp, signup(id), bus.Envelope{MsgID: id}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := bt.Wait(ctx); n != 20 || err != nil {
		t.Fatalf("Wait = %d, %v; want 20, nil", n, err)
	}
	st, err := b.JetStream().Stream(ctx, subjects.Stream)
	if err != nil {
		t.Fatal(err)
	}
	for seq := range uint64(20) {
		raw, err := st.GetMsg(ctx, seq+1)
		if err != nil {
			t.Fatal(err)
		}
		var got pb.CustomerSignedUp
		if err := bus.Decode(raw.Data, &got); err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("evt_%d", seq); got.StripeEventId != want {
			t.Fatalf("stream message %d is %s, want %s", seq+1, got.StripeEventId, want)
		}
	}

	// A message Add refuses is not sent, and what was added before it still is.
	bt = b.NewBatch()
	if err := bt.Add(ctx, subjects.CustomerSignedUp, signup("evt_20"), bus.Envelope{MsgID: "evt_20"}); err != nil {
		t.Fatal(err)
	}
	if err := bt.Add(ctx, subjects.DatabaseCreated, signup("evt_21"), bus.Envelope{MsgID: "evt_21"}); err == nil {
		t.Fatal("Add took a message that does not belong on its subject")
	}
	if n, err := bt.Wait(ctx); n != 1 || err != nil {
		t.Fatalf("Wait = %d, %v; want 1, nil", n, err)
	}

	// The stream refuses the third of five: two count, and its error.
	cfg := st.CachedInfo().Config
	cfg.MaxMsgs, cfg.Discard = 23, jetstream.DiscardNew
	if _, err := b.JetStream().UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	bt = b.NewBatch()
	for i := 30; i < 35; i++ {
		id := fmt.Sprintf("evt_%d", i)
		if err := bt.Add(ctx, subjects.CustomerSignedUp, signup(id), bus.Envelope{MsgID: id}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := bt.Wait(ctx); n != 2 || err == nil {
		t.Fatalf("Wait = %d, %v; want 2 and the stream's refusal", n, err)
	}
}

func TestConsumerOutcomes(t *testing.T) {
	b := newBus(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var transientCalls atomic.Int32
	handled := make(chan string, 16)
	r := bus.NewRouter()
	bus.Handle(r, subjects.CustomerSignedUp, func(ctx context.Context, m *pb.CustomerSignedUp) error {
		d, _ := bus.DeliveryFrom(ctx)
		switch m.StripeEventId {
		case "ok":
		case "transient":
			if transientCalls.Add(1) < 3 {
				return errors.New("flaky")
			}
			if d.Attempt != 3 {
				return bus.Permanent(fmt.Errorf("attempt = %d, want 3", d.Attempt))
			}
		case "permanent":
			return bus.Permanent(errors.New("cannot ever work"))
		case "exhaust":
			return errors.New("always failing")
		}
		handled <- m.StripeEventId
		return nil
	})
	done := make(chan error, 1)
	go func() {
		done <- b.Run(ctx, bus.ConsumerConfig{Name: "outcomes", MaxDeliver: 3, RetryBase: 10 * time.Millisecond, RetryMax: 20 * time.Millisecond}, r)
	}()
	for _, id := range []string{"ok", "transient", "permanent", "exhaust"} {
		if _, err := b.Publish(ctx, subjects.CustomerSignedUp, signup(id), bus.Envelope{MsgID: id}); err != nil {
			t.Fatal(err)
		}
	}
	// A payload that is not protojson is poison.
	if _, err := b.JetStream().Publish(ctx, subjects.CustomerSignedUp, []byte("not json"), jetstream.WithMsgID("poison")); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for len(got) < 2 {
		select {
		case id := <-handled:
			got[id] = true
		case <-time.After(10 * time.Second):
			t.Fatalf("handled only %v", got)
		}
	}
	dead := deadLetters(t, b, 3)
	want := map[string]bool{"permanent": true, "exhaust": true, "": true}
	for _, m := range dead {
		id := ""
		var s pb.CustomerSignedUp
		if bus.Decode(m.Data, &s) == nil {
			id = s.StripeEventId
		}
		if !want[id] {
			t.Errorf("unexpected dead letter %q (reason %q)", id, m.Header.Get(bus.HeaderDeadReason))
		}
		if m.Header.Get(bus.HeaderDeadReason) == "" || m.Header.Get(bus.HeaderDeadSubject) != subjects.CustomerSignedUp {
			t.Errorf("dead letter %q lacks reason or subject headers: %v", id, m.Header)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func deadLetters(t *testing.T, b *bus.Bus, n int) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err := b.JetStream().Stream(ctx, subjects.DeadLetterStream)
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if int(info.State.Msgs) >= n {
			var out []*jetstream.RawStreamMsg
			for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
				m, err := s.GetMsg(ctx, seq)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, m)
			}
			if len(out) != n {
				t.Fatalf("%d dead letters, want %d", len(out), n)
			}
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("dead-letter stream holds %d messages, want %d", info.State.Msgs, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The streams are bounded (the replay horizon), by default and as set, and
// a changed setting is applied to the existing streams.
func TestSetupBoundsTheStreams(t *testing.T) {
	b := newBus(t)
	ctx := context.Background()
	limits := func(stream string) (time.Duration, int64, jetstream.DiscardPolicy) {
		t.Helper()
		s, err := b.JetStream().Stream(ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		c := s.CachedInfo().Config
		return c.MaxAge, c.MaxBytes, c.Discard
	}
	if age, size, discard := limits(subjects.Stream); age != bus.DefaultEventsMaxAge || size != bus.DefaultEventsMaxBytes || discard != jetstream.DiscardOld {
		t.Errorf("events: max age %v, max bytes %d, discard %v", age, size, discard)
	}
	if age, size, _ := limits(subjects.DeadLetterStream); age != bus.DefaultDeadMaxAge || size != bus.DefaultDeadMaxBytes {
		t.Errorf("dead letters: max age %v, max bytes %d", age, size)
	}
	set := bus.StreamOptions{EventsMaxAge: 48 * time.Hour, EventsMaxBytes: 64 << 20, DeadMaxAge: 72 * time.Hour, DeadMaxBytes: 32 << 20}
	if err := b.Setup(ctx, set); err != nil {
		t.Fatal(err)
	}
	if age, size, _ := limits(subjects.Stream); age != set.EventsMaxAge || size != set.EventsMaxBytes {
		t.Errorf("events after a change: max age %v, max bytes %d", age, size)
	}
	if age, size, _ := limits(subjects.DeadLetterStream); age != set.DeadMaxAge || size != set.DeadMaxBytes {
		t.Errorf("dead letters after a change: max age %v, max bytes %d", age, size)
	}
}
