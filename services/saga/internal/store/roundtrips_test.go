package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/services/saga/internal/domain"
	"clawdbot.cloud/services/saga/internal/store"
)

// TestUpdateIsThreeRoundTrips: an update is its begin with the locked read,
// its writes and its commit (it was eight round trips: every statement,
// the begin and the commit each waited for the server), a read is one; and
// an update still locks, writes what fn changed, continues the saga's trace
// without one in ctx, and ends its transaction on every path.
func TestUpdateIsThreeRoundTrips(t *testing.T) {
	ctx := context.Background()
	// One connection: a transaction left open would block the next call.
	db, count := pgtest.NewCountedPool(t, 1)
	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := domain.Start(domain.Signup{SagaID: "signup-cs_rt", CustomerID: "cus_rt", CheckoutSessionID: "cs_rt", Plan: "pro", Email: "e@x", Timezone: "UTC"}, t0, domain.DefaultPolicy)
	if _, err := st.Create(ctx, s, nil, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `UPDATE saga.sagas SET trace_context = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' WHERE id = $1`, s.ID); err != nil {
		t.Fatal(err)
	}

	count.Reset()
	if err := st.Update(ctx, s.ID, t0, func(sg *domain.Saga) ([]store.Message, bool, error) {
		ok := sg.Succeeded(domain.Result{Step: domain.Prepare, Attempt: 1}, t0.Add(time.Second), domain.DefaultPolicy).Changed
		return []store.Message{{SagaID: sg.ID, CustomerID: sg.CustomerID, Subject: "cmd.database.create", MsgID: sg.ID + "-db", Payload: []byte(`{}`)}}, ok, nil
	}); err != nil {
		t.Fatal(err)
	}
	if n := count.Load(); n != 3 {
		t.Errorf("an update took %d round trips, want 3", n)
	}
	var tc string
	if err := db.QueryRow(ctx, `SELECT trace_context FROM saga.outbox WHERE msg_id = $1`, s.ID+"-db").Scan(&tc); err != nil {
		t.Fatal(err)
	}
	if tc != "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" {
		t.Errorf("outbox trace context %q, want the saga's", tc)
	}

	count.Reset()
	got, err := st.Get(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if n := count.Load(); n != 1 {
		t.Errorf("a read took %d round trips, want 1", n)
	}
	if i := slices.IndexFunc(got.Steps, func(st domain.Step) bool { return st.Name == domain.Prepare }); i < 0 || got.Steps[i].Status != domain.StepDone || len(got.Steps) != len(s.Steps) {
		t.Errorf("read back steps %+v", got.Steps)
	}

	// fn's error, no change, and an unknown saga all end the transaction:
	// with one connection, the next call would wait forever otherwise.
	boom := errors.New("boom")
	if err := st.Update(ctx, s.ID, t0, func(*domain.Saga) ([]store.Message, bool, error) { return nil, true, boom }); !errors.Is(err, boom) {
		t.Errorf("fn's error: %v", err)
	}
	if err := st.Update(ctx, s.ID, t0, func(*domain.Saga) ([]store.Message, bool, error) { return nil, false, nil }); err != nil {
		t.Errorf("no change: %v", err)
	}
	if err := st.Update(ctx, "signup-none", t0, func(*domain.Saga) ([]store.Message, bool, error) { return nil, true, nil }); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown saga: %v, want ErrNotFound", err)
	}
	if _, err := st.Get(ctx, "signup-none"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown saga read: %v, want ErrNotFound", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := st.Get(wctx, s.ID); err != nil {
		t.Errorf("after the failed updates: %v", err)
	}
}
