package ingress_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/servicetest"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
)

// sagaBus publishes what the saga and the step services would.
type sagaBus struct {
	t   *testing.T
	b   *bus.Bus
	seq int
}

func (h *harness) sagaBus(t *testing.T) *sagaBus {
	return &sagaBus{t: t, b: h.p.Env(t, "saga", nil).Bus}
}

func (s *sagaBus) publish(subject string, msg proto.Message) {
	s.t.Helper()
	s.seq++
	if _, err := s.b.Publish(context.Background(), subject, msg, bus.Envelope{MsgID: fmt.Sprintf("test-%s-%d", subject, s.seq)}); err != nil {
		s.t.Fatalf("publish %s: %v", subject, err)
	}
}

// steps renders a provisioning response's steps as "name:status" strings.
func steps(body map[string]any) []string {
	var out []string
	list, _ := body["steps"].([]any)
	for _, s := range list {
		m := s.(map[string]any)
		e := fmt.Sprintf("%s:%s", m["name"], m["status"])
		if m["compensation"] == true {
			e = "undo-" + e
		}
		out = append(out, e)
	}
	return out
}

// waitProjected waits until the projector has acknowledged every event sb
// published (it handles them in parallel, in no particular order).
func (h *harness) waitProjected(t *testing.T, sb *sagaBus) {
	t.Helper()
	servicetest.Eventually(t, 10*time.Second, "the projector to handle every event", func() bool {
		return servicetest.Counter(t, h.env.Metrics, "claw_bus_handled_total",
			map[string]string{"consumer": "ingress-projector", "outcome": "ack"}) >= float64(sb.seq)
	})
}

// waitFor polls the provisioning API until cond holds and returns that response.
func (h *harness) waitFor(t *testing.T, cs, what string, cond func(response) bool) response {
	t.Helper()
	var last response
	servicetest.Eventually(t, 10*time.Second, what, func() bool {
		last = h.get(t, "/v1/provisioning/"+cs)
		return cond(last)
	})
	return last
}

