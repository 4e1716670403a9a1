package railway

import (
	"context"
	"fmt"

	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/railway/internal/adapters/railway/gql"
	"clawdbot.cloud/services/railway/internal/app"
	"clawdbot.cloud/services/railway/internal/runtimeconfig"
)

// Settings of every customer service.
const (
	// healthcheckPath is where Railway checks a new deployment before it
	// takes traffic, and the runtime answers.
	healthcheckPath = "/health"
	// restartRetries is how often Railway restarts a crashed runtime
	// (restart policy ON_FAILURE) before leaving it CRASHED.
	restartRetries = 10
	// createTries bounds the attempts of a create whose answer was lost,
	// each after looking for what it may have created.
	createTries = 3
)

// Provision makes sure the customer's runtime runs on Railway and returns
// its service name and public URL. A running service is returned as is; a
// service left half-done by an earlier attempt is completed; a deployment in
// progress is waited for. A deployment that fails or crashes is
// ErrDeployFailed: the caller deletes the service and reports the failure.
//
// A service that Prepare (cmd.compute.prepare) brought to "configured, with
// a domain" is found by name (one list call, which Provision makes anyway)
// and not configured again: its variables are set and it is deployed.
func (d *Driver) Provision(ctx context.Context, req app.ProvisionRequest) (app.Instance, error) {
	return d.provision(ctx, req, true)
}

// Deploy is the second half of Provision, after Prepare succeeded: it sets
// the service's variables (the database URL among them), deploys it and
// waits until it runs, without configuring it again. A customer without a
// prepared service is provisioned whole.
func (d *Driver) Deploy(ctx context.Context, req app.ProvisionRequest) (app.Instance, error) {
	return d.provision(ctx, req, false)
}

// provision is Provision, or Deploy when configure is false.
func (d *Driver) provision(ctx context.Context, req app.ProvisionRequest, configure bool) (app.Instance, error) {
	if err := checkRequest(req.CustomerID, req.Plan); err != nil {
		return app.Instance{}, err
	}
	plan, err := d.engineOf(req.Plan)
	if err != nil {
		return app.Instance{}, err
	}
	unlock := d.lock(req.CustomerID)
	defer unlock()
	// Fail fast (and for good) on a missing database before creating
	// anything that would have to be removed.
	dbURL, err := d.o.Secrets.Get(ctx, req.DatabaseRef)
	if err != nil {
		return app.Instance{}, fmt.Errorf("database of %s: %w", req.CustomerID, err)
	}
	var in *instance
	if !configure {
		in, err = d.findOne(ctx, names.Service(req.CustomerID))
	}
	if err == nil && (in == nil || in.domain == "") {
		in, err = d.prepare(ctx, req.CustomerID, plan)
	}
	if err != nil {
		return app.Instance{}, err
	}
	switch {
	case in.deployment.running():
	case in.deployment.pending():
		// An earlier attempt deployed and did not see the end of it.
		err = d.await(ctx, in.deployment.id)
	default:
		err = d.deploy(ctx, in, req.CustomerID, plan, string(dbURL))
	}
	if err != nil {
		return app.Instance{}, fmt.Errorf("deploy %s: %w", in.name, err)
	}
	d.log.Info("railway service running", "customer_id", req.CustomerID, "service_id", in.name,
		"railway_service_id", in.serviceID, "url", d.url(in))
	return app.Instance{ServiceID: in.name, URL: d.url(in)}, nil
}

// Prepare creates and configures the customer's service and its domain,
// everything provisioning does that needs no database, and returns where
// the runtime will answer. Nothing is deployed. It is the first half of
// Provision, for a saga that prepares compute while the database is being
// created.
func (d *Driver) Prepare(ctx context.Context, customerID string, plan plans.Plan) (app.Instance, error) {
	if err := checkRequest(customerID, plan); err != nil {
		return app.Instance{}, err
	}
	plan, err := d.engineOf(plan)
	if err != nil {
		return app.Instance{}, err
	}
	unlock := d.lock(customerID)
	defer unlock()
	in, err := d.prepare(ctx, customerID, plan)
	if err != nil {
		return app.Instance{}, err
	}
	return app.Instance{ServiceID: in.name, URL: d.url(in)}, nil
}

