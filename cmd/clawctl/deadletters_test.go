package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"clawdbot.cloud/cmd/clawctl/internal/deadletter"
	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/natstest"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
)

// testBus is a bus on a fresh embedded server with the platform's streams.
func testBus(t *testing.T) (*bus.Bus, string) {
	t.Helper()
	url := natstest.URL(t)
	b, err := bus.Connect(context.Background(), url, "test", slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	if err := b.Setup(context.Background(), bus.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	return b, url
}

// deadLetter stores a dead letter the way pkg/bus does.
func deadLetter(t *testing.T, js jetstream.JetStream, consumer, subject string, data []byte) {
	t.Helper()
	m := nats.NewMsg(subjects.DeadLetterPrefix + consumer)
	m.Data = data
	m.Header.Set(bus.HeaderSagaID, "signup-cs_1")
	m.Header.Set(bus.HeaderEventType, "clawdbot.v1.CustomerSignedUp")
	m.Header.Set(bus.HeaderDeadReason, "max deliveries (8) reached: table missing")
	m.Header.Set(bus.HeaderDeadSubject, subject)
	m.Header.Set(bus.HeaderDeadSequence, "7")
	m.Header.Set(bus.HeaderDeadConsumer, consumer)
	if _, err := js.PublishMsg(context.Background(), m); err != nil {
		t.Fatal(err)
	}
}

func TestDeadlettersListAndRedrive(t *testing.T) {
	b, url := testBus(t)
	ctx := context.Background()
	js := b.JetStream()
	deadLetter(t, js, "saga", subjects.CustomerSignedUp, []byte(`{"customer_id":"cus_1"}`))
	deadLetter(t, js, "neon", subjects.CmdDatabaseDelete, []byte(`{}`))

	var out bytes.Buffer
	if err := deadletters(ctx, []string{"list", "--nats", url}, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"customer.signed_up", "cmd.database.delete", "table missing", "signup-cs_1"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("list output lacks %q:\n%s", want, out.String())
		}
	}

	out.Reset()
	if err := deadletters(ctx, []string{"redrive", "--consumer", "saga", "--nats", url}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "1 dead letter(s) re-driven") {
		t.Errorf("redrive output:\n%s", out.String())
	}
	stream, err := js.Stream(ctx, subjects.Stream)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := stream.GetLastMsgForSubject(ctx, subjects.CustomerSignedUp)
	if err != nil {
		t.Fatal(err)
	}
	if string(msg.Data) != `{"customer_id":"cus_1"}` || msg.Header.Get(bus.HeaderSagaID) != "signup-cs_1" ||
		msg.Header.Get(nats.MsgIdHdr) != deadletter.MsgID(1) || msg.Header.Get(bus.HeaderDeadReason) != "" ||
		msg.Header.Get(deadletter.HeaderRedrivenFrom) != "1" {
		t.Errorf("re-driven message: %s %v", msg.Data, msg.Header)
	}
	left, err := deadletter.List(ctx, js, "")
	if err != nil || len(left) != 1 || left[0].Consumer != "neon" {
		t.Fatalf("left after re-drive: %+v %v", left, err)
	}
	// Re-driving a dead letter twice (kept the first time) stores it once.
	for range 2 {
		if _, _, err := deadletter.Redrive(ctx, js, left[0], true); err != nil {
			t.Fatal(err)
		}
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := info.State.Msgs; n != 2 {
		t.Errorf("%d messages in %s, want 2", n, subjects.Stream)
	}
	if err := deadletters(ctx, []string{"redrive", "--seq", "99", "--nats", url}, &out); err == nil {
		t.Error("redrive of a missing sequence succeeded")
	}
}

func TestTailDecodesEvents(t *testing.T) {
	b, url := testBus(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := b.Publish(ctx, subjects.SagaCompleted, &pb.SagaCompleted{SagaId: "signup-cs_9"}, bus.Envelope{MsgID: "m1", SagaID: "signup-cs_9"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Publish(ctx, subjects.CustomerSignedUp, &pb.CustomerSignedUp{CustomerId: "cus_9"}, bus.Envelope{MsgID: "m2"}); err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- tail(ctx, []string{"--all", "--nats", url, "saga.>"}, &out) }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "signup-cs_9") {
		if time.Now().After(deadline) {
			t.Fatalf("tail printed:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if !strings.Contains(got, `saga.completed`) || !strings.Contains(got, `"saga_id":"signup-cs_9"`) || strings.Contains(got, "cus_9") {
		t.Errorf("tail output:\n%s", got)
	}
}
