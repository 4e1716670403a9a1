package saga_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/service"
	"clawdbot.cloud/pkg/servicetest"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
	"clawdbot.cloud/services/saga"
)

// clock is a fake clock the test moves by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fixture is a platform with a coordinator and a simulator of the step
// services.
type fixture struct {
	t     *testing.T
	p     *servicetest.Platform
	clock *clock
	sim   *sim
	vars  map[string]string
}

func newFixture(t *testing.T, decide func(cmd) action) *fixture {
	t.Helper()
	p := servicetest.New(t)
	f := &fixture{
		t: t, p: p,
		clock: &clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)},
		vars:  map[string]string{"SAGA_SWEEP_INTERVAL": "20ms"},
	}
	f.sim = startSim(t, p.Env(t, "stepsim", nil).Bus, p.DB, decide)
	return f
}

// start runs a coordinator (a fresh Env, as a new process would have) and
// returns its env and stop function.
func (f *fixture) start() (*service.Env, func()) {
	f.t.Helper()
	env := f.p.Env(f.t, "saga", f.vars)
	env.Now = f.clock.Now
	stop := servicetest.Start(f.t, env, saga.Run)
	servicetest.Eventually(f.t, 20*time.Second, "saga schema", func() bool {
		var ok bool
		err := f.p.DB.QueryRow(context.Background(), `SELECT to_regclass('saga.customer_events') IS NOT NULL`).Scan(&ok)
		return err == nil && ok
	})
	return env, stop
}

// signup publishes customer.signed_up for checkout session cs with message id msgID.
func (f *fixture) signup(cs, msgID string) {
	f.t.Helper()
	ev := &pb.CustomerSignedUp{
		StripeEventId: "evt_" + cs, CheckoutSessionId: cs, CustomerId: "cus_" + cs, SubscriptionId: "sub_" + cs,
		Email: "ada@example.com", Name: "Ada", Plan: "pro", Timezone: "Europe/Paris", SagaId: names.SignupSagaID(cs),
	}
	if _, err := f.sim.bus.Publish(context.Background(), subjects.CustomerSignedUp, ev, bus.Envelope{MsgID: msgID, CustomerID: ev.CustomerId}); err != nil {
		f.t.Fatal(err)
	}
}

// count returns how many messages the stream holds on subject.
func (f *fixture) count(subject string) int {
	f.t.Helper()
	return servicetest.Count(f.t, f.sim.bus.JetStream(), subjects.Stream, subject)
}

// last decodes the last message on subject into dst.
func (f *fixture) last(subject string, dst proto.Message) {
	f.t.Helper()
	servicetest.Last(f.t, f.sim.bus.JetStream(), subjects.Stream, subject, dst)
}

// status returns the saga's status ("" when it does not exist).
func (f *fixture) status(id string) string {
	f.t.Helper()
	var s string
	err := f.p.DB.QueryRow(context.Background(), `SELECT coalesce((SELECT status FROM saga.sagas WHERE id = $1), '')`, id).Scan(&s)
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

// waitStatus waits until the saga has status want and nothing is left in the outbox.
func (f *fixture) waitStatus(id, want string) {
	f.t.Helper()
	servicetest.Eventually(f.t, 20*time.Second, id+" "+want, func() bool {
		if f.status(id) != want {
			return false
		}
		var pending int
		if err := f.p.DB.QueryRow(context.Background(), `SELECT count(*) FROM saga.outbox WHERE sent_at IS NULL`).Scan(&pending); err != nil {
			f.t.Fatal(err)
		}
		return pending == 0
	})
}

// cmd is a command the simulator received.
type cmd struct {
	Subject string
	SagaID  string
	Step    string
	Attempt int
	// Seq is the command's stream sequence (makes answer ids unique).
	Seq uint64
	// Msg is the decoded command.
	Msg proto.Message
}

func (c cmd) String() string { return fmt.Sprintf("%s#%d", c.Subject, c.Attempt) }

// action is what the simulator does with a command.
type action int

const (
	reply action = iota // answer with the step's success (or deleted) event
	fail                // answer with <domain>.failed
	drop                // never answer (the step service is down or slow)
	held                // reply, but only once Release has been called
)

// sim plays the step services: it consumes cmd.* with its own durable
// consumer and answers as decide says. cmd.instance.check is answered only
// once the workspace step is done (or the saga stopped running), so the
// parallel steps finish in a known order.
type sim struct {
	t      *testing.T
	bus    *bus.Bus
	db     *pgxpool.Pool
	decide func(cmd) action
	ctx    context.Context
	wg     sync.WaitGroup
	// released is closed by Release.
	released chan struct{}

	mu   sync.Mutex
	cmds []cmd
}

func startSim(t *testing.T, b *bus.Bus, db *pgxpool.Pool, decide func(cmd) action) *sim {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &sim{t: t, bus: b, db: db, decide: decide, ctx: ctx, released: make(chan struct{})}
	cons, err := b.JetStream().CreateOrUpdateConsumer(ctx, subjects.Stream, jetstream.ConsumerConfig{
		Durable: "stepsim", FilterSubject: "cmd.>", AckPolicy: jetstream.AckExplicitPolicy,
	})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		s.handle(m)
		_ = m.Ack()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cc.Stop()
		cancel()
		s.wg.Wait()
	})
	return s
}

