package store_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/services/saga/internal/domain"
	"clawdbot.cloud/services/saga/internal/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func open(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), pgtest.NewPool(t))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func start(t *testing.T, st *store.Store, cs string) *domain.Saga {
	t.Helper()
	s, _ := domain.Start(domain.Signup{SagaID: "signup-" + cs, CustomerID: "cus_" + cs, CheckoutSessionID: cs, Plan: "pro", Email: "e@x", Timezone: "UTC"}, t0, domain.DefaultPolicy)
	created, err := st.Create(context.Background(), s, []store.Message{{SagaID: s.ID, CustomerID: s.CustomerID, Subject: "cmd.database.create", MsgID: s.ID + "-m", Payload: []byte(`{"plan":"pro"}`)}}, t0)
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	return s
}

func TestRoundTripAndDuplicateCreate(t *testing.T) {
	st := open(t)
	s := start(t, st, "cs_1")
	got, err := st.Get(context.Background(), s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s, got, cmpopts.EquateApproxTime(0)); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	created, err := st.Create(context.Background(), s, nil, t0)
	if err != nil || created {
		t.Errorf("second create: created %v err %v", created, err)
	}
	if _, err := st.Get(context.Background(), "signup-nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing saga: %v", err)
	}
}

// TestConcurrentUpdatesApplyOnce delivers the same result 16 times at once:
// the row lock serializes them and only the first finds the step running.
func TestConcurrentUpdatesApplyOnce(t *testing.T) {
	st := open(t)
	s := start(t, st, "cs_2")
	// The compute was prepared already: the database's result completes
	// rank 0 and sends rank 1 (the compute step).
	if err := st.Update(context.Background(), s.ID, t0, func(sg *domain.Saga) ([]store.Message, bool, error) {
		return nil, sg.Succeeded(domain.Result{Step: domain.Prepare, Attempt: 1}, t0, domain.DefaultPolicy).Changed, nil
	}); err != nil {
		t.Fatal(err)
	}
	var applied atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := st.Update(context.Background(), s.ID, t0, func(sg *domain.Saga) ([]store.Message, bool, error) {
				out := sg.Succeeded(domain.Result{Step: domain.Database, Attempt: 1, DatabaseRef: "db/x"}, t0.Add(time.Second), domain.DefaultPolicy)
				if !out.Changed {
					return nil, false, nil
				}
				applied.Add(1)
				var msgs []store.Message
				for _, c := range out.Sends {
					msgs = append(msgs, store.Message{SagaID: sg.ID, Subject: string(c.Command()), MsgID: c.MsgID(sg.ID), Payload: []byte(`{}`)})
				}
				return msgs, true, nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if applied.Load() != 1 {
		t.Errorf("applied %d times, want 1", applied.Load())
	}
	if n, _ := st.Pending(context.Background()); n != 2 {
		t.Errorf("%d messages queued, want 2 (create, compute)", n)
	}
	got, _ := st.Get(context.Background(), s.ID)
	if got.Step(domain.Compute).Status != domain.StepRunning || got.DatabaseRef != "db/x" {
		t.Errorf("saga after updates: %+v", got)
	}
}

// each publishes a relayed batch one message at a time with publish,
// stopping at the first error.
func each(publish func(context.Context, store.Message) error) func(context.Context, []store.Message) (int, error) {
	return func(ctx context.Context, ms []store.Message) (int, error) {
		for i, m := range ms {
			if err := publish(ctx, m); err != nil {
				return i, err
			}
		}
		return len(ms), nil
	}
}

func TestRelay(t *testing.T) {
	st := open(t)
	start(t, st, "cs_3")
	start(t, st, "cs_4")
	ctx := context.Background()
	boom := errors.New("nats down")
	var got []string
	publish := func(_ context.Context, m store.Message) error {
		if len(got) == 1 && m.SagaID == "signup-cs_4" && boom != nil {
			return boom
		}
		got = append(got, m.MsgID)
		return nil
	}
	n, err := st.Relay(ctx, 10, t0, each(publish))
	if n != 1 || !errors.Is(err, boom) {
		t.Fatalf("first relay: sent %d err %v; want 1 and the publish error", n, err)
	}
	boom = nil
	if n, err := st.Relay(ctx, 10, t0, each(publish)); n != 1 || err != nil {
		t.Fatalf("second relay: sent %d err %v", n, err)
	}
	if n, err := st.Relay(ctx, 10, t0, each(publish)); n != 0 || err != nil {
		t.Fatalf("third relay: sent %d err %v", n, err)
	}
	if diff := cmp.Diff([]string{"signup-cs_3-m", "signup-cs_4-m"}, got); diff != "" {
		t.Errorf("published (-want +got):\n%s", diff)
	}
	if n, err := st.PruneOutbox(ctx, t0.Add(time.Second)); n != 2 || err != nil {
		t.Errorf("pruned %d err %v", n, err)
	}
}

func TestDue(t *testing.T) {
	st := open(t)
	s := start(t, st, "cs_5")
	ctx := context.Background()
	deadline := s.Step(domain.Database).Deadline
	for _, tc := range []struct {
		now  time.Time
		want []string
	}{
		{deadline.Add(-time.Millisecond), nil},
		{deadline, []string{s.ID}},
	} {
		got, err := st.Due(ctx, tc.now, 10)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("due at %v (-want +got):\n%s", tc.now, diff)
		}
	}
	if n, err := st.CountActive(ctx); n != 1 || err != nil {
		t.Errorf("active %d err %v", n, err)
	}
}

// TestUpdateWritesOnlyChangedSteps: an update rewrites the step rows it
// changed and leaves the others as they were (an upsert of an unchanged row
// still writes a new version of it), and what is read back is the saga as
// updated.
func TestUpdateWritesOnlyChangedSteps(t *testing.T) {
	pool := pgtest.NewPool(t)
	st, err := store.Open(t.Context(), pool)
	if err != nil {
		t.Fatal(err)
	}
	s := start(t, st, "cs_steps")
	versions := func() map[string]string {
		rows, err := pool.Query(t.Context(), `SELECT name, xmin::text FROM saga.saga_steps WHERE saga_id = $1`, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for rows.Next() {
			var name, xmin string
			if err := rows.Scan(&name, &xmin); err != nil {
				t.Fatal(err)
			}
			out[name] = xmin
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	old := versions()
	before, err := st.Get(t.Context(), s.ID)
	if err != nil {
		t.Fatal(err)
	}
	var want *domain.Saga
	if err := st.Update(t.Context(), s.ID, t0, func(sg *domain.Saga) ([]store.Message, bool, error) {
		ok := sg.Succeeded(domain.Result{Step: domain.Prepare, Attempt: 1}, t0.Add(time.Second), domain.DefaultPolicy).Changed
		want = sg
		return nil, ok, nil
	}); err != nil {
		t.Fatal(err)
	}
	got, err := st.Get(t.Context(), s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateApproxTime(0)); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}
	now := versions()
	changed := 0
	for i, step := range got.Steps {
		name := string(step.Name)
		if same := before.Steps[i] == step; same != (old[name] == now[name]) {
			t.Errorf("step %s: unchanged %v, but its row's version went %s → %s", name, same, old[name], now[name])
		}
		if before.Steps[i] != step {
			changed++
		}
	}
	if changed == 0 || changed == len(got.Steps) {
		t.Fatalf("%d of %d steps changed: the test needs some of each", changed, len(got.Steps))
	}
}
