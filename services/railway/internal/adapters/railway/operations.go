package railway

import (
	"context"
	"fmt"

	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/services/railway/internal/adapters/railway/gql"
	"clawdbot.cloud/services/railway/internal/app"
)

// Delete deletes the customer's service (with its domain, variables and
// deployments) from the environment. Every namesake goes, so a duplicate
// created outside the driver cannot outlive the customer. Deleting a
// customer without a service succeeds.
func (d *Driver) Delete(ctx context.Context, customerID string) error {
	unlock := d.lock(customerID)
	defer unlock()
	name := names.Service(customerID)
	all, err := d.find(ctx, name)
	if err != nil {
		return err
	}
	for _, in := range all {
		if _, err := gql.DeleteService(ctx, d.gql, in.serviceID, &d.o.EnvironmentID); err != nil {
			return fmt.Errorf("delete service %s: %w", name, classify(err))
		}
		d.log.Info("railway service deleted", "customer_id", customerID, "service_id", name,
			"railway_service_id", in.serviceID)
	}
	return nil
}

// Restart restarts the customer's running deployment in place (same image,
// variables and domain) and waits until it runs again. A customer without a
// running deployment is app.ErrNotFound.
func (d *Driver) Restart(ctx context.Context, customerID string) error {
	unlock := d.lock(customerID)
	defer unlock()
	in, err := d.findOne(ctx, names.Service(customerID))
	if err != nil {
		return err
	}
	if in == nil || !in.deployment.running() {
		return fmt.Errorf("restart %s: %w", customerID, app.ErrNotFound)
	}
	if _, err := gql.RestartDeployment(ctx, d.gql, in.deployment.id); err != nil {
		return fmt.Errorf("restart %s: %w", in.name, classify(err))
	}
	if err := d.await(ctx, in.deployment.id); err != nil {
		return fmt.Errorf("restart %s: %w", in.name, err)
	}
	return nil
}

// Stop stops the customer's running deployment and keeps the service, its
// variables and its domain: a suspended customer. The next Provision deploys
// it again. Stopping a customer with nothing running succeeds.
func (d *Driver) Stop(ctx context.Context, customerID string) error {
	unlock := d.lock(customerID)
	defer unlock()
	in, err := d.findOne(ctx, names.Service(customerID))
	if err != nil || in == nil || in.deployment == nil || in.deployment.stopped {
		return err
	}
	if _, err := gql.StopDeployment(ctx, d.gql, in.deployment.id); err != nil {
		return fmt.Errorf("stop %s: %w", in.name, classify(err))
	}
	d.log.Info("railway deployment stopped", "customer_id", customerID, "service_id", in.name,
		"deployment_id", in.deployment.id)
	return nil
}
