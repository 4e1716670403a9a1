package saga_test

import (
	"context"
	"testing"
	"time"

	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/servicetest"
	"clawdbot.cloud/proto/subjects"
	"clawdbot.cloud/services/saga/internal/app"
	"clawdbot.cloud/services/saga/internal/domain"
	"clawdbot.cloud/services/saga/internal/store"
)

func TestRestartMidSaga(t *testing.T) {
	f := newFixture(t, func(c cmd) action {
		if c.Subject == subjects.CmdDatabaseCreate {
			return reply
		}
		return held
	})
	_, stop := f.start()
	f.signup("cs_restart", "evt_restart")
	id := names.SignupSagaID("cs_restart")
	servicetest.Eventually(t, 20*time.Second, "database step done", func() bool {
		var st string
		_ = f.p.DB.QueryRow(context.Background(), `SELECT status FROM saga.saga_steps WHERE saga_id = $1 AND name = 'database'`, id).Scan(&st)
		return st == "done"
	})
	stop()

	// The step services answer while no coordinator runs; a new one picks
	// the results up from the durable consumer and the rest from the database.
	f.sim.Release()
	f.start()
	f.waitStatus(id, "completed")
	if got := f.count(subjects.SagaCompleted); got != 1 {
		t.Errorf("saga.completed published %d times, want 1", got)
	}
	for _, s := range []string{subjects.CmdDatabaseCreate, subjects.CmdWorkspaceBuild, subjects.CmdComputeProvision, subjects.CmdInstanceCheck} {
		if got := f.count(s); got != 1 {
			t.Errorf("%s published %d times, want 1", s, got)
		}
	}
}

func TestOutboxSurvivesCrashBeforePublish(t *testing.T) {
	f := newFixture(t, always(reply))
	// A coordinator commits a saga start and dies before its relay publishes.
	st, err := store.Open(context.Background(), f.p.DB)
	if err != nil {
		t.Fatal(err)
	}
	m, err := app.NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	dead := app.New(app.Options{Store: st, Policy: domain.DefaultPolicy, Now: f.clock.Now, Log: f.p.Log, Metrics: m})
	id := names.SignupSagaID("cs_crash")
	if err := dead.Start(context.Background(), domain.Signup{SagaID: id, CustomerID: "cus_crash", CheckoutSessionID: "cs_crash", Plan: "pro"}); err != nil {
		t.Fatal(err)
	}
	if f.count(subjects.CmdDatabaseCreate) != 0 {
		t.Fatal("command published without a relay")
	}
	f.start()
	f.waitStatus(id, "completed")
	if got := f.count(subjects.CmdDatabaseCreate); got != 1 {
		t.Errorf("cmd.database.create published %d times, want 1", got)
	}
}
