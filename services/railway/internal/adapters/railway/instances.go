package railway

import (
	"context"
	"fmt"

	"clawdbot.cloud/services/railway/internal/adapters/railway/gql"
)

// instance is what the driver knows of a customer's service in the
// environment.
type instance struct {
	serviceID string
	name      string
	// domain is the service's first *.up.railway.app domain, "" for none.
	domain string
	// deployment is the latest deployment; nil before the first.
	deployment *deployment
}

// deployment is one deployment of a service.
type deployment struct {
	id      string
	status  gql.DeploymentStatus
	stopped bool
}

// running reports a deployment whose runtime serves: SUCCESS (or asleep,
// which wakes on the next request) and not stopped.
func (d *deployment) running() bool {
	return d != nil && !d.stopped &&
		(d.status == gql.DeploymentStatusSuccess || d.status == gql.DeploymentStatusSleeping)
}

// pending reports a deployment that has not settled yet.
func (d *deployment) pending() bool {
	if d == nil || d.stopped {
		return false
	}
	switch d.status {
	case gql.DeploymentStatusQueued, gql.DeploymentStatusWaiting, gql.DeploymentStatusInitializing,
		gql.DeploymentStatusBuilding, gql.DeploymentStatusDeploying:
		return true
	}
	return false
}

// url is where the instance's runtime answers: its domain, over
// Options.DomainScheme (https).
func (d *Driver) url(in *instance) string { return d.o.DomainScheme + "://" + in.domain }

func fromState(s gql.InstanceState) *instance {
	in := &instance{serviceID: s.ServiceId, name: s.ServiceName}
	if ds := s.Domains.ServiceDomains; len(ds) > 0 {
		in.domain = ds[0].Domain
	}
	if ld := s.LatestDeployment; ld != nil {
		in.deployment = &deployment{id: ld.Id, status: ld.Status, stopped: ld.DeploymentStopped}
	}
	return in
}

// find returns every service instance named name in the environment (more
// than one only if something outside this driver created a namesake).
func (d *Driver) find(ctx context.Context, name string) ([]*instance, error) {
	var found []*instance
	var after *string
	for {
		resp, err := gql.ServiceInstances(ctx, d.gql, d.o.EnvironmentID, &d.o.ProjectID, after)
		if err != nil {
			return nil, fmt.Errorf("list services: %w", classify(err))
		}
		page := resp.Environment.ServiceInstances
		for _, e := range page.Edges {
			if e.Node.ServiceName == name {
				found = append(found, fromState(e.Node.InstanceState))
			}
		}
		if !page.PageInfo.HasNextPage || page.PageInfo.EndCursor == nil {
			return found, nil
		}
		after = page.PageInfo.EndCursor
	}
}

// findOne returns the customer's service, nil when there is none. Of
// namesakes the one with a running deployment wins, then the first.
func (d *Driver) findOne(ctx context.Context, name string) (*instance, error) {
	all, err := d.find(ctx, name)
	if err != nil || len(all) == 0 {
		return nil, err
	}
	for _, in := range all {
		if in.deployment.running() {
			return in, nil
		}
	}
	return all[0], nil
}
