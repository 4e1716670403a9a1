package natscli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"clawdbot.cloud/cmd/clawctl/internal/deadletter"
	"clawdbot.cloud/cmd/clawctl/internal/signup"
	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/stripefixture"
	"clawdbot.cloud/proto/subjects"
)

// A signup whose customer.signed_up the coordinator cannot store (its table
// is gone) is dead-lettered after the consumer's last delivery. Once the
// table is back, re-driving the dead letter with the NATS CLI, as
// docs/runbooks/replay.md does, finishes the saga; re-driving it again with
// clawctl's code is dropped as the same re-drive.
func TestRedriveDeadLetterFinishesSaga(t *testing.T) {
	e := start(t, nil)
	ctx := context.Background()
	db := e.conn(t)
	// The coordinator migrates its schema as it starts, after Start returns:
	// break its table only once the last migration has run.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var ready bool
		if err := db.QueryRow(ctx, `SELECT to_regclass('saga.customer_events') IS NOT NULL`).Scan(&ready); err != nil {
			t.Fatal(err)
		}
		if ready {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the saga coordinator did not finish migrating")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := db.Exec(ctx, `ALTER TABLE saga.sagas RENAME TO sagas_fault`); err != nil {
		t.Fatal(err)
	}
	co := stripefixture.Checkout{Email: "dlq@example.com", Name: "Dead Letter", Plan: "starter"}
	co.Fill()
	if err := signup.Post(ctx, http.DefaultClient, e.p.IngressURL, e.p.WebhookSecret, stripefixture.CheckoutCompleted(co)); err != nil {
		t.Fatal(err)
	}
	var letter deadletter.Letter
	// bus.DefaultMaxDeliver deliveries with the default backoff span about
	// 140 s before the dead letter.
	var lastErr error
	defer func() {
		if t.Failed() && lastErr != nil {
			t.Logf("last error reading the dead letters: %v", lastErr)
		}
	}()
	waitFor(t, 4*time.Minute, "customer.signed_up in the dead-letter stream", func() bool {
		// Stream info first: listing creates a consumer, and one every
		// 50 ms for minutes is what this test must not measure.
		s, err := e.js.Stream(ctx, subjects.DeadLetterStream)
		if err != nil {
			lastErr = err
			return false
		}
		info, err := s.Info(ctx)
		if err != nil || info.State.Msgs == 0 {
			lastErr = err
			return false
		}
		ls, err := deadletter.List(ctx, e.js, "saga")
		if err != nil || len(ls) == 0 {
			lastErr = err
			return false
		}
		letter = ls[0]
		return true
	})
	if letter.Subject != subjects.CustomerSignedUp || letter.Reason == "" || letter.OrigSeq == 0 {
		t.Fatalf("dead letter %+v", letter)
	}

	// The fault is fixed; the operator re-drives with the CLI.
	if _, err := db.Exec(ctx, `ALTER TABLE saga.sagas_fault RENAME TO sagas`); err != nil {
		t.Fatal(err)
	}
	m, err := e.cli.Get(ctx, subjects.DeadLetterStream, letter.Seq)
	if err != nil {
		t.Fatal(err)
	}
	subject := m.Header[bus.HeaderDeadSubject]
	for k := range m.Header {
		if strings.HasPrefix(k, "Claw-Dead-") {
			delete(m.Header, k)
		}
	}
	if err := e.cli.Publish(ctx, subject, m.Header, deadletter.MsgID(letter.Seq), m.Data); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cli.Run(ctx, nil, "stream", "rmm", subjects.DeadLetterStream, fmt.Sprint(letter.Seq), "--force"); err != nil {
		t.Fatal(err)
	}

	saga := names.SignupSagaID(co.SessionID)
	waitFor(t, 60*time.Second, "saga.completed", func() bool { return e.count(t, subjects.SagaCompleted, saga) == 1 })
	waitFor(t, 30*time.Second, "provisioning status ready", func() bool {
		resp, err := http.Get(e.p.IngressURL + "/v1/provisioning/" + co.SessionID)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var st signup.Status
		return json.NewDecoder(resp.Body).Decode(&st) == nil && st.Status == "ready"
	})
	// clawctl's re-drive of the same dead letter is the same message.
	_, dup, err := deadletter.Redrive(ctx, e.js, letter, false)
	if err != nil || !dup {
		t.Errorf("second re-drive: duplicate=%v err=%v, want a dropped duplicate", dup, err)
	}
	if left, err := deadletter.List(ctx, e.js, ""); err != nil || len(left) != 0 {
		t.Errorf("dead letters left: %+v %v", left, err)
	}
	e.quiet(t, subjects.Stream)
	if n := e.count(t, subjects.SagaCompleted, saga); n != 1 {
		t.Errorf("saga.completed %d times", n)
	}
	if n := runtimeProcesses(); n != 1 {
		t.Errorf("%d runtime processes, want 1", n)
	}
}

// count is how many messages on subject belong to saga.
func (e *env) count(t *testing.T, subject, saga string) int {
	t.Helper()
	n := 0
	for _, m := range e.stored(t, subjects.Stream) {
		if m.Subject() == subject && m.Headers().Get(bus.HeaderSagaID) == saga {
			n++
		}
	}
	return n
}
