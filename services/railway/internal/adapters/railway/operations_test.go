package railway_test

import (
	"context"
	"errors"
	"testing"

	"clawdbot.cloud/pkg/names"
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

	if err := d.Stop(ctx, req.CustomerID); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := d.Stop(ctx, req.CustomerID); err != nil {
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
	if err := d.Stop(ctx, "cus_neverprovisioned"); err != nil {
		t.Errorf("Stop of an unknown customer: %v", err)
	}
}
