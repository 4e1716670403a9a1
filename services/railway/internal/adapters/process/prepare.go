package process

import (
	"context"
	"fmt"

	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/railway/internal/app"
	"clawdbot.cloud/services/railway/internal/runtimeconfig"
)

// Prepare checks the request, starts the customer's runtime process early
// (early.go: it waits for its configuration, which Provision gives it) and
// returns the customer's service name. Nothing is persisted: no instance
// row and no port (reserving one before the database exists would only
// leave a row to clean up when the saga fails). The URL is known only for
// a runtime already supervised; otherwise it is "" and compute.provisioned
// carries it.
func (d *Driver) Prepare(_ context.Context, customerID string, plan plans.Plan) (app.Instance, error) {
	if !runtimeconfig.ValidID(customerID) {
		return app.Instance{}, fmt.Errorf("%w: customer id %q is not 1-255 letters, digits, '_' or '-'", app.ErrRejected, customerID)
	}
	if plan.ID == "" || plan.MemoryMB <= 0 || plan.VCPUs <= 0 {
		return app.Instance{}, fmt.Errorf("%w: plan %q has no compute size", app.ErrRejected, plan.ID)
	}
	if _, err := engineOf(d.o.Engines, plan.ID); err != nil {
		return app.Instance{}, err
	}
	unlock := d.lock(customerID)
	defer unlock()
	inst := app.Instance{ServiceID: service(customerID)}
	if s := d.supervisorOf(customerID); s != nil {
		inst.URL = s.status().URL
		return inst, nil
	}
	d.startEarly(customerID, plan)
	return inst, nil
}
