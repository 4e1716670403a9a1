package railway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"

	"clawdbot.cloud/pkg/apikey"
	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/servicetest"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
	"clawdbot.cloud/services/railway/internal/testkit"
)

// lifecycleStep is the step of a lifecycle saga's command.
func lifecycleStep(saga, name string, c testkit.Customer, attempt int32) *pb.Step {
	return &pb.Step{SagaId: saga, CustomerId: c.ID, Name: name, Attempt: attempt}
}

// send publishes a command as the saga does.
func (w *world) send(t *testing.T, subject string, st *pb.Step, msg proto.Message) {
	t.Helper()
	_, err := w.saga.Bus.Publish(context.Background(), subject, msg, bus.Envelope{
		MsgID:  fmt.Sprintf("%s-%s-%s-%d", subject, st.GetSagaId(), st.GetName(), st.GetAttempt()),
		SagaID: st.GetSagaId(), CustomerID: st.GetCustomerId(),
	})
	if err != nil {
		t.Fatal(err)
	}
}

// waitEvents waits until subject holds n events.
func (w *world) waitEvents(t *testing.T, subject string, n int) {
	t.Helper()
	servicetest.Eventually(t, wait, fmt.Sprintf("%d %s", n, subject), func() bool {
		return w.events.Published(t, subject) >= n
	})
}

