package app

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"clawdbot.cloud/pkg/bus"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
	"clawdbot.cloud/services/health/internal/probe"
)

// A check cut short by shutdown is no verdict on the instance: nothing is
// published and the command is redelivered.
func TestCheckInterruptedIsRetried(t *testing.T) {
	pub := &fakePublisher{}
	ctx, cancel := context.WithCancel(context.Background())
	a := newApp(t, pub, func(ctx context.Context) probe.Result {
		cancel() // shutdown arrives while the first probe is under way
		<-ctx.Done()
		return probe.Result{Err: ctx.Err()}
	})
	err := a.Router().Dispatch(ctx, subjects.CmdInstanceCheck, cmd("http://instance.example"))
	if err == nil || bus.IsPermanent(err) {
		t.Fatalf("Check = %v, want a retryable error", err)
	}
	if pub.n() != 0 {
		t.Errorf("published %d messages for an interrupted check", pub.n())
	}
}

// A result that cannot be published is retried rather than lost.
func TestCheckRetriesWhenPublishFails(t *testing.T) {
	pub := &fakePublisher{err: errors.New("nats: timeout")}
	a := newApp(t, pub, func(context.Context) probe.Result { return probe.Result{Healthy: true, Status: 200} })
	if err := a.Router().Dispatch(context.Background(), subjects.CmdInstanceCheck, cmd("http://instance.example")); err == nil || bus.IsPermanent(err) {
		t.Fatalf("Check = %v, want a retryable error", err)
	}
}

func cmd(url string) *pb.CheckInstance {
	return &pb.CheckInstance{Step: &pb.Step{SagaId: "signup-x", CustomerId: "cus_x", Name: "instance", Attempt: 1}, InstanceUrl: url}
}

func newApp(t *testing.T, pub bus.Publisher, p probeFunc) *App {
	t.Helper()
	a, err := New(Options{
		Log:          slog.New(slog.NewTextHandler(io.Discard, nil)),
		Bus:          pub,
		Prober:       p,
		CheckTimeout: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// probeFunc is a Prober made of a function.
type probeFunc func(ctx context.Context) probe.Result

func (f probeFunc) Probe(ctx context.Context, _ string) probe.Result { return f(ctx) }

type fakePublisher struct {
	mu   sync.Mutex
	err  error
	sent int
}

func (p *fakePublisher) Publish(context.Context, string, proto.Message, bus.Envelope) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return false, p.err
	}
	p.sent++
	return false, nil
}

func (p *fakePublisher) n() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sent
}
