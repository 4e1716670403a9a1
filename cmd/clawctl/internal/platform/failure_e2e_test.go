package platform_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"clawdbot.cloud/cmd/clawctl/internal/e2e"
	"clawdbot.cloud/cmd/clawctl/internal/signup"
	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/stripefixture"
	"clawdbot.cloud/proto/subjects"
)

// A runtime that never answers makes the compute step time out while its
// provisioning is still in flight; the coordinator undoes compute, workspace
// and database with real resources, and nothing is left running.
func TestHangingRuntimeIsCompensated(t *testing.T) {
	hang := filepath.Join(e2e.TraversableDir(t), "hanging-runtime")
	// A "runtime" that runs but never answers /health.
	if err := os.WriteFile(hang, []byte("#!/bin/sh\nwhile :; do sleep 1; done\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	h := start(t, map[string]string{
		"RUNTIME_BINARY":        hang,
		"RUNTIME_START_TIMEOUT": "2s",
		// The compute step waits as long as the instance check (it waits
		// for the runtime to answer).
		"SAGA_INSTANCE_TIMEOUT": "3s",
		"SAGA_STEP_TIMEOUT":     "3s",
		"SAGA_STEP_ATTEMPTS":    "1",
	})
	co := stripefixture.Checkout{Email: "crash@example.com", Name: "Crash", Plan: "starter"}
	co.Fill()
	if err := postCheckout(h, co); err != nil {
		t.Fatal(err)
	}
	st := waitReady(t, h, co.SessionID)
	if st.Status != "failed" || st.FailureReason == "" {
		t.Fatalf("status = %+v, want failed with a reason", st)
	}
	saga := names.SignupSagaID(co.SessionID)
	for _, s := range []string{subjects.CmdComputeDelete, subjects.CmdDatabaseDelete, subjects.SagaCompensated} {
		if n := len(h.events(t, s, saga)); n != 1 {
			t.Errorf("%s: %d for the saga, want 1", s, n)
		}
	}
	// The workspace follows the compute step: never built, nothing to undo.
	if n := len(h.events(t, subjects.CmdWorkspaceBuild, saga)) + len(h.events(t, subjects.CmdWorkspaceDelete, saga)); n != 0 {
		t.Errorf("%d workspace commands for a signup whose compute failed", n)
	}
	if n := len(h.events(t, subjects.SagaCompleted, saga)); n != 0 {
		t.Errorf("saga.completed published for a failed signup")
	}
	admin := h.adminConn(t)
	db := names.Database(co.CustomerID)
	if exists(t, admin, `SELECT 1 FROM pg_database WHERE datname = $1`, db) {
		t.Errorf("database %s left behind", db)
	}
	if exists(t, admin, `SELECT 1 FROM pg_roles WHERE rolname = $1`, db) {
		t.Errorf("role %s left behind", db)
	}
	if exists(t, admin, `SELECT 1 FROM secrets.secrets WHERE ref = $1`, names.DatabaseRef(co.CustomerID)) {
		t.Errorf("database secret left behind")
	}
	if exists(t, admin, `SELECT 1 FROM secrets.secrets WHERE ref = $1`, names.APIKeyRevealRef(saga)) {
		t.Errorf("API key reveal left behind")
	}
	if n := processesRunning(t, hang); n != 0 {
		t.Errorf("%d customer processes left running", n)
	}
}

// The platform stopped mid-saga (every service, the coordinator and the
// compute service included) finishes the saga exactly once after restart.
func TestRestartMidSagaCompletesOnce(t *testing.T) {
	h := start(t, nil)
	nonce := signup.NewNonce()
	co := stripefixture.Checkout{Email: "restart@example.com", Name: "Restart", Plan: "team", RevealHash: signup.HashNonce(nonce)}
	co.Fill()
	if err := postCheckout(h, co); err != nil {
		t.Fatal(err)
	}
	saga := names.SignupSagaID(co.SessionID)
	waitFor(t, "database.created", func() bool { return len(h.events(t, subjects.DatabaseCreated, saga)) > 0 })
	h.down(t)
	h.up(t)
	st := waitReady(t, h, co.SessionID)
	if st.Status != "ready" {
		t.Fatalf("after restart: %+v", st)
	}
	if n := len(h.events(t, subjects.SagaCompleted, saga)); n != 1 {
		t.Errorf("saga.completed %d times, want 1", n)
	}
	if n := runtimeProcesses(t); n != 1 {
		t.Errorf("%d runtime processes, want 1", n)
	}
	key, _, err := signup.Reveal(context.Background(), http.DefaultClient, h.IngressURL, co.SessionID, nonce)
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := call(t, st.InstanceURL+"/status", key); code != 200 {
		t.Errorf("/status after restart = %d", code)
	}
}

func postCheckout(h *harness, co stripefixture.Checkout) error {
	return postBody(h, stripefixture.CheckoutCompleted(co))
}

func postBody(h *harness, body []byte) error {
	return signupPost(context.Background(), h.IngressURL, h.WebhookSecret, body)
}
