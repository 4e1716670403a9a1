package railway

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/pkg/service"
	"clawdbot.cloud/pkg/servicetest"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
	"clawdbot.cloud/services/railway/internal/adapters/process"
	"clawdbot.cloud/services/railway/internal/testkit"
)

// runtimeBin is the real customer runtime and serviceBin this service's
// own command, built once for this test binary.
var runtimeBin, serviceBin string

func TestMain(m *testing.M) {
	runtimeBin = testkit.MustBuildRuntime("railway")
	serviceBin = testkit.MustBuild("railway", testkit.ServicePackage)
	pgtest.Main(m)
}

const wait = time.Minute

// world is a platform with a "saga" that sends compute commands.
type world struct {
	p      *servicetest.Platform
	saga   *service.Env
	events testkit.Events
}

func newWorld(t *testing.T) *world {
	t.Helper()
	p := servicetest.New(t)
	saga := p.Env(t, "saga", nil)
	return &world{p: p, saga: saga, events: testkit.Events{JS: saga.Bus.JetStream()}}
}

// env is a fresh environment of the compute service (one per run of it).
func (w *world) env(t *testing.T) *service.Env {
	t.Helper()
	return w.p.Env(t, "railway", map[string]string{
		"RUNTIME_BINARY":     runtimeBin,
		"RUNTIME_VERSION":    "test",
		"RUNTIME_STOP_GRACE": "5s",
	})
}

func (w *world) customer(t *testing.T) testkit.Customer {
	t.Helper()
	return testkit.NewCustomer(t, w.saga.Secrets)
}

func sagaStep(c testkit.Customer, attempt int32) *pb.Step {
	return &pb.Step{SagaId: "signup-cs_" + c.ID, CustomerId: c.ID, Name: "compute", Attempt: attempt}
}

func (w *world) provision(t *testing.T, c testkit.Customer, attempt int32) {
	t.Helper()
	step := sagaStep(c, attempt)
	_, err := w.saga.Bus.Publish(context.Background(), subjects.CmdComputeProvision,
		&pb.ProvisionCompute{Step: step, Plan: "starter", DatabaseRef: c.DatabaseRef},
		bus.Envelope{MsgID: fmt.Sprintf("cmd.compute.provision-%s-%d", step.GetSagaId(), attempt), SagaID: step.GetSagaId(), CustomerID: c.ID})
	if err != nil {
		t.Fatal(err)
	}
}

func (w *world) delete(t *testing.T, c testkit.Customer) {
	t.Helper()
	step := sagaStep(c, 1)
	_, err := w.saga.Bus.Publish(context.Background(), subjects.CmdComputeDelete, &pb.DeleteCompute{Step: step},
		bus.Envelope{MsgID: "cmd.compute.delete-" + step.GetSagaId(), SagaID: step.GetSagaId(), CustomerID: c.ID})
	if err != nil {
		t.Fatal(err)
	}
}

// waitProvisioned waits until n compute.provisioned events exist and returns the last.
func (w *world) waitProvisioned(t *testing.T, n int) *pb.ComputeProvisioned {
	t.Helper()
	servicetest.Eventually(t, wait, "compute.provisioned", func() bool {
		return w.events.Published(t, subjects.ComputeProvisioned) >= n
	})
	var got pb.ComputeProvisioned
	w.events.Last(t, subjects.ComputeProvisioned, &got)
	return &got
}

func pids(t *testing.T, c testkit.Customer) []int {
	t.Helper()
	got, err := process.PIDs(runtimeBin, c.ServiceID())
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// alive reports whether pid runs (and is not a zombie).
func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(stat), ')')
	return i > 0 && i+2 < len(stat) && stat[i+2] != 'Z'
}

func TestProvisionAndDeleteOverTheBus(t *testing.T) {
	w := newWorld(t)
	env := w.env(t)
	servicetest.Start(t, env, Run)
	c := w.customer(t)

	w.provision(t, c, 1)
	got := w.waitProvisioned(t, 1)
	if got.GetServiceId() != c.ServiceID() || !strings.HasPrefix(got.GetInstanceUrl(), "http://127.0.0.1:") {
		t.Fatalf("compute.provisioned = %v", got)
	}
	if code, err := testkit.Health(got.GetInstanceUrl()); err != nil || code != 200 {
		t.Fatalf("GET /health = %d, %v", code, err)
	}

	// The saga retries the step: same instance, still one process.
	w.provision(t, c, 2)
	again := w.waitProvisioned(t, 2)
	if again.GetInstanceUrl() != got.GetInstanceUrl() || again.GetStep().GetAttempt() != 2 {
		t.Errorf("second compute.provisioned = %v, want URL %s", again, got.GetInstanceUrl())
	}
	if n := len(pids(t, c)); n != 1 {
		t.Errorf("%d runtimes after two provisions, want 1", n)
	}

	w.delete(t, c)
	servicetest.Eventually(t, wait, "compute.deleted", func() bool {
		return w.events.Published(t, subjects.ComputeDeleted) == 1
	})
	if !testkit.Refused(got.GetInstanceUrl()) {
		t.Errorf("the deleted runtime still answers at %s", got.GetInstanceUrl())
	}
	if n := len(pids(t, c)); n != 0 {
		t.Errorf("%d runtimes after delete, want 0", n)
	}
	for _, op := range []string{"provision", "delete"} {
		want := map[string]float64{"provision": 2, "delete": 1}[op]
		labels := map[string]string{"consumer": "railway", "command": "cmd.compute." + op, "result": "ok"}
		if n := servicetest.Counter(t, env.Metrics, "claw_step_commands_total", labels); n != want {
			t.Errorf("operations{%s,ok} = %v, want %v", op, n, want)
		}
	}
	assertNoCustomerLabels(t, env, c)
}

