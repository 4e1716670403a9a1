package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"clawdbot.cloud/cmd/clawctl/internal/deadletter"
	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/natstest"
	"clawdbot.cloud/pkg/testbuf"
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

	out, stderr, code := runCLI(t, "", false, "deadletters", "list", "--nats", url)
	if code != 0 {
		t.Fatalf("list: exit %d: %s", code, stderr)
	}
	for _, want := range []string{"customer.signed_up", "cmd.database.delete", "table missing", "signup-cs_1"} {
		if !strings.Contains(out, want) {
			t.Errorf("list output lacks %q:\n%s", want, out)
		}
	}

	out, stderr, code = runCLI(t, "", false, "deadletters", "redrive", "--consumer", "saga", "--nats", url)
	if code != 0 {
		t.Fatalf("redrive: exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, "1 dead letter(s) re-driven") {
		t.Errorf("redrive output:\n%s", out)
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
	if _, stderr, code := runCLI(t, "", false, "deadletters", "redrive", "--seq", "99", "--nats", url); code != 1 {
		t.Errorf("redrive of a missing sequence: exit %d: %s", code, stderr)
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
	var out testbuf.Buffer
	done := make(chan error, 1)
	go func() { done <- tail(ctx, tailOptions{all: true, nats: url, subjects: []string{"saga.>"}}, &out) }()
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

// tail --json prints one JSON object per stored message, the message
// decoded.
func TestTailJSON(t *testing.T) {
	b, url := testBus(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := b.Publish(ctx, subjects.SagaCompleted, &pb.SagaCompleted{SagaId: "signup-cs_9"}, bus.Envelope{MsgID: "m1", SagaID: "signup-cs_9"}); err != nil {
		t.Fatal(err)
	}
	var out testbuf.Buffer
	done := make(chan error, 1)
	go func() { done <- tail(ctx, tailOptions{all: true, json: true, nats: url}, &out) }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "\n") {
		if time.Now().After(deadline) {
			t.Fatalf("tail --json printed:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var e tailEvent
	if err := json.Unmarshal([]byte(strings.SplitN(out.String(), "\n", 2)[0]), &e); err != nil {
		t.Fatalf("tail --json line: %v\n%s", err, out.String())
	}
	var msg map[string]any
	if e.Subject != subjects.SagaCompleted || e.SagaID != "signup-cs_9" || e.Seq != 1 || json.Unmarshal(e.Message, &msg) != nil || msg["saga_id"] != "signup-cs_9" {
		t.Errorf("tail --json: %+v (message %s)", e, e.Message)
	}
}

// --json prints the dead letters, and the re-driven ones, as JSON.
func TestDeadlettersJSON(t *testing.T) {
	b, url := testBus(t)
	deadLetter(t, b.JetStream(), "saga", subjects.CustomerSignedUp, []byte(`{}`))
	out, stderr, code := runCLI(t, "", false, "deadletters", "list", "--json", "--nats", url)
	var list []deadletterJSON
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 1 || list[0].SagaID != "signup-cs_1" || list[0].Consumer != "saga" {
		t.Fatalf("list --json: exit %d, %q, %s", code, out, stderr)
	}
	out, stderr, code = runCLI(t, "", false, "deadletters", "redrive", "--seq", fmt.Sprint(list[0].Seq), "--json", "--nats", url)
	var done []deadletterJSON
	if code != 0 || json.Unmarshal([]byte(out), &done) != nil || len(done) != 1 || done[0].RedrivenAs == 0 {
		t.Fatalf("redrive --json: exit %d, %q, %s", code, out, stderr)
	}
	out, _, code = runCLI(t, "", false, "deadletters", "list", "--json", "--nats", url)
	if code != 0 || strings.TrimSpace(out) != "[]" {
		t.Errorf("list --json of nothing: exit %d, %q", code, out)
	}
}

// redrive --all asks first: without a terminal it refuses unless --yes, on
// a terminal it re-drives only on yes.
func TestDeadlettersRedriveAllConfirms(t *testing.T) {
	b, url := testBus(t)
	ctx := context.Background()
	js := b.JetStream()
	deadLetter(t, js, "saga", subjects.CustomerSignedUp, []byte(`{}`))
	deadLetter(t, js, "neon", subjects.CmdDatabaseDelete, []byte(`{}`))
	left := func() int {
		t.Helper()
		l, err := deadletter.List(ctx, js, "")
		if err != nil {
			t.Fatal(err)
		}
		return len(l)
	}
	for _, tc := range []struct {
		name   string
		stdin  string
		tty    bool
		args   []string
		code   int
		stderr string
		left   int
	}{
		{"no terminal", "y\n", false, nil, 1, "no terminal to confirm on; add --yes", 2},
		{"terminal, no", "n\n", true, nil, 1, "not confirmed; nothing re-driven", 2},
		{"terminal, nothing typed", "", true, nil, 1, "not confirmed", 2},
		{"terminal, yes", "y\n", true, []string{"--keep"}, 0, "Re-drive all 2 dead letter(s)? [y/N]", 2},
		{"--yes without a terminal", "", false, []string{"--yes"}, 0, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"deadletters", "redrive", "--all", "--nats", url}, tc.args...)
			out, stderr, code := runCLI(t, tc.stdin, tc.tty, args...)
			if code != tc.code || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, tc.code, tc.stderr)
			}
			if n := left(); n != tc.left {
				t.Errorf("%d dead letters left, want %d", n, tc.left)
			}
			if tc.code != 0 && out != "" {
				t.Errorf("refused, yet printed %q", out)
			}
		})
	}
	// Nothing was re-driven before the confirmed runs: the CLAW stream has
	// the copies of the --keep run only, the --yes run's being duplicates.
	stream, err := js.Stream(ctx, subjects.Stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := info.State.Msgs; n != 2 {
		t.Errorf("%d messages in %s, want 2", n, subjects.Stream)
	}
}
