package saga_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/config"
	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/pkg/servicetest"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
	"clawdbot.cloud/services/saga"
	"clawdbot.cloud/services/saga/internal/domain"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var forward = []string{
	"cmd.database.create#1", "cmd.compute.prepare#1", "cmd.compute.provision#1", "cmd.workspace.build#1", "cmd.instance.check#1",
}

func TestHappyPath(t *testing.T) {
	f := newFixture(t, always(reply))
	env, _ := f.start()
	f.signup("cs_happy", "evt_happy")
	id := names.SignupSagaID("cs_happy")
	f.waitStatus(id, "completed")

	if got := f.count(subjects.SagaCompleted); got != 1 {
		t.Errorf("saga.completed published %d times, want 1", got)
	}
	var done pb.SagaCompleted
	f.last(subjects.SagaCompleted, &done)
	if done.SagaId != id || done.CustomerId != "cus_cs_happy" || done.CheckoutSessionId != "cs_happy" ||
		done.InstanceUrl != "http://127.0.0.1:9/cus_cs_happy" || done.ApiKeyRef != names.APIKeyRevealRef(id) {
		t.Errorf("saga.completed = %v", &done)
	}
	if diff := cmp.Diff(forward, f.sim.seen("cmd.")); diff != "" {
		t.Errorf("commands (-want +got):\n%s", diff)
	}
	if got := f.count(subjects.SagaStepStarted); got != 5 {
		t.Errorf("saga.step_started published %d times, want 5", got)
	}
	var prep pb.PrepareCompute
	f.last(subjects.CmdComputePrepare, &prep)
	if prep.Plan != "pro" || prep.Step.GetName() != "prepare" {
		t.Errorf("cmd.compute.prepare = %v", &prep)
	}
	var build pb.BuildWorkspace
	f.last(subjects.CmdWorkspaceBuild, &build)
	// The build follows the compute step and names its instance.
	if build.DatabaseRef != names.DatabaseRef("cus_cs_happy") || build.Email != "ada@example.com" || build.Timezone != "Europe/Paris" || build.Plan != "pro" ||
		build.InstanceUrl != "http://127.0.0.1:9/cus_cs_happy" {
		t.Errorf("cmd.workspace.build = %v", &build)
	}
	for name, want := range map[string]float64{
		"claw_saga_started_total": 1, "claw_saga_finished_total": 1, "claw_saga_compensations_total": 0,
	} {
		if got := servicetest.Counter(t, env.Metrics, name, nil); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	// Every message the relay got stored had its wait measured (before the
	// relay marks it sent).
	servicetest.Eventually(t, 5*time.Second, "outbox lag observed", func() bool {
		var sent uint64
		err := f.p.DB.QueryRow(context.Background(), `SELECT count(*) FROM saga.outbox WHERE sent_at IS NOT NULL`).Scan(&sent)
		return err == nil && sent >= 11 && servicetest.HistogramCount(t, env.Metrics, "claw_saga_outbox_lag_seconds", nil) == sent
	})
}

func TestDuplicateSignupsStartOneSaga(t *testing.T) {
	f := newFixture(t, always(reply))
	env, _ := f.start()
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.signup("cs_dup", fmt.Sprintf("evt_dup-%d", i)) // distinct ids: the dedup window does not help
		}()
	}
	wg.Wait()
	id := names.SignupSagaID("cs_dup")
	f.waitStatus(id, "completed")
	servicetest.Eventually(t, 10*time.Second, "all signups handled", func() bool {
		return servicetest.Counter(t, env.Metrics, "claw_bus_handled_total", map[string]string{"subject": subjects.CustomerSignedUp}) == 10
	})

	var sagas, creates int
	if err := f.p.DB.QueryRow(context.Background(), `SELECT count(*) FROM saga.sagas`).Scan(&sagas); err != nil {
		t.Fatal(err)
	}
	if err := f.p.DB.QueryRow(context.Background(), `SELECT count(*) FROM saga.outbox WHERE subject = $1`, subjects.CmdDatabaseCreate).Scan(&creates); err != nil {
		t.Fatal(err)
	}
	if sagas != 1 || creates != 1 || f.count(subjects.CmdDatabaseCreate) != 1 || f.count(subjects.SagaCompleted) != 1 {
		t.Errorf("sagas %d, queued creates %d, published creates %d, completed %d; want 1 each",
			sagas, creates, f.count(subjects.CmdDatabaseCreate), f.count(subjects.SagaCompleted))
	}
	if got := servicetest.Counter(t, env.Metrics, "claw_saga_started_total", nil); got != 1 {
		t.Errorf("claw_saga_started_total = %v, want 1", got)
	}
	if got := servicetest.Counter(t, env.Metrics, "claw_bus_published_total", map[string]string{"result": "duplicate"}); got != 0 {
		t.Errorf("%v duplicate publishes; each message should be published once", got)
	}
}