func TestUnknownPlanFailsTheStep(t *testing.T) {
	w := newWorld(t)
	servicetest.Start(t, w.env(t), Run)
	c := w.customer(t)
	step := sagaStep(c, 1)
	_, err := w.saga.Bus.Publish(context.Background(), subjects.CmdComputeProvision,
		&pb.ProvisionCompute{Step: step, Plan: "gold", DatabaseRef: c.DatabaseRef},
		bus.Envelope{MsgID: "gold", SagaID: step.GetSagaId()})
	if err != nil {
		t.Fatal(err)
	}
	servicetest.Eventually(t, wait, "compute.failed", func() bool {
		return w.events.Published(t, subjects.ComputeFailed) == 1
	})
	servicetest.Eventually(t, wait, "the dead letter", func() bool {
		return w.events.DeadLetters(t, "railway") == 1
	})
	if n := len(pids(t, c)); n != 0 {
		t.Errorf("%d runtimes for a failed step", n)
	}
}

func TestConfigurationProblemsAreReportedTogether(t *testing.T) {
	w := newWorld(t)
	env := w.p.Env(t, "railway", map[string]string{"COMPUTE_DRIVER": "docker"})
	err := Run(context.Background(), env)
	if err == nil {
		t.Fatal("Run accepted an unknown driver")
	}
	wantContains(t, err.Error(), `COMPUTE_DRIVER="docker" must be one of process, railway`)

	env = w.p.Env(t, "railway", map[string]string{"RUNTIME_BINARY": "/nonexistent/runtime", "RUNTIME_STOP_GRACE": "soon"})
	err = Run(context.Background(), env)
	if err == nil {
		t.Fatal("Run accepted a missing binary")
	}
	wantContains(t, err.Error(), "make build")
	wantContains(t, err.Error(), "RUNTIME_STOP_GRACE")

	env = w.p.Env(t, "railway", map[string]string{"COMPUTE_UID_RANGE": "0-99", "COMPUTE_ISOLATION": "maybe",
		"COMPUTE_CGROUP_PARENT": "a/b", "COMPUTE_PIDS_LIMIT": "3", "COMPUTE_CONCURRENCY": "0"})
	err = Run(context.Background(), env)
	if err == nil {
		t.Fatal("Run accepted bad isolation settings")
	}
	for _, want := range []string{"COMPUTE_UID_RANGE 0-99", "COMPUTE_ISOLATION", "COMPUTE_CGROUP_PARENT", "COMPUTE_PIDS_LIMIT", "COMPUTE_CONCURRENCY"} {
		wantContains(t, err.Error(), want)
	}

	// The engines are this service's decision: a malformed setting stops it.
	env = w.p.Env(t, "railway", map[string]string{"RUNTIME_ENGINES": "team:openclaw", "OPENCLAW_START_TIMEOUT": "0s"})
	err = Run(context.Background(), env)
	if err == nil {
		t.Fatal("Run accepted a malformed RUNTIME_ENGINES")
	}
	wantContains(t, err.Error(), "RUNTIME_ENGINES")
	wantContains(t, err.Error(), "OPENCLAW_START_TIMEOUT")

	env = w.p.Env(t, "railway", nil)
	if err := Run(context.Background(), env); err == nil || !strings.Contains(err.Error(), "RUNTIME_BINARY is required") {
		t.Errorf("Run without RUNTIME_BINARY = %v", err)
	}
}

func wantContains(t *testing.T, got, want string) {
	t.Helper()
	if !strings.Contains(got, want) {
		t.Errorf("%q does not contain %q", got, want)
	}
}

// assertNoCustomerLabels checks that no metric of env names the customer.
func assertNoCustomerLabels(t *testing.T, env *service.Env, c testkit.Customer) {
	t.Helper()
	mfs, err := env.Metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if strings.Contains(lp.GetValue(), c.ID) || strings.Contains(lp.GetValue(), c.ServiceID()) {
					t.Errorf("metric %s has the customer in label %s=%q", mf.GetName(), lp.GetName(), lp.GetValue())
				}
			}
		}
	}
}
