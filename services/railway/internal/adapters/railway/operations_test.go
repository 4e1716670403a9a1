package railway_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/railway/internal/adapters/railway"
	"clawdbot.cloud/services/railway/internal/app"
)

func TestRestartStopAndProvisionAgain(t *testing.T) {
	h := newHarness(t)
	d := h.driver(t)
	req := h.request(t)
	ctx := context.Background()
	inst := provision(t, d, req)

	if err := d.Restart(ctx, req.CustomerID); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if svc := h.only(t, req.CustomerID); svc.Restarts != 1 || len(svc.Deployments) != 1 {
		t.Errorf("after Restart: %+v, want the same deployment restarted once", svc)
	}

	if err := d.Stop(ctx, req.CustomerID, "suspended"); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := d.Stop(ctx, req.CustomerID, "suspended"); err != nil {
		t.Fatalf("Stop twice: %v", err)
	}
	if n := h.srv.Running(names.Service(req.CustomerID)); n != 0 {
		t.Errorf("%d running after Stop", n)
	}
	if _, err := h.srv.Health(inst.URL); err == nil {
		t.Errorf("a stopped instance answers")
	}
	if err := d.Restart(ctx, req.CustomerID); !errors.Is(err, app.ErrNotFound) {
		t.Errorf("Restart of a stopped instance = %v, want ErrNotFound", err)
	}

	// Resuming is provisioning again: same service, same address.
	if again := provision(t, d, req); again != inst {
		t.Errorf("provision after Stop = %+v, want %+v", again, inst)
	}
	if svc := h.only(t, req.CustomerID); len(svc.Deployments) != 2 || svc.Deployments[1] != "SUCCESS" {
		t.Errorf("after provisioning again: deployments %v", svc.Deployments)
	}
	if err := d.Stop(ctx, "cus_neverprovisioned", "suspended"); !errors.Is(err, app.ErrNotFound) {
		t.Errorf("Stop of an unknown customer: %v, want ErrNotFound", err)
	}
}

// Resize applies the plan's limits and its variables, and redeploys a
// running service; a stopped one stays stopped with the new size.
func TestResizeAppliesLimitsAndVariables(t *testing.T) {
	h := newHarness(t)
	d := h.driver(t)
	req := h.request(t)
	provision(t, d, req)
	team, err := plans.Lookup(plans.Team)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Resize(context.Background(), req.CustomerID, team); err != nil {
		t.Fatal(err)
	}
	svc := h.only(t, req.CustomerID)
	if svc.VCPUs != team.VCPUs || svc.MemoryGB != float64(team.MemoryMB)/1024 {
		t.Errorf("limits after resize: %v vCPUs, %v GB", svc.VCPUs, svc.MemoryGB)
	}
	var cfg map[string]string
	if err := json.Unmarshal([]byte(svc.Variables[railway.RuntimeConfigVar]), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg["plan"] != plans.Team {
		t.Errorf("runtime plan after resize = %q", cfg["plan"])
	}
	if n := len(svc.Deployments); n != 2 || svc.Deployments[1] != "SUCCESS" {
		t.Errorf("deployments after resize: %v", svc.Deployments)
	}

	if err := d.Stop(context.Background(), req.CustomerID, "suspended"); err != nil {
		t.Fatal(err)
	}
	starter, _ := plans.Lookup(plans.Starter)
	if err := d.Resize(context.Background(), req.CustomerID, starter); err != nil {
		t.Fatal(err)
	}
	if n := h.srv.Running(names.Service(req.CustomerID)); n != 0 {
		t.Errorf("%d deployments run after resizing a stopped service", n)
	}
}
