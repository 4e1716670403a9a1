package platform_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"clawdbot.cloud/cmd/clawctl/internal/signup"
	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/stripefixture"
	"clawdbot.cloud/proto/subjects"
)

// A signed webhook becomes a healthy instance whose key works, once.
func TestSignupEndToEnd(t *testing.T) {
	h := start(t, nil)
	ada := h.signup(t, "pro")
	grace := h.signup(t, "starter")
	url, key := ada.Status.InstanceURL, ada.Status.APIKey
	if url == "" || len(key) < 40 || key[:5] != "claw_" {
		t.Fatalf("credentials: url %q key %d chars", url, len(key))
	}

	if code, _ := call(t, url+"/health", ""); code != http.StatusOK {
		t.Errorf("/health = %d", code)
	}
	code, body := call(t, url+"/status", key)
	if code != http.StatusOK || body["plan"] != "pro" {
		t.Errorf("/status with the key = %d %v, want 200 plan pro", code, body)
	}
	for name, k := range map[string]string{
		"no key":                 "",
		"wrong key":              "claw_" + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"another customer's key": grace.Status.APIKey,
	} {
		if code, _ := call(t, url+"/status", k); code != http.StatusUnauthorized {
			t.Errorf("/status with %s = %d, want 401", name, code)
		}
	}

	// Every step the provisioning page saw start, it saw finish.
	done := map[string]bool{}
	for _, s := range ada.Status.Steps {
		if s.Status == "done" {
			done[s.Name] = true
		}
	}
	for _, s := range ada.Status.Steps {
		if !done[s.Name] {
			t.Errorf("step %s reported %s but never done: %+v", s.Name, s.Status, ada.Status.Steps)
		}
	}

	// The key is revealed exactly once, and the status never carries it.
	again, err := http.Get(h.IngressURL + "/v1/provisioning/" + ada.Checkout.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(again.Body)
	again.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	var st signup.Status
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	if st.Status != "ready" || st.APIKeyAvailable || !st.APIKeyRevealed || strings.Contains(string(raw), key) {
		t.Errorf("status read after the reveal = %s, want ready without the key", raw)
	}
	if _, _, err := signup.Reveal(context.Background(), http.DefaultClient, h.IngressURL, ada.Checkout.SessionID, "some-other-browser-nonce"); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("reveal with another nonce: %v, want 403", err)
	}

	// The event history tells the whole story, once.
	saga := names.SignupSagaID(ada.Checkout.SessionID)
	for _, s := range []string{subjects.CustomerSignedUp, subjects.CmdDatabaseCreate, subjects.DatabaseCreated,
		subjects.CmdWorkspaceBuild, subjects.WorkspaceBuilt, subjects.CmdComputeProvision, subjects.ComputeProvisioned,
		subjects.CmdInstanceCheck, subjects.InstanceReady, subjects.SagaCompleted} {
		evs := h.events(t, s, saga)
		if len(evs) != 1 {
			t.Errorf("%s: %d events for the saga, want 1", s, len(evs))
		}
		for _, e := range evs {
			if contains(e, key) {
				t.Errorf("%s carries the API key", s)
			}
		}
	}

	// Both workspaces went to their running instances, which wrote them
	// through their own connections: the workspace service opened none.
	metrics := scrape(t, "http://"+h.running.Ops["workspace"]+"/metrics")
	for via, want := range map[string]string{"instance": "2", "direct": "0", "fallback": "0"} {
		if line := `claw_workspace_deliveries_total{via="` + via + `"} ` + want; !strings.Contains(metrics, line+"\n") {
			t.Errorf("workspace metrics lack %q", line)
		}
	}
}

// scrape returns a /metrics page.
func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d %v", url, resp.StatusCode, err)
	}
	return string(b)
}

// The same Stripe event delivered 10 times at once provisions once.
func TestDuplicateWebhooksProvisionOnce(t *testing.T) {
	h := start(t, nil)
	co := stripefixture.Checkout{Email: "dup@example.com", Name: "Dup", Plan: "starter"}
	co.Fill()
	body := stripefixture.CheckoutCompleted(co)
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- signup.Post(context.Background(), http.DefaultClient, h.IngressURL, h.WebhookSecret, body)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("delivery: %v", err)
		}
	}
	waitReady(t, h, co.SessionID)
	saga := names.SignupSagaID(co.SessionID)
	for _, s := range []string{subjects.CmdDatabaseCreate, subjects.CmdWorkspaceBuild, subjects.CmdComputeProvision, subjects.SagaCompleted} {
		if n := len(h.events(t, s, saga)); n != 1 {
			t.Errorf("%s: %d for the saga, want 1", s, n)
		}
	}
	admin := h.adminConn(t)
	var dbs int
	if err := admin.QueryRow(context.Background(), `SELECT count(*) FROM pg_database WHERE datname = $1`, names.Database(co.CustomerID)).Scan(&dbs); err != nil {
		t.Fatal(err)
	}
	if dbs != 1 {
		t.Errorf("%d customer databases, want 1", dbs)
	}
	if n := runtimeProcesses(t); n != 1 {
		t.Errorf("%d runtime processes, want 1", n)
	}
}

func waitReady(t *testing.T, h *harness, sessionID string) signup.Status {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := http.Get(h.IngressURL + "/v1/provisioning/" + sessionID)
		if err == nil && resp.StatusCode == http.StatusOK {
			var st signup.Status
			decode(t, resp, &st)
			if st.Status == "ready" || st.Status == "failed" {
				return st
			}
		} else if err == nil {
			resp.Body.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("provisioning of %s did not finish", sessionID)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