func TestProvisioningFollowsTheSaga(t *testing.T) {
	h := start(t)
	const cs = "cs_test_follow0001"
	saga := names.SignupSagaID(cs)
	const nonce = "nonce-of-the-follow-browser"
	if res := h.deliver(t, checkout{EventID: "evt_follow", SessionID: cs, Customer: "cus_F1", Plan: "pro", RevealHash: hashOf(nonce)}.payload(t)); res.Code != 200 {
		t.Fatalf("webhook: %d %v", res.Code, res.Body)
	}
	sb := h.sagaBus(t)
	step := func(name string) *pb.Step {
		return &pb.Step{SagaId: saga, CustomerId: "cus_F1", Name: name, Attempt: 1}
	}

	sb.publish(subjects.SagaStepStarted, &pb.SagaStepStarted{Step: step("database")})
	h.waitFor(t, cs, "database started", func(r response) bool {
		return strings.Join(steps(r.Body), ",") == "database:started"
	})
	sb.publish(subjects.DatabaseCreated, &pb.DatabaseCreated{Step: step("database"), DatabaseRef: names.DatabaseRef("cus_F1")})
	sb.publish(subjects.SagaStepStarted, &pb.SagaStepStarted{Step: step("workspace")})
	sb.publish(subjects.SagaStepStarted, &pb.SagaStepStarted{Step: step("compute")})
	sb.publish(subjects.WorkspaceBuilt, &pb.WorkspaceBuilt{Step: step("workspace"), ApiKeyRef: names.APIKeyRevealRef(saga)})
	sb.publish(subjects.ComputeProvisioned, &pb.ComputeProvisioned{Step: step("compute"), InstanceUrl: "http://127.0.0.1:41001"})
	sb.publish(subjects.SagaStepStarted, &pb.SagaStepStarted{Step: step("instance")})
	res := h.waitFor(t, cs, "three steps done", func(r response) bool {
		return strings.Join(steps(r.Body), ",") == "database:done,workspace:done,compute:done,instance:started"
	})
	if res.Body["status"] != "provisioning" || res.Body["instance_url"] != "http://127.0.0.1:41001" || res.Body["api_key_available"] != false {
		t.Fatalf("mid-saga: %v", res.Body)
	}

	// The workspace service stored the one-time reveal; the saga completes.
	if err := h.env.Secrets.Put(context.Background(), names.APIKeyRevealRef(saga), []byte("claw_s3cret")); err != nil {
		t.Fatal(err)
	}
	sb.publish(subjects.InstanceReady, &pb.InstanceReady{Step: step("instance"), InstanceUrl: "http://127.0.0.1:41001"})
	completed := &pb.SagaCompleted{SagaId: saga, CustomerId: "cus_F1", CheckoutSessionId: cs,
		InstanceUrl: "http://127.0.0.1:41001", ApiKeyRef: names.APIKeyRevealRef(saga)}
	sb.publish(subjects.SagaCompleted, completed)

	servicetest.Eventually(t, 10*time.Second, "the signup to be ready", func() bool {
		var status string
		err := h.env.DB.QueryRow(context.Background(),
			`SELECT status FROM ingress.provisioning WHERE checkout_session_id = $1`, cs).Scan(&status)
		return err == nil && status == "ready"
	})
	// The page never carries the key: it says the key can be revealed.
	ready := h.get(t, "/v1/provisioning/"+cs)
	if ready.Body["api_key"] != nil || ready.Body["api_key_available"] != true || ready.Body["api_key_revealed"] != false {
		t.Fatalf("ready: %v", ready.Body)
	}
	// Whoever holds the nonce gets the key, exactly once.
	if r := h.reveal(t, cs, nonce); r.Code != 200 || r.Body["api_key"] != "claw_s3cret" || r.Body["instance_url"] != "http://127.0.0.1:41001" {
		t.Fatalf("reveal: %d %v", r.Code, r.Body)
	}
	if strings.Contains(h.logs.String(), "claw_s3cret") {
		t.Error("the API key was logged")
	}
	// The projector's workers may apply saga.completed before instance.ready.
	final := h.waitFor(t, cs, "every step done", func(r response) bool {
		return strings.Join(steps(r.Body), ",") == "database:done,workspace:done,compute:done,instance:done"
	})
	if final.Body["api_key"] != nil || final.Body["api_key_revealed"] != true || final.Body["api_key_available"] != false || final.Body["status"] != "ready" {
		t.Fatalf("after the reveal: %v", final.Body)
	}
	if final.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", final.Header.Get("Cache-Control"))
	}

	// Replays (an operator re-drives the stream; events arrive again, out of
	// order) change nothing, and the secret stays gone.
	sb.publish(subjects.SagaCompleted, completed)
	sb.publish(subjects.InstanceReady, &pb.InstanceReady{Step: step("instance"), InstanceUrl: "http://127.0.0.1:41001"})
	sb.publish(subjects.SagaStepStarted, &pb.SagaStepStarted{Step: step("database")})
	sb.publish(subjects.DatabaseCreated, &pb.DatabaseCreated{Step: step("database")})
	h.waitProjected(t, sb)
	again := h.get(t, "/v1/provisioning/"+cs)
	if got := strings.Join(steps(again.Body), ","); got != "database:done,workspace:done,compute:done,instance:done" {
		t.Errorf("steps after replay: %s", got)
	}
	if again.Body["status"] != "ready" || again.Body["api_key"] != nil || again.Body["api_key_revealed"] != true {
		t.Fatalf("after replay: %v", again.Body)
	}

	// A stray failure report cannot undo a finished signup.
	sb.publish(subjects.InstanceFailed, &pb.StepFailed{Step: step("instance"), Reason: "stray"})
	h.waitProjected(t, sb)
	late := h.get(t, "/v1/provisioning/"+cs)
	if late.Body["status"] != "ready" || late.Body["failure_reason"] != "" {
		t.Fatalf("after a stray failure: %v", late.Body)
	}
}

