package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"clawdbot.cloud/pkg/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestProgressIsOneStatementEach: recording a report and reading a signup
// are one statement each (the waiting reads and the projector's reports
// were most of the ingress's statements in a burst), and they still do what
// the transactions did: the report's row, its step and its notification
// commit together, and the read sees the row with its steps.
func TestProgressIsOneStatementEach(t *testing.T) {
	ctx := context.Background()
	db, count := pgtest.NewCountedPool(t, 0)
	st, err := Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	lc := db.Config().ConnConfig.Copy()
	lc.Tracer = nil // not counted
	listener, err := pgx.ConnectConfig(ctx, lc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { listener.Close(ctx) }) //nolint:errcheck // test teardown
	if _, err := listener.Exec(ctx, "LISTEN "+changesChannel); err != nil {
		t.Fatal(err)
	}
	notified := func() string {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		n, err := listener.WaitForNotification(wctx)
		if err != nil {
			t.Fatalf("no notification: %v", err)
		}
		return n.Payload
	}

	at := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
	// A step reported before the row exists is kept (replay into a fresh
	// read model), and still notifies.
	count.Reset()
	if err := st.Apply(ctx, Progress{SagaID: "signup-1", Step: &Step{Name: "database", Status: StepStarted, Seq: 2, At: at}}); err != nil {
		t.Fatal(err)
	}
	if got := notified(); got != "signup-1" {
		t.Fatalf("notified %q, want signup-1", got)
	}
	if err := st.Apply(ctx, Progress{CheckoutSessionID: "cs_test_1", SagaID: "signup-1", CustomerID: "cus_1",
		Step: &Step{Name: "database", Status: StepDone, Seq: 3, At: at.Add(time.Second)}}); err != nil {
		t.Fatal(err)
	}
	notified()
	if err := st.Apply(ctx, Progress{CheckoutSessionID: "cs_test_1", SagaID: "signup-1", Status: StatusReady, At: at.Add(2 * time.Second),
		InstanceURL: "http://127.0.0.1:1", APIKeyRef: "key-1"}); err != nil {
		t.Fatal(err)
	}
	notified()
	if n := count.Load(); n != 3 {
		t.Errorf("3 reports sent %d statements, want 3", n)
	}

	count.Reset()
	p, err := st.Lookup(ctx, "cs_test_1")
	if err != nil {
		t.Fatal(err)
	}
	if n := count.Load(); n != 1 {
		t.Errorf("a read sent %d statements, want 1", n)
	}
	if p.Status != StatusReady || p.CustomerState != "" || p.APIKeyRef != "key-1" || !p.ReadyAt.Equal(at.Add(2*time.Second)) {
		t.Errorf("read %+v", p)
	}
	if len(p.Steps) != 1 || p.Steps[0].Name != "database" || p.Steps[0].Status != StepDone || !p.Steps[0].At.Equal(at.Add(time.Second)) {
		t.Errorf("steps %+v, want database done at +1s", p.Steps)
	}

	// A signup with no step yet reads with none; an unknown one is not found.
	if err := st.Apply(ctx, Progress{CheckoutSessionID: "cs_test_2", SagaID: "signup-2"}); err != nil {
		t.Fatal(err)
	}
	if p, err := st.Lookup(ctx, "cs_test_2"); err != nil || len(p.Steps) != 0 || p.Status != StatusProvisioning {
		t.Errorf("fresh signup: %+v, %v", p, err)
	}
	if _, err := st.Lookup(ctx, "cs_test_none"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown session: %v, want not found", err)
	}
}
