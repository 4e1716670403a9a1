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
// the transactions did: the report's row and its step commit together, and
// the read sees the row with its steps. No report notifies through Postgres
// (its NOTIFY serialized every report's commit on the server's one notify
// lock); package changes tells the waiters.
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
	// The channel the reports notified on before.
	if _, err := listener.Exec(ctx, "LISTEN ingress_provisioning"); err != nil {
		t.Fatal(err)
	}

	at := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
	// A step reported before the row exists is kept (replay into a fresh
	// read model).
	count.Reset()
	if err := st.Apply(ctx, Progress{SagaID: "signup-1", Step: &Step{Name: "database", Status: StepStarted, Seq: 2, At: at}}); err != nil {
		t.Fatal(err)
	}
	if err := st.Apply(ctx, Progress{CheckoutSessionID: "cs_test_1", SagaID: "signup-1", CustomerID: "cus_1",
		Step: &Step{Name: "database", Status: StepDone, Seq: 3, At: at.Add(time.Second)}}); err != nil {
		t.Fatal(err)
	}
	if err := st.Apply(ctx, Progress{CheckoutSessionID: "cs_test_1", SagaID: "signup-1", Status: StatusReady, At: at.Add(2 * time.Second),
		InstanceURL: "http://127.0.0.1:1", APIKeyRef: "key-1"}); err != nil {
		t.Fatal(err)
	}
	if n := count.Load(); n != 3 {
		t.Errorf("3 reports sent %d statements, want 3", n)
	}
	wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if n, err := listener.WaitForNotification(wctx); err == nil {
		t.Errorf("a report notified %q on %s", n.Payload, n.Channel)
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

// TestAStepAloneLeavesTheRowAsItIs: a report of a step alone records the
// step and notifies without writing a new version of the signup's row once
// the row has its customer (most of a signup's reports are steps); a report
// that carries something for the row still writes it.
func TestAStepAloneLeavesTheRowAsItIs(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewPool(t)
	st, err := Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	version := func() string {
		t.Helper()
		var xmin string
		if err := db.QueryRow(ctx, `SELECT xmin::text FROM ingress.provisioning WHERE checkout_session_id = 'cs_test_3'`).Scan(&xmin); err != nil {
			t.Fatal(err)
		}
		return xmin
	}
	at := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
	step := func(name, status string, seq uint64, pr Progress) {
		t.Helper()
		pr.SagaID, pr.CustomerID = "signup-3", "cus_3"
		pr.Step = &Step{Name: name, Status: status, Seq: seq, At: at.Add(time.Duration(seq) * time.Second)}
		if err := st.Apply(ctx, pr); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Apply(ctx, Progress{CheckoutSessionID: "cs_test_3", SagaID: "signup-3"}); err != nil {
		t.Fatal(err)
	}
	created := version()

	step("database", StepStarted, 1, Progress{}) // the row learns its customer
	learned := version()
	if learned == created {
		t.Fatal("the first step did not record the customer")
	}
	step("database", StepDone, 2, Progress{})
	step("compute", StepStarted, 3, Progress{})
	if v := version(); v != learned {
		t.Errorf("a step alone wrote the row again (xmin %s, was %s)", v, learned)
	}
	step("compute", StepDone, 4, Progress{InstanceURL: "http://127.0.0.1:2"})
	if v := version(); v == learned {
		t.Error("a step with the instance URL did not write the row")
	}

	p, err := st.Lookup(ctx, "cs_test_3")
	if err != nil {
		t.Fatal(err)
	}
	if p.InstanceURL != "http://127.0.0.1:2" || p.Status != StatusProvisioning || len(p.Steps) != 2 ||
		p.Steps[0].Status != StepDone || p.Steps[1].Name != "compute" || p.Steps[1].Status != StepDone {
		t.Errorf("read %+v", p)
	}
	var customer string
	if err := db.QueryRow(ctx, `SELECT customer_id FROM ingress.provisioning WHERE checkout_session_id = 'cs_test_3'`).Scan(&customer); err != nil || customer != "cus_3" {
		t.Errorf("customer %q, %v", customer, err)
	}
}