func TestProvisioningFailure(t *testing.T) {
	h := start(t)
	const cs = "cs_test_fail00001"
	saga := names.SignupSagaID(cs)
	if res := h.deliver(t, checkout{EventID: "evt_fail", SessionID: cs, Plan: "team"}.payload(t)); res.Code != 200 {
		t.Fatalf("webhook: %d", res.Code)
	}
	sb := h.sagaBus(t)
	step := func(name string) *pb.Step { return &pb.Step{SagaId: saga, Name: name, Attempt: 1} }
	sb.publish(subjects.DatabaseCreated, &pb.DatabaseCreated{Step: step("database")})
	sb.publish(subjects.ComputeFailed, &pb.StepFailed{Step: step("compute"), Reason: "no capacity"})
	sb.publish(subjects.SagaStepStarted, &pb.SagaStepStarted{Step: step("database"), Compensation: true})
	sb.publish(subjects.DatabaseDeleted, &pb.DatabaseDeleted{Step: step("database")})
	sb.publish(subjects.SagaCompensated, &pb.SagaCompensated{SagaId: saga, CheckoutSessionId: cs, FailedStep: "compute", Reason: "no capacity"})
	h.waitProjected(t, sb)
	res := h.get(t, "/v1/provisioning/"+cs)
	if got := strings.Join(steps(res.Body), ","); got != "database:done,compute:failed,undo-database:done" {
		t.Errorf("steps: %s", got)
	}
	if res.Body["status"] != "failed" || res.Body["failure_reason"] != "compute: no capacity" || res.Body["api_key_revealed"] != false {
		t.Fatalf("failed signup: %v", res.Body)
	}
	// A late success report cannot resurrect a failed signup.
	sb.publish(subjects.SagaCompleted, &pb.SagaCompleted{SagaId: saga, CheckoutSessionId: cs, ApiKeyRef: "apikey/x"})
	h.waitProjected(t, sb)
	res = h.get(t, "/v1/provisioning/"+cs)
	if res.Body["status"] != "failed" || res.Body["api_key"] != nil {
		t.Fatalf("after a late completion: %v", res.Body)
	}
}

// A step's failure report is not the signup's failure: the saga may retry
// (the report was of an attempt it had re-sent) and complete.
func TestProvisioningStepFailureThenCompletion(t *testing.T) {
	h := start(t)
	const cs = "cs_test_retry0001"
	saga := names.SignupSagaID(cs)
	if res := h.deliver(t, checkout{EventID: "evt_retry", SessionID: cs, Plan: "starter"}.payload(t)); res.Code != 200 {
		t.Fatalf("webhook: %d", res.Code)
	}
	sb := h.sagaBus(t)
	sb.publish(subjects.DatabaseFailed, &pb.StepFailed{Step: &pb.Step{SagaId: saga, Name: "database", Attempt: 1}, Reason: "gave up after 8 attempts"})
	h.waitProjected(t, sb)
	if res := h.get(t, "/v1/provisioning/"+cs); res.Body["status"] != "provisioning" {
		t.Fatalf("after a step's failure report: %v, want still provisioning", res.Body)
	}
	sb.publish(subjects.DatabaseCreated, &pb.DatabaseCreated{Step: &pb.Step{SagaId: saga, Name: "database", Attempt: 2}})
	sb.publish(subjects.SagaCompleted, &pb.SagaCompleted{SagaId: saga, CheckoutSessionId: cs, ApiKeyRef: "apikey/" + saga, InstanceUrl: "http://127.0.0.1:41002"})
	h.waitProjected(t, sb)
	if res := h.get(t, "/v1/provisioning/"+cs); res.Body["status"] != "ready" || res.Body["failure_reason"] != "" {
		t.Fatalf("after the saga completed: %v, want ready", res.Body)
	}
}

