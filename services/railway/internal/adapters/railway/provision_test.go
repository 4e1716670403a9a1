package railway_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/secrets"
	"clawdbot.cloud/services/railway/internal/adapters/railway"
	"clawdbot.cloud/services/railway/internal/app"
	"clawdbot.cloud/services/railway/internal/railwaytest"
)

func TestProvisionConfiguresTheService(t *testing.T) {
	h := newHarness(t)
	d := h.driver(t)
	req := h.request(t)
	inst := provision(t, d, req)

	svc := h.only(t, req.CustomerID)
	if inst.URL != "https://"+svc.Domains[0] {
		t.Errorf("URL = %q, want https://%s", inst.URL, svc.Domains[0])
	}
	var cfg map[string]string
	if err := json.Unmarshal([]byte(svc.Variables[railway.RuntimeConfigVar]), &cfg); err != nil {
		t.Fatalf("%s: %v", railway.RuntimeConfigVar, err)
	}
	wantCfg := map[string]string{
		"customer_id": req.CustomerID, "plan": "starter", "listen_addr": ":8080",
		"database_url": "postgres://u_" + req.CustomerID + ":pw-" + req.CustomerID + "@db.example:5432/claw",
		"instance_id":  inst.ServiceID, "version": "test", "engine": "runtime",
		// Railway's https domain: the runtime's Telegram channel takes
		// webhooks there.
		"public_url": "https://" + svc.Domains[0],
	}
	// The instance token is the one kept in the secret store.
	token, err := h.secrets.Get(context.Background(), names.InstanceTokenRef(req.CustomerID))
	if err != nil || len(token) < 32 {
		t.Fatalf("instance token: %q, %v", token, err)
	}
	wantCfg["instance_token"] = string(token)
	if diff := cmp.Diff(wantCfg, cfg); diff != "" {
		t.Errorf("runtime config (-want +got):\n%s", diff)
	}
	got := svc
	got.ID, got.Name, got.Domains, got.Variables = "", "", nil, nil
	want := railwaytest.ServiceView{
		Image: image, RestartPolicy: "ON_FAILURE", RestartRetries: 10, HealthcheckPath: "/health",
		Region: "europe-west4-drams3a", VCPUs: 0.5, MemoryGB: 0.5, TargetPorts: []int{8080},
		Deployments: []string{"SUCCESS"}, // one: skipDeploys kept the variables from deploying
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("service (-want +got):\n%s", diff)
	}
	for k, v := range map[string]string{"PORT": "8080", "ANTHROPIC_API_KEY": "sk-ant-test"} {
		if svc.Variables[k] != v {
			t.Errorf("variable %s = %q, want %q", k, svc.Variables[k], v)
		}
	}
	calls := opCounts(h)
	wantCalls := map[string]int{
		"ServiceInstances": 1, "CreateService": 1, "ConfigureInstance": 1, "CreateDomain": 1,
		"UpsertVariables": 1, "DeployInstance": 1, "Deployment": 2,
	}
	if diff := cmp.Diff(wantCalls, calls); diff != "" {
		t.Errorf("API calls of one provisioning (-want +got):\n%s", diff)
	}
}

func TestProvisionFindsTheServiceByName(t *testing.T) {
	h := newHarness(t)
	req := h.request(t)
	first := provision(t, h.driver(t), req)

	// A new driver (another replica, or the service restarted) knows nothing.
	h.srv.ResetCalls()
	again := provision(t, h.driver(t), req)
	if again != first {
		t.Errorf("second provision = %+v, want %+v", again, first)
	}
	h.only(t, req.CustomerID)
	if diff := cmp.Diff(map[string]int{"ServiceInstances": 1}, opCounts(h)); diff != "" {
		t.Errorf("calls of a provisioning of a running service (-want +got):\n%s", diff)
	}
}

func TestProvisionCompletesAHalfDoneService(t *testing.T) {
	h := newHarness(t)
	req := h.request(t)
	prepared, err := h.driver(t).Prepare(context.Background(), req.CustomerID, req.Plan)
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if svc := h.only(t, req.CustomerID); len(svc.Deployments) != 0 || len(svc.Domains) != 1 {
		t.Fatalf("after Prepare: %+v, want a domain and no deployment", svc)
	}
	h.srv.ResetCalls()
	inst := provision(t, h.driver(t), req)
	if inst != prepared {
		t.Errorf("Provision = %+v, want what Prepare announced: %+v", inst, prepared)
	}
	// Provision finds the prepared service by name and does not create,
	// configure or give it a domain again: variables, deploy, polls.
	wantCalls := map[string]int{"ServiceInstances": 1, "UpsertVariables": 1, "DeployInstance": 1, "Deployment": 2}
	if diff := cmp.Diff(wantCalls, opCounts(h)); diff != "" {
		t.Errorf("API calls of Provision after Prepare (-want +got):\n%s", diff)
	}
	if svc := h.only(t, req.CustomerID); len(svc.Domains) != 1 || len(svc.Deployments) != 1 {
		t.Errorf("after Provision: %+v, want one domain and one deployment", svc)
	}
}

func TestProvisionPagesThroughTheEnvironment(t *testing.T) {
	h := newHarness(t)
	h.srv.Seed("other-tenant", 250)
	d := h.driver(t)
	req := h.request(t)
	provision(t, d, req)
	h.srv.ResetCalls()
	provision(t, d, req)
	if n := opCounts(h)["ServiceInstances"]; n != 3 {
		t.Errorf("%d pages listed for 251 services, want 3", n)
	}
	if err := d.Delete(context.Background(), req.CustomerID); err != nil {
		t.Fatal(err)
	}
	if n := len(h.srv.Services(names.Service(req.CustomerID))); n != 0 {
		t.Errorf("%d services left after Delete", n)
	}
}

func TestProvisionRejects(t *testing.T) {
	h := newHarness(t)
	d := h.driver(t)
	req := h.request(t)

	missing := req
	missing.DatabaseRef = "db/cus_nobody"
	if _, err := d.Provision(context.Background(), missing); !errors.Is(err, secrets.ErrNotFound) {
		t.Errorf("Provision without a database = %v, want secrets.ErrNotFound", err)
	}
	bad := req
	bad.CustomerID = "cus with spaces"
	if _, err := d.Provision(context.Background(), bad); !errors.Is(err, app.ErrRejected) {
		t.Errorf("Provision of a bad id = %v, want ErrRejected", err)
	}
	if calls := h.srv.Calls(); len(calls) != 0 {
		t.Errorf("rejected requests reached Railway: %+v", calls)
	}
}

func TestDeployOfAnUnpreparedCustomerProvisionsWhole(t *testing.T) {
	h := newHarness(t)
	d := h.driver(t)
	req := h.request(t)
	inst, err := d.Deploy(context.Background(), req)
	if err != nil {
		t.Fatalf("Deploy: %v", err)
	}
	svc := h.only(t, req.CustomerID)
	if svc.Image != image || svc.VCPUs != req.Plan.VCPUs || inst.URL != "https://"+svc.Domains[0] {
		t.Errorf("Deploy without Prepare left %+v, URL %s", svc, inst.URL)
	}
}