// Release lets held commands be answered.
func (s *sim) Release() { close(s.released) }

// seen returns the commands received so far, matching subject prefix if given.
func (s *sim) seen(prefix string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, c := range s.cmds {
		if len(c.Subject) >= len(prefix) && c.Subject[:len(prefix)] == prefix {
			out = append(out, c.String())
		}
	}
	return out
}

func (s *sim) handle(m jetstream.Msg) {
	msg := subjects.New(m.Subject())
	if msg == nil || bus.Decode(m.Data(), msg) != nil {
		s.t.Errorf("sim: undecodable %s", m.Subject())
		return
	}
	step := msg.ProtoReflect().Get(msg.ProtoReflect().Descriptor().Fields().ByName("step")).Message().Interface().(*pb.Step)
	c := cmd{Subject: m.Subject(), SagaID: step.GetSagaId(), Step: step.GetName(), Attempt: int(step.GetAttempt()), Msg: msg}
	if meta, err := m.Metadata(); err == nil {
		c.Seq = meta.Sequence.Stream
	}
	s.mu.Lock()
	s.cmds = append(s.cmds, c)
	s.mu.Unlock()
	act := s.decide(c)
	if act == drop {
		return
	}
	if c.Subject != subjects.CmdInstanceCheck && act != held {
		s.answer(c, step, act)
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if act == held {
			select {
			case <-s.ctx.Done():
				return
			case <-s.released:
			}
			act = reply
		}
		for c.Subject == subjects.CmdInstanceCheck && !s.workspaceSettled(c.SagaID) {
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
		s.answer(c, step, act)
	}()
}

func (s *sim) workspaceSettled(sagaID string) bool {
	var ws, st string
	err := s.db.QueryRow(s.ctx, `SELECT st.status, sg.status FROM saga.saga_steps st JOIN saga.sagas sg ON sg.id = st.saga_id
		WHERE st.saga_id = $1 AND st.name = 'workspace'`, sagaID).Scan(&ws, &st)
	return err == nil && (ws == "done" || st != "running")
}

func (s *sim) answer(c cmd, step *pb.Step, act action) {
	subject, msg := result(c, step, act)
	id := fmt.Sprintf("sim-%s-%s-%s-%d", subject, c.SagaID, c.Step, c.Attempt)
	if _, err := s.bus.Publish(s.ctx, subject, msg, bus.Envelope{MsgID: id, SagaID: c.SagaID, CustomerID: step.GetCustomerId()}); err != nil && s.ctx.Err() == nil {
		s.t.Errorf("sim: publish %s: %v", subject, err)
	}
}

// result is what a step service answers to c.
func result(c cmd, step *pb.Step, act action) (string, proto.Message) {
	failed := map[string]string{
		subjects.CmdDatabaseCreate: subjects.DatabaseFailed, subjects.CmdWorkspaceBuild: subjects.WorkspaceFailed,
		subjects.CmdComputeProvision: subjects.ComputeFailed, subjects.CmdInstanceCheck: subjects.InstanceFailed,
		subjects.CmdDatabaseDelete: subjects.DatabaseFailed, subjects.CmdWorkspaceDelete: subjects.WorkspaceFailed,
		subjects.CmdComputeDelete: subjects.ComputeFailed,
	}
	if act == fail {
		subject := failed[c.Subject]
		if subject == "" {
			subject = strings.Split(c.Subject, ".")[1] + ".failed"
		}
		return subject, &pb.StepFailed{Step: step, Reason: "simulated failure"}
	}
	cus := step.GetCustomerId()
	switch c.Subject {
	case subjects.CmdDatabaseCreate:
		return subjects.DatabaseCreated, &pb.DatabaseCreated{Step: step, DatabaseName: names.Database(cus), DatabaseRef: names.DatabaseRef(cus)}
	case subjects.CmdWorkspaceBuild:
		return subjects.WorkspaceBuilt, &pb.WorkspaceBuilt{Step: step, Files: 5, ApiKeyRef: names.APIKeyRevealRef(c.SagaID), ApiKeyPrefix: "claw_abcd"}
	case subjects.CmdComputePrepare:
		return subjects.ComputePrepared, &pb.ComputePrepared{Step: step, ServiceId: names.Service(cus), InstanceUrl: "http://127.0.0.1:9/" + cus}
	case subjects.CmdComputeProvision:
		return subjects.ComputeProvisioned, &pb.ComputeProvisioned{Step: step, ServiceId: names.Service(cus), InstanceUrl: "http://127.0.0.1:9/" + cus}
	case subjects.CmdInstanceCheck:
		return subjects.InstanceReady, &pb.InstanceReady{Step: step, InstanceUrl: "http://127.0.0.1:9/" + cus, LatencyMs: 3}
	case subjects.CmdDatabaseDelete:
		return subjects.DatabaseDeleted, &pb.DatabaseDeleted{Step: step, DatabaseName: names.Database(cus)}
	case subjects.CmdWorkspaceDelete:
		return subjects.WorkspaceDeleted, &pb.WorkspaceDeleted{Step: step}
	case subjects.CmdComputeDelete:
		return subjects.ComputeDeleted, &pb.ComputeDeleted{Step: step}
	case subjects.CmdComputeResize:
		return subjects.ComputeResized, &pb.ComputeResized{Step: step, Plan: c.Msg.(*pb.ResizeCompute).GetPlan()}
	case subjects.CmdWorkspaceSkills:
		return subjects.SkillsRendered, &pb.SkillsRendered{Step: step, Files: 3}
	case subjects.CmdComputeStop:
		return subjects.ComputeStopped, &pb.ComputeStopped{Step: step}
	case subjects.CmdComputeStart:
		return subjects.ComputeStarted, &pb.ComputeStarted{Step: step, InstanceUrl: "http://127.0.0.1:9/" + cus}
	case subjects.CmdWorkspaceRevoke:
		return subjects.KeysRevoked, &pb.KeysRevoked{Step: step}
	case subjects.CmdDatabaseArchive:
		return subjects.DatabaseArchived, &pb.DatabaseArchived{Step: step, ArchiveRef: names.ArchiveRef(cus), Bytes: 1024}
	case subjects.CmdDatabaseRestore:
		return subjects.DatabaseRestored, &pb.DatabaseRestored{Step: step, DatabaseRef: names.DatabaseRef(cus)}
	case subjects.CmdDatabaseDropArchive:
		return subjects.ArchiveDeleted, &pb.ArchiveDeleted{Step: step}
	}
	panic("sim: no result for " + c.Subject)
}

func always(a action) func(cmd) action { return func(cmd) action { return a } }

// gauge returns the value of an unlabelled gauge in env's registry.
func gauge(t *testing.T, env *service.Env, name string) float64 {
	t.Helper()
	mfs, err := env.Metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}
