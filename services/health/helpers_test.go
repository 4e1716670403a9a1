package health_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/pkg/service"
	"clawdbot.cloud/pkg/servicetest"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
	"clawdbot.cloud/services/health"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const waitFor = 20 * time.Second

// fixture is a running health service, a stand-in saga that sends it
// commands, and a recorder of every message on the bus.
type fixture struct {
	t      *testing.T
	svc    *service.Env
	saga   *service.Env
	events *servicetest.Recorder
}

func newFixture(t *testing.T, vars map[string]string) *fixture {
	t.Helper()
	p := servicetest.New(t)
	f := &fixture{t: t, svc: p.Env(t, "health", vars), saga: p.Env(t, "saga", nil)}
	f.events = servicetest.Record(t, f.saga.Bus.JetStream())
	servicetest.Start(t, f.svc, health.Run)
	return f
}

// check sends cmd.instance.check as the saga does.
func (f *fixture) check(sagaID, instanceURL string) {
	f.t.Helper()
	st := &pb.Step{SagaId: sagaID, CustomerId: "cus_" + sagaID, Name: "instance", Attempt: 1}
	_, err := f.saga.Bus.Publish(context.Background(), subjects.CmdInstanceCheck,
		&pb.CheckInstance{Step: st, InstanceUrl: instanceURL},
		bus.Envelope{MsgID: fmt.Sprintf("%s-%s-1", subjects.CmdInstanceCheck, sagaID), SagaID: sagaID, CustomerID: st.CustomerId})
	if err != nil {
		f.t.Fatal(err)
	}
}

// checkResult labels the step metric of cmd.instance.check with result.
func checkResult(result string) map[string]string {
	return map[string]string{"consumer": "health", "command": "cmd.instance.check", "result": result}
}
