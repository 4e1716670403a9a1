package neon

import (
	"context"
	"fmt"

	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/services/neon/internal/app"
	"clawdbot.cloud/services/neon/internal/neonapi"
)

// Suspend suspends the compute endpoint of the customer's branch (a
// customer whose payment failed): the data stays, nothing runs. An endpoint
// already idle is left alone. A customer without a branch is an error
// wrapping app.ErrRejected.
func (d *Driver) Suspend(ctx context.Context, customerID string) error {
	return d.setCompute(ctx, customerID, false)
}

// Resume starts the compute endpoint of the customer's branch again (a
// suspended customer who paid). An endpoint already active is left alone.
func (d *Driver) Resume(ctx context.Context, customerID string) error {
	return d.setCompute(ctx, customerID, true)
}

// setCompute starts (on) or suspends the branch's read_write endpoint and
// waits for the operation.
func (d *Driver) setCompute(ctx context.Context, customerID string, on bool) error {
	if customerID == "" {
		return fmt.Errorf("%w: empty customer id", app.ErrRejected)
	}
	name := names.Database(customerID)
	defer d.locks.lock(name)()
	p, ok, err := d.locate(ctx, name)
	if err != nil {
		return err
	}
	var found []neonapi.Branch
	if ok {
		if found, err = d.findBranches(ctx, p, name); err != nil {
			return err
		}
	}
	if len(found) == 0 {
		return fmt.Errorf("%w: %w: %s", app.ErrRejected, errNoBranch, name)
	}
	if err := guard(p, found[0]); err != nil {
		return err
	}
	ep, err := d.readWriteEndpoint(ctx, p.Project, found[0].Id)
	if err != nil {
		return err
	}
	if on && ep.CurrentState == neonapi.EndpointStateActive || !on && ep.CurrentState == neonapi.EndpointStateIdle {
		return nil
	}
	var ops []neonapi.Operation
	if on {
		r, err := d.api.StartProjectEndpointWithResponse(ctx, p.Project, ep.Id)
		if err := answer("start endpoint", r, err); err != nil {
			return fmt.Errorf("branch %s: %w", name, err)
		}
		if r.JSON200 == nil {
			return errMalformed("start endpoint")
		}
		ops = r.JSON200.Operations
	} else {
		r, err := d.api.SuspendProjectEndpointWithResponse(ctx, p.Project, ep.Id)
		if err := answer("suspend endpoint", r, err); err != nil {
			return fmt.Errorf("branch %s: %w", name, err)
		}
		if r.JSON200 == nil {
			return errMalformed("suspend endpoint")
		}
		ops = r.JSON200.Operations
	}
	return d.wait(ctx, p.Project, "compute of "+name, ops)
}
