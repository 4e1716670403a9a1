package app_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/natstest"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/pkg/servicetest"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
	"clawdbot.cloud/services/railway/internal/app"
	"clawdbot.cloud/services/railway/internal/testkit"
)

// fakeDriver answers with scripted results and counts its calls.
type fakeDriver struct {
	mu         sync.Mutex
	provisions int
	deletes    int
	restarts   int
	prepares   int
	// onProvision, onDelete and onPrepare get the 1-based call number.
	onProvision func(n int) (app.Instance, error)
	onDelete    func(n int) error
	onPrepare   func(n int) (app.Instance, error)
}

func (f *fakeDriver) Prepare(_ context.Context, customerID string, _ plans.Plan) (app.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.prepares++
	if f.onPrepare == nil {
		return app.Instance{ServiceID: "svc-" + customerID, URL: "https://svc-" + customerID + ".example"}, nil
	}
	return f.onPrepare(f.prepares)
}

func (f *fakeDriver) Provision(_ context.Context, req app.ProvisionRequest) (app.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.provisions++
	if f.onProvision == nil {
		return app.Instance{ServiceID: "svc-" + req.CustomerID, URL: "http://127.0.0.1:1"}, nil
	}
	return f.onProvision(f.provisions)
}

func (f *fakeDriver) Delete(context.Context, string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deletes++
	if f.onDelete == nil {
		return nil
	}
	return f.onDelete(f.deletes)
}

func (f *fakeDriver) Restart(_ context.Context, customerID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.restarts++
	if customerID == "cus_gone" {
		return fmt.Errorf("instance of %s: %w", customerID, app.ErrNotFound)
	}
	return nil
}

func (f *fakeDriver) Resize(context.Context, string, plans.Plan) error { return nil }

func (f *fakeDriver) Stop(context.Context, string, string) error { return nil }

func (f *fakeDriver) Resume(_ context.Context, req app.ProvisionRequest) (app.Instance, error) {
	return app.Instance{ServiceID: "svc-" + req.CustomerID, URL: "http://127.0.0.1:1"}, nil
}

func (f *fakeDriver) calls() (provisions, deletes int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.provisions, f.deletes
}

const maxDeliver = 3

// memJournal is the deleted-saga journal in memory (the SQL one is tested
// in internal/store).
type memJournal struct {
	mu      sync.Mutex
	deleted map[string]bool
}

func (j *memJournal) MarkSagaDeleted(_ context.Context, sagaID string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.deleted == nil {
		j.deleted = map[string]bool{}
	}
	j.deleted[sagaID] = true
	return nil
}

func (j *memJournal) SagaDeleted(_ context.Context, sagaID string) (bool, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.deleted[sagaID], nil
}

// fixture is an App over a fake driver on an embedded NATS server.
type fixture struct {
	bus    *bus.Bus
	events testkit.Events
	reg    *prometheus.Registry
}

func start(t *testing.T, drv app.Driver) *fixture {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	reg := prometheus.NewRegistry()
	b, err := bus.Connect(ctx, natstest.URL(t), "railway", log, reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	if err := b.Setup(ctx, bus.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	a, err := app.New(app.Options{Bus: b, Log: log, Metrics: reg, Journal: &memJournal{}, Consumer: bus.ConsumerConfig{
		MaxDeliver: maxDeliver, RetryBase: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond,
	}}, drv)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return &fixture{bus: b, events: testkit.Events{JS: b.JetStream()}, reg: reg}
}

func step(customer string) *pb.Step {
	return &pb.Step{SagaId: "signup-cs_" + customer, CustomerId: customer, Name: "compute", Attempt: 1}
}

func (f *fixture) provision(t *testing.T, cmd *pb.ProvisionCompute, msgID string) {
	t.Helper()
	if _, err := f.bus.Publish(context.Background(), subjects.CmdComputeProvision, cmd,
		bus.Envelope{MsgID: msgID, SagaID: cmd.GetStep().GetSagaId()}); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) delete(t *testing.T, cmd *pb.DeleteCompute, msgID string) {
	t.Helper()
	if _, err := f.bus.Publish(context.Background(), subjects.CmdComputeDelete, cmd,
		bus.Envelope{MsgID: msgID, SagaID: cmd.GetStep().GetSagaId()}); err != nil {
		t.Fatal(err)
	}
}

// waitFor waits until subject holds n events.
func (f *fixture) waitFor(t *testing.T, subject string, n int) {
	t.Helper()
	servicetest.Eventually(t, 20*time.Second, fmt.Sprintf("%d %s", n, subject), func() bool {
		return f.events.Published(t, subject) >= n
	})
}

func (f *fixture) waitDead(t *testing.T, n int) {
	t.Helper()
	servicetest.Eventually(t, 20*time.Second, fmt.Sprintf("%d dead letters", n), func() bool {
		return f.events.DeadLetters(t, app.ConsumerName) >= n
	})
}

func (f *fixture) ops(t *testing.T, op, result string) float64 {
	t.Helper()
	return servicetest.Counter(t, f.reg, "claw_step_commands_total",
		map[string]string{"consumer": app.ConsumerName, "command": "cmd.compute." + op, "result": result})
}

func wantContains(t *testing.T, got, want string) {
	t.Helper()
	if !strings.Contains(got, want) {
		t.Errorf("%q does not contain %q", got, want)
	}
}

var errFlaky = errors.New("backend briefly unavailable")