// call sends GET url+path with a bearer token and returns status and body.
func call(t *testing.T, url, path, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// statusPlan reads the plan the runtime reports on /status with the
// instance token the compute service keeps.
func (w *world) statusPlan(t *testing.T, c testkit.Customer, url string) string {
	t.Helper()
	tok, err := w.saga.Secrets.Get(context.Background(), names.InstanceTokenRef(c.ID))
	if err != nil {
		t.Fatalf("instance token: %v", err)
	}
	code, body := call(t, url, "/status", string(tok))
	if code != http.StatusOK {
		t.Fatalf("GET /status with the instance token = %d %s", code, body)
	}
	var st struct {
		Plan string `json:"plan"`
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	return st.Plan
}

// customerKey migrates the customer's database and adds an API key to it.
func customerKey(t *testing.T, c testkit.Customer) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := customerdb.Migrate(ctx, conn); err != nil {
		t.Fatal(err)
	}
	key, err := apikey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if err := customerdb.AddAPIKey(ctx, conn, apikey.Hash(key), apikey.Prefix(key)); err != nil {
		t.Fatal(err)
	}
	return key
}

// Resize, stop, a restart of the service while stopped, start, and delete
// of a stopped instance, each sent twice.
func TestLifecycleOverTheBus(t *testing.T) {
	w := newWorld(t)
	stopService := servicetest.Start(t, w.env(t), Run)
	c := w.customer(t)
	key := customerKey(t, c)

	w.provision(t, c, 1)
	url := w.waitProvisioned(t, 1).GetInstanceUrl()
	if got := w.statusPlan(t, c, url); got != "starter" {
		t.Fatalf("plan on /status = %q, want starter", got)
	}

	// Plan change: the runtime restarts with the new plan.
	const change = "plan-evt_up"
	w.send(t, subjects.CmdComputeResize, lifecycleStep(change, "resize", c, 1),
		&pb.ResizeCompute{Step: lifecycleStep(change, "resize", c, 1), Plan: "pro"})
	w.waitEvents(t, subjects.ComputeResized, 1)
	if got := w.statusPlan(t, c, url); got != "pro" {
		t.Fatalf("plan on /status after resize = %q, want pro", got)
	}
	before := pids(t, c)
	w.send(t, subjects.CmdComputeResize, lifecycleStep(change, "resize", c, 2),
		&pb.ResizeCompute{Step: lifecycleStep(change, "resize", c, 2), Plan: "pro"})
	w.waitEvents(t, subjects.ComputeResized, 2)
	if after := pids(t, c); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("a duplicate resize restarted the runtime: pids %v, then %v", before, after)
	}
	var resized pb.ComputeResized
	w.events.Last(t, subjects.ComputeResized, &resized)
	if resized.GetPlan() != "pro" || resized.GetStep().GetName() != "resize" {
		t.Errorf("compute.resized = %v", &resized)
	}

	// Suspension: the key gets 402 "suspended" at the same address.
	const suspend = "suspend-evt_1"
	for attempt := int32(1); attempt <= 2; attempt++ {
		st := lifecycleStep(suspend, "stop", c, attempt)
		w.send(t, subjects.CmdComputeStop, st, &pb.StopCompute{Step: st, Reason: "suspended"})
		w.waitEvents(t, subjects.ComputeStopped, int(attempt))
		code, body := call(t, url, "/api/memory", key)
		if code != http.StatusPaymentRequired || !strings.Contains(body, `"error":"suspended: `) {
			t.Fatalf("GET /api/memory while suspended = %d %s", code, body)
		}
	}
	if n := len(pids(t, c)); n != 0 {
		t.Errorf("%d runtimes while stopped", n)
	}

	// A restarted service keeps the instance stopped and answering.
	stopService()
	servicetest.Start(t, w.env(t), Run)
	servicetest.Eventually(t, wait, "the responder after a restart", func() bool {
		code, _ := testkit.Health(url)
		return code == http.StatusPaymentRequired
	})
	if n := len(pids(t, c)); n != 0 {
		t.Errorf("%d runtimes after a restart while stopped", n)
	}

	// Resume: same URL, the key works again, the plan is kept.
	const resume = "resume-evt_1"
	for attempt := int32(1); attempt <= 2; attempt++ {
		st := lifecycleStep(resume, "start", c, attempt)
		w.send(t, subjects.CmdComputeStart, st, &pb.StartCompute{Step: st, Plan: "pro", DatabaseRef: c.DatabaseRef})
		w.waitEvents(t, subjects.ComputeStarted, int(attempt))
		var started pb.ComputeStarted
		w.events.Last(t, subjects.ComputeStarted, &started)
		if started.GetInstanceUrl() != url {
			t.Fatalf("compute.started url = %q, want %q", started.GetInstanceUrl(), url)
		}
		if code, body := call(t, url, "/api/memory", key); code != http.StatusOK {
			t.Fatalf("GET /api/memory after start = %d %s", code, body)
		}
	}
	if n := len(pids(t, c)); n != 1 {
		t.Errorf("%d runtimes after two starts, want 1", n)
	}
	if got := w.statusPlan(t, c, url); got != "pro" {
		t.Errorf("plan after start = %q", got)
	}

	// Cancellation: 403 "canceled"; then the delete still works.
	const cancel = "cancel-evt_1"
	st := lifecycleStep(cancel, "stop", c, 1)
	w.send(t, subjects.CmdComputeStop, st, &pb.StopCompute{Step: st, Reason: "canceled"})
	w.waitEvents(t, subjects.ComputeStopped, 3)
	if code, body := call(t, url, "/api/memory", key); code != http.StatusForbidden || !strings.Contains(body, `"error":"canceled: `) {
		t.Fatalf("GET /api/memory while canceled = %d %s", code, body)
	}
	w.delete(t, c)
	w.waitEvents(t, subjects.ComputeDeleted, 1)
	if !testkit.Refused(url) {
		t.Error("a deleted instance still answers")
	}
	if w.events.Published(t, subjects.ComputeFailed) != 0 {
		t.Error("a step failed")
	}
}

// Stopping or resizing a customer the service never provisioned fails the
// step for good.
func TestLifecycleOfAnUnknownInstanceFails(t *testing.T) {
	w := newWorld(t)
	servicetest.Start(t, w.env(t), Run)
	c := w.customer(t)
	st := lifecycleStep("suspend-evt_x", "stop", c, 1)
	w.send(t, subjects.CmdComputeStop, st, &pb.StopCompute{Step: st, Reason: "suspended"})
	w.waitEvents(t, subjects.ComputeFailed, 1)
	var failed pb.StepFailed
	w.events.Last(t, subjects.ComputeFailed, &failed)
	if failed.GetStep().GetName() != "stop" || !strings.Contains(failed.GetReason(), "no running compute instance") {
		t.Errorf("compute.failed = %v", &failed)
	}
	servicetest.Eventually(t, wait, "the dead letter", func() bool {
		return w.events.DeadLetters(t, "railway") == 1
	})
}
