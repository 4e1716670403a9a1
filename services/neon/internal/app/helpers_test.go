package app_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/pkg/service"
	"clawdbot.cloud/pkg/servicetest"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
	"clawdbot.cloud/services/neon/internal/adapters/postgres"
	"clawdbot.cloud/services/neon/internal/app"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// harness is the service under test on a real bus and database, and a
// second service ("saga") that sends it commands.
type harness struct {
	env  *service.Env
	saga *service.Env
	real *postgres.Driver
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	p := servicetest.New(t)
	env := p.Env(t, "neon", nil)
	d, err := postgres.Open(t.Context(), postgres.Config{AdminURL: pgtest.AdminURL(t), Secrets: env.Secrets, Log: env.Log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return &harness{env: env, saga: p.Env(t, "saga", nil), real: d}
}

// start runs the app around driver until the test ends.
func (h *harness) start(t *testing.T, driver app.Driver, configure ...func(*app.App)) {
	t.Helper()
	a, err := app.New(driver, h.env)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range configure {
		c(a)
	}
	servicetest.Start(t, h.env, func(ctx context.Context, _ *service.Env) error { return a.Run(ctx) })
}

// step returns a fresh saga step for a fresh customer, whose database is
// deleted when the test ends.
func (h *harness) step(t *testing.T) *pb.Step {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	s := &pb.Step{SagaId: "signup-cs_" + hex.EncodeToString(b), CustomerId: "cus_A" + hex.EncodeToString(b), Name: "database", Attempt: 1}
	t.Cleanup(func() {
		if err := h.real.Delete(context.WithoutCancel(t.Context()), s.CustomerId); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return s
}

// send publishes a command for step as the saga does; msgID defaults to
// the saga's deterministic id.
func (h *harness) send(t *testing.T, subject string, msg proto.Message, step *pb.Step, msgID string) {
	t.Helper()
	if msgID == "" {
		msgID = fmt.Sprintf("%s-%s-%s-%d", subject, step.SagaId, step.Name, step.Attempt)
	}
	if _, err := h.saga.Bus.Publish(t.Context(), subject, msg, bus.Envelope{MsgID: msgID, SagaID: step.SagaId, CustomerID: step.CustomerId}); err != nil {
		t.Fatal(err)
	}
}

// waitMsg waits for the last message on subject in stream.
func waitMsg(t *testing.T, js jetstream.JetStream, stream, subject string) *jetstream.RawStreamMsg {
	t.Helper()
	return servicetest.WaitLast(t, js, stream, subject, 30*time.Second)
}

// count returns how many messages on subject the event stream holds.
func count(t *testing.T, js jetstream.JetStream, subject string) int {
	t.Helper()
	return servicetest.Count(t, js, subjects.Stream, subject)
}

// faultDriver decorates a driver with failures: fail decides, per call
// (1-based), whether Create fails and how; nil delegates.
type faultDriver struct {
	app.Driver
	fail func(call int) error

	mu    sync.Mutex
	calls int
}

func (f *faultDriver) Create(ctx context.Context, customerID string) (app.Database, error) {
	f.mu.Lock()
	f.calls++
	n := f.calls
	f.mu.Unlock()
	if err := f.fail(n); err != nil {
		return app.Database{}, err
	}
	return f.Driver.Create(ctx, customerID)
}

func (f *faultDriver) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

var errTransient = errors.New("connection reset by peer")
