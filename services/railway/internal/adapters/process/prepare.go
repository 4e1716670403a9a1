package process

import (
	"context"
	"fmt"

	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/railway/internal/app"
	"clawdbot.cloud/services/railway/internal/runtimeconfig"
)

// Prepare checks the request and returns the customer's service name;
// nothing is reserved, persisted or started. A local process needs no
// preparation worth doing in advance (choosing a port takes microseconds,
// and reserving one before the database exists would only leave a row to
// clean up when the saga fails), so Provision does it all. The URL is
// known only for a runtime already supervised; otherwise it is "" and
// compute.provisioned carries it.
func (d *Driver) Prepare(_ context.Context, customerID string, plan plans.Plan) (app.Instance, error) {
	if !runtimeconfig.ValidID(customerID) {
		return app.Instance{}, fmt.Errorf("%w: customer id %q is not 1-255 letters, digits, '_' or '-'", app.ErrRejected, customerID)
	}
	if plan.ID == "" || plan.MemoryMB <= 0 || plan.VCPUs <= 0 {
		return app.Instance{}, fmt.Errorf("%w: plan %q has no compute size", app.ErrRejected, plan.ID)
	}
	inst := app.Instance{ServiceID: service(customerID)}
	if s := d.supervisorOf(customerID); s != nil {
		inst.URL = s.status().URL
	}
	return inst, nil
}
