package workspace_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/pkg/service"
	"clawdbot.cloud/pkg/servicetest"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/services/workspace"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const waitFor = 20 * time.Second

// fixture is a running workspace service, a stand-in saga that sends it
// commands, and a recorder of everything on the bus.
type fixture struct {
	t      *testing.T
	svc    *service.Env // the workspace service's env (metrics)
	saga   *service.Env // publishes commands; reads secrets
	events *servicetest.Recorder
}

func newFixture(t *testing.T, vars map[string]string) *fixture {
	t.Helper()
	p := servicetest.New(t)
	f := &fixture{t: t, svc: p.Env(t, "workspace", vars), saga: p.Env(t, "saga", nil)}
	f.events = servicetest.Record(t, f.saga.Bus.JetStream())
	servicetest.Start(t, f.svc, workspace.Run)
	return f
}

// customerDB creates a migrated database for customerID and stores its URL
// where the neon service would. It returns a pool on it for assertions.
func (f *fixture) customerDB(customerID string) *pgxpool.Pool {
	f.t.Helper()
	url := pgtest.NewDatabase(f.t)
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(pool.Close)
	if err := customerdb.Migrate(context.Background(), pool); err != nil {
		f.t.Fatal(err)
	}
	f.putSecret(names.DatabaseRef(customerID), url)
	return pool
}

func (f *fixture) putSecret(ref, value string) {
	f.t.Helper()
	if err := f.saga.Secrets.Put(context.Background(), ref, []byte(value)); err != nil {
		f.t.Fatal(err)
	}
}

// send publishes a command as the saga does.
func (f *fixture) send(subject string, msg proto.Message, step *pb.Step) {
	f.t.Helper()
	_, err := f.saga.Bus.Publish(context.Background(), subject, msg, bus.Envelope{
		MsgID:      fmt.Sprintf("%s-%s-%d", subject, step.GetSagaId(), step.GetAttempt()),
		SagaID:     step.GetSagaId(),
		CustomerID: step.GetCustomerId(),
	})
	if err != nil {
		f.t.Fatal(err)
	}
}

func step(sagaID, customerID string, attempt int32) *pb.Step {
	return &pb.Step{SagaId: sagaID, CustomerId: customerID, Name: "workspace", Attempt: attempt}
}

// leaks returns the subjects of recorded messages whose payload or headers
// contain s.
func leaks(r *servicetest.Recorder, s string) []string {
	var out []string
	for _, m := range r.All() {
		if strings.Contains(string(m.Data), s) {
			out = append(out, m.Subject)
		}
		for _, vs := range m.Headers {
			for _, v := range vs {
				if strings.Contains(v, s) {
					out = append(out, m.Subject+" (header)")
				}
			}
		}
	}
	return out
}

// buildResult labels the step metric of cmd.workspace.build with result.
func buildResult(result string) map[string]string {
	return map[string]string{"consumer": "workspace", "command": "cmd.workspace.build", "result": result}
}
