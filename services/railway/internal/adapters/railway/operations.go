package railway

import (
	"context"
	"fmt"

	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/plans"
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

// Stop stops the customer's running deployment (deploymentStop) and keeps
// the service, its variables and its domain: a suspended or canceled
// customer. Railway has no way to answer on a stopped service's domain, so
// callers get Railway's own "application not found" answer rather than the
// process driver's 402/403 JSON carrying reason. Stopping a customer with
// nothing running succeeds; a customer without a service is app.ErrNotFound.
func (d *Driver) Stop(ctx context.Context, customerID, reason string) error {
	unlock := d.lock(customerID)
	defer unlock()
	in, err := d.findOne(ctx, names.Service(customerID))
	if err != nil {
		return err
	}
	if in == nil {
		return fmt.Errorf("stop %s: %w", customerID, app.ErrNotFound)
	}
	if in.deployment == nil || in.deployment.stopped {
		return nil
	}
	if _, err := gql.StopDeployment(ctx, d.gql, in.deployment.id); err != nil {
		return fmt.Errorf("stop %s: %w", in.name, classify(err))
	}
	d.log.Info("railway deployment stopped", "customer_id", customerID, "service_id", in.name,
		"deployment_id", in.deployment.id, "reason", reason)
	return nil
}

// Resume deploys a stopped customer's service again (same service and
// domain, sized and configured for req.Plan, which Railway needs: it keeps
// no plan of its own besides the runtime's variables) and waits until it
// runs. A running service is returned as is.
func (d *Driver) Resume(ctx context.Context, req app.ProvisionRequest) (app.Instance, error) {
	if req.Plan.ID == "" {
		return app.Instance{}, fmt.Errorf("%w: start needs the plan on Railway", app.ErrRejected)
	}
	unlock := d.lock(req.CustomerID)
	in, err := d.findOne(ctx, names.Service(req.CustomerID))
	unlock()
	if err != nil {
		return app.Instance{}, err
	}
	if in == nil {
		return app.Instance{}, fmt.Errorf("start %s: %w", req.CustomerID, app.ErrNotFound)
	}
	if !in.deployment.running() {
		// Size it and set its variables for the plan; the deploy below
		// (Provision without configure) starts it.
		if err := d.Resize(ctx, req.CustomerID, req.Plan); err != nil {
			return app.Instance{}, err
		}
	}
	if req.DatabaseRef == "" {
		req.DatabaseRef = names.DatabaseRef(req.CustomerID)
	}
	return d.Deploy(ctx, req)
}

// Resize sizes the customer's service for plan (serviceInstanceUpdate with
// its limits), sets the runtime's variables for the plan (its quota), and,
// when it runs, redeploys it and waits until the new deployment runs. A
// stopped service keeps stopped with the new size and variables.
func (d *Driver) Resize(ctx context.Context, customerID string, plan plans.Plan) error {
	if err := checkRequest(customerID, plan); err != nil {
		return err
	}
	plan, err := d.engineOf(plan)
	if err != nil {
		return err
	}
	unlock := d.lock(customerID)
	defer unlock()
	in, err := d.findOne(ctx, names.Service(customerID))
	if err != nil {
		return err
	}
	if in == nil {
		return fmt.Errorf("resize %s: %w", customerID, app.ErrNotFound)
	}
	dbURL, err := d.o.Secrets.Get(ctx, names.DatabaseRef(customerID))
	if err != nil {
		return fmt.Errorf("database of %s: %w", customerID, err)
	}
	if err := d.configure(ctx, in, plan); err != nil {
		return err
	}
	if !in.deployment.running() && !in.deployment.pending() {
		vars, err := d.variables(ctx, in, customerID, plan, string(dbURL))
		if err != nil {
			return err
		}
		if _, err := gql.UpsertVariables(ctx, d.gql, d.o.ProjectID, d.o.EnvironmentID, in.serviceID, vars); err != nil {
			return fmt.Errorf("set variables: %w", redact(classify(err), string(dbURL)))
		}
		return nil
	}
	if err := d.deploy(ctx, in, customerID, plan, string(dbURL)); err != nil {
		return fmt.Errorf("resize %s: %w", in.name, err)
	}
	d.log.Info("railway service resized", "customer_id", customerID, "service_id", in.name, "plan", plan.ID)
	return nil
}