func TestProvisioningRequests(t *testing.T) {
	h := start(t)
	tests := []struct {
		path string
		code int
	}{
		{"/v1/provisioning/cs_test_unknown0001", http.StatusNotFound},
		{"/v1/provisioning/ch_123", http.StatusBadRequest},
		{"/v1/provisioning/cs_" + strings.Repeat("a", 300), http.StatusBadRequest},
		{"/v1/provisioning/cs_a%27%20OR%201=1", http.StatusBadRequest},
		{"/v1/provisioning/cs_%C3%A9t%C3%A9", http.StatusBadRequest},
	}
	for _, tc := range tests {
		res := h.get(t, tc.path)
		if res.Code != tc.code || res.Body["error"] == nil {
			t.Errorf("GET %s: %d %v, want %d with an error", tc.path, res.Code, res.Body, tc.code)
		}
		if res.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s: Cache-Control %q", tc.path, res.Header.Get("Cache-Control"))
		}
	}
	if res := h.get(t, "/v1/elsewhere"); res.Code != 404 || res.Body["error"] != "not found" {
		t.Errorf("unknown route: %d %v", res.Code, res.Body)
	}
	if res := h.get(t, "/webhooks/stripe"); res.Code != 405 || res.Header.Get("Allow") != "POST" {
		t.Errorf("GET on the webhook: %d %v", res.Code, res.Header)
	}
}

// A signup saga the ingress never saw the webhook of (a replay into a fresh
// read model) keeps its steps, and gets its page from the saga's final
// event, which names the session; other sagas get nothing.
func TestProjectorWithoutWebhook(t *testing.T) {
	h := start(t)
	sb := h.sagaBus(t)
	const cs = "cs_test_orphan001"
	saga := names.SignupSagaID(cs)
	sb.publish(subjects.SagaStepStarted, &pb.SagaStepStarted{Step: &pb.Step{SagaId: "plan-change-cus_1-2", Name: "compute"}})
	sb.publish(subjects.SagaStepStarted, &pb.SagaStepStarted{Step: &pb.Step{SagaId: saga, Name: "database"}})
	h.waitProjected(t, sb)
	var n int
	if err := h.env.DB.QueryRow(context.Background(), `SELECT count(*) FROM ingress.provisioning_steps`).Scan(&n); err != nil || n != 1 {
		t.Errorf("%d step rows (err %v), want only the signup's", n, err)
	}
	// A final event whose session does not derive the saga id is refused.
	sb.publish(subjects.SagaCompleted, &pb.SagaCompleted{SagaId: saga, CheckoutSessionId: "cs_test_someoneelse", ApiKeyRef: "apikey/x"})
	sb.publish(subjects.SagaCompleted, &pb.SagaCompleted{SagaId: saga, CustomerId: "cus_O1", CheckoutSessionId: cs,
		InstanceUrl: "http://127.0.0.1:41002", ApiKeyRef: names.APIKeyRevealRef(saga)})
	res := h.waitFor(t, cs, "the orphan's page", func(r response) bool { return r.Code == 200 })
	if res.Body["status"] != "ready" || strings.Join(steps(res.Body), ",") != "database:started" || res.Body["api_key_available"] != false {
		t.Fatalf("orphan signup: %v", res.Body)
	}
	if r := h.get(t, "/v1/provisioning/cs_test_someoneelse"); r.Code != 404 {
		t.Errorf("a mismatched session got a page: %d %v", r.Code, r.Body)
	}
}

func TestProvisioningSagaFailed(t *testing.T) {
	h := start(t)
	const cs = "cs_test_sagafail1"
	saga := names.SignupSagaID(cs)
	if res := h.deliver(t, checkout{EventID: "evt_sagafail", SessionID: cs, Plan: "pro"}.payload(t)); res.Code != 200 {
		t.Fatalf("webhook: %d", res.Code)
	}
	sb := h.sagaBus(t)
	sb.publish(subjects.SagaFailed, &pb.SagaFailed{SagaId: saga, CheckoutSessionId: cs, FailedStep: "instance", Reason: "timed out"})
	h.waitProjected(t, sb)
	res := h.get(t, "/v1/provisioning/"+cs)
	if res.Body["status"] != "failed" || res.Body["failure_reason"] != "instance: timed out" {
		t.Fatalf("after saga.failed: %v", res.Body)
	}
}