// prepare brings the customer's service to "configured, with a domain".
// A service whose deployment runs or is in progress is configured already,
// and so is one with a domain: the domain is created only after the
// service was configured (here, by an earlier Prepare or Provision), so
// Provision after Prepare does not configure it again.
func (d *Driver) prepare(ctx context.Context, customerID string, plan plans.Plan) (*instance, error) {
	in, err := d.ensureService(ctx, names.Service(customerID))
	if err != nil {
		return nil, err
	}
	if !in.deployment.running() && !in.deployment.pending() && in.domain == "" {
		if err := d.configure(ctx, in, plan); err != nil {
			return nil, err
		}
	}
	if in.domain == "" {
		if err := d.ensureDomain(ctx, in); err != nil {
			return nil, err
		}
	}
	return in, nil
}

// ensureService finds the service named name, or creates it. A create whose
// answer was lost may have happened: the next try looks first.
func (d *Driver) ensureService(ctx context.Context, name string) (*instance, error) {
	for try := 1; ; try++ {
		in, err := d.findOne(ctx, name)
		if err != nil || in != nil {
			return in, err
		}
		resp, err := gql.CreateService(ctx, d.gql, d.o.ProjectID, d.o.EnvironmentID, name)
		if err == nil {
			d.log.Info("railway service created", "service_id", name, "railway_service_id", resp.ServiceCreate.Id)
			return &instance{serviceID: resp.ServiceCreate.Id, name: name}, nil
		}
		if !ambiguous(err) || try == createTries {
			return nil, fmt.Errorf("create service %s: %w", name, classify(err))
		}
		d.log.Warn("creating a railway service may have failed; looking for it", "service_id", name, "err", err)
	}
}

// configure points the instance at the image of plan's engine and sizes it
// for plan.
func (d *Driver) configure(ctx context.Context, in *instance, plan plans.Plan) error {
	var region *string
	if d.o.Region != "" {
		region = &d.o.Region
	}
	_, err := gql.ConfigureInstance(ctx, d.gql, in.serviceID, d.o.EnvironmentID, d.imageOf(plan), healthcheckPath,
		gql.RestartPolicyTypeOnFailure, restartRetries, region, plan.VCPUs, float64(plan.MemoryMB)/1024)
	if err != nil {
		return fmt.Errorf("configure service %s: %w", in.name, classify(err))
	}
	return nil
}

// ensureDomain gives the instance its public domain. A create whose answer
// was lost may have happened: the next try reads the instance first.
func (d *Driver) ensureDomain(ctx context.Context, in *instance) error {
	for try := 1; ; try++ {
		resp, err := gql.CreateDomain(ctx, d.gql, in.serviceID, d.o.EnvironmentID, runtimePort)
		if err == nil {
			in.domain = resp.ServiceDomainCreate.Domain
			return nil
		}
		if !ambiguous(err) || try == createTries {
			return fmt.Errorf("create domain of %s: %w", in.name, classify(err))
		}
		now, rerr := d.read(ctx, in.serviceID)
		if rerr != nil {
			return fmt.Errorf("create domain of %s: %w (then: %w)", in.name, err, rerr)
		}
		if now.domain != "" {
			in.domain = now.domain
			return nil
		}
	}
}

// read returns the instance of a service whose id is known.
func (d *Driver) read(ctx context.Context, serviceID string) (*instance, error) {
	resp, err := gql.ServiceInstance(ctx, d.gql, d.o.EnvironmentID, serviceID)
	if err != nil {
		return nil, fmt.Errorf("read service %s: %w", serviceID, classify(err))
	}
	return fromState(resp.ServiceInstance.InstanceState), nil
}

// checkRequest rejects what Railway and the runtime would never accept.
func checkRequest(customerID string, plan plans.Plan) error {
	if !runtimeconfig.ValidID(customerID) {
		return fmt.Errorf("%w: customer id %q is not 1-255 letters, digits, '_' or '-'", app.ErrRejected, customerID)
	}
	if plan.ID == "" || plan.MemoryMB <= 0 || plan.VCPUs <= 0 {
		return fmt.Errorf("%w: plan %q has no compute size", app.ErrRejected, plan.ID)
	}
	return nil
}