// TestReplayChangesNothing re-publishes every result of a finished saga
// under new message ids, as an operator replaying the stream would: the
// saga's state decides, not the dedup window, so nothing happens.
func TestReplayChangesNothing(t *testing.T) {
	f := newFixture(t, always(reply))
	env, _ := f.start()
	f.signup("cs_replay", "evt_replay")
	id := names.SignupSagaID("cs_replay")
	f.waitStatus(id, "completed")
	before := f.sim.seen("cmd.")

	step := func(name string) *pb.Step {
		return &pb.Step{SagaId: id, CustomerId: "cus_cs_replay", Name: name, Attempt: 1}
	}
	replays := []struct {
		subject string
		msg     proto.Message
	}{
		{subjects.CustomerSignedUp, &pb.CustomerSignedUp{CheckoutSessionId: "cs_replay", CustomerId: "cus_cs_replay", SagaId: id}},
		{subjects.DatabaseCreated, &pb.DatabaseCreated{Step: step("database"), DatabaseRef: "db/other"}},
		{subjects.WorkspaceBuilt, &pb.WorkspaceBuilt{Step: step("workspace")}},
		{subjects.ComputeProvisioned, &pb.ComputeProvisioned{Step: step("compute")}},
		{subjects.InstanceReady, &pb.InstanceReady{Step: step("instance")}},
		{subjects.ComputeFailed, &pb.StepFailed{Step: step("compute"), Reason: "late"}},
		{subjects.DatabaseDeleted, &pb.DatabaseDeleted{Step: step("database")}},
	}
	for _, r := range replays {
		if _, err := f.sim.bus.Publish(context.Background(), r.subject, r.msg, bus.Envelope{MsgID: "replay-" + r.subject}); err != nil {
			t.Fatal(err)
		}
	}
	servicetest.Eventually(t, 20*time.Second, "replays handled", func() bool {
		return servicetest.Counter(t, env.Metrics, "claw_bus_handled_total", map[string]string{"outcome": "ack"}) >= float64(len(before)+len(replays)+1)
	})
	if diff := cmp.Diff(before, f.sim.seen("cmd.")); diff != "" {
		t.Errorf("replay sent commands (-before +after):\n%s", diff)
	}
	var ref string
	if err := f.p.DB.QueryRow(context.Background(), `SELECT database_ref FROM saga.sagas WHERE id = $1`, id).Scan(&ref); err != nil {
		t.Fatal(err)
	}
	if f.status(id) != "completed" || ref != names.DatabaseRef("cus_cs_replay") || f.count(subjects.SagaCompleted) != 1 {
		t.Errorf("saga changed by replay: status %s ref %s completed %d", f.status(id), ref, f.count(subjects.SagaCompleted))
	}
}

func TestConfig(t *testing.T) {
	l := config.FromMap(map[string]string{"SAGA_STEP_TIMEOUT": "10s", "SAGA_STEP_ATTEMPTS": "5"})
	c := saga.LoadConfig(l)
	if err := l.Err(); err != nil {
		t.Fatal(err)
	}
	want := domain.Policy{StepTimeout: 10 * time.Second, InstanceTimeout: 6 * time.Minute, EngineTimeout: 6 * time.Minute, MaxAttempts: 5}
	if c.Policy != want || c.SweepInterval != 500*time.Millisecond {
		t.Errorf("config %+v", c)
	}
	l = config.FromMap(map[string]string{"SAGA_STEP_ATTEMPTS": "0", "SAGA_SWEEP_INTERVAL": "soon"})
	saga.LoadConfig(l)
	if err := l.Err(); err == nil || !strings.Contains(err.Error(), "SAGA_STEP_ATTEMPTS") || !strings.Contains(err.Error(), "SAGA_SWEEP_INTERVAL") {
		t.Errorf("want both problems reported, got %v", err)
	}
}
