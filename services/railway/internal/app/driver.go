// Package app holds the compute service's use cases: the handlers of
// cmd.compute.prepare, cmd.compute.provision and cmd.compute.delete and of the lifecycle commands
// cmd.compute.resize, cmd.compute.stop and cmd.compute.start, written against Driver, the
// port every compute backend implements (the embedded process driver today,
// Railway's GraphQL API later).
package app

import (
	"context"
	"errors"

	"clawdbot.cloud/pkg/plans"
)

// Driver runs customers' runtimes on some compute backend. Every method is
// idempotent and safe for concurrent use; calls for one customer may be
// serialised by the driver.
type Driver interface {
	// Prepare does, for the customer's runtime, everything that needs no
	// database, and returns the service and, when the backend knows it
	// already, the URL the runtime will answer at ("" otherwise). Nothing
	// serves yet: a driver may start the runtime's process ahead (the
	// process driver does, blocked on its configuration), never more than
	// one. A later Provision finds what Prepare did and does not do it
	// again. It lets the saga prepare compute while the database is created
	// (cmd.compute.prepare); Delete undoes it.
	Prepare(ctx context.Context, customerID string, plan plans.Plan) (Instance, error)
	// Provision makes sure the customer's runtime runs with the request's
	// plan and database, and returns where it answers once it does. An
	// instance that already runs is returned as is.
	Provision(ctx context.Context, req ProvisionRequest) (Instance, error)
	// Delete stops the customer's runtime for good. Deleting an instance
	// that does not exist (any more) succeeds.
	Delete(ctx context.Context, customerID string) error
	// Restart replaces the customer's running runtime by a fresh one at the
	// same address and returns once it answers. It returns an error wrapping
	// ErrNotFound when the customer has no running instance.
	Restart(ctx context.Context, customerID string) error
	// Resize applies plan (compute size, quota: the runtime's plan) to the
	// customer's instance. A running instance runs the new plan when Resize
	// returns; a stopped one starts with it. Resizing to the current plan
	// changes nothing. No instance: an error wrapping ErrNotFound.
	Resize(ctx context.Context, customerID string, plan plans.Plan) error
	// Stop stops the customer's runtime and keeps the instance (address,
	// database, plan) for a later Resume. reason (StopSuspended or
	// StopCanceled) is what callers are told while it is stopped, where the
	// backend can say it. Stopping a stopped or deleted instance succeeds;
	// no instance at all is an error wrapping ErrNotFound.
	Stop(ctx context.Context, customerID, reason string) error
	// Resume (cmd.compute.start) runs a stopped instance again at the same address and returns
	// once it answers; a running one is returned as is. A non-zero
	// req.Plan is applied; an empty req.DatabaseRef keeps the recorded
	// one. No instance (or a deleted one): an error wrapping ErrNotFound.
	Resume(ctx context.Context, req ProvisionRequest) (Instance, error)
}

// Stop reasons (StopCompute.reason).
const (
	// StopSuspended: the customer's payment failed past the grace period.
	StopSuspended = "suspended"
	// StopCanceled: the customer canceled the subscription.
	StopCanceled = "canceled"
)

// ProvisionRequest describes the runtime a customer should have.
type ProvisionRequest struct {
	// CustomerID is the platform customer id (cus_...).
	CustomerID string
	// Plan sizes the instance (VCPUs, MemoryMB).
	Plan plans.Plan
	// DatabaseRef names the customer's database URL in the secret store.
	DatabaseRef string
}

// Instance is a provisioned runtime.
type Instance struct {
	// ServiceID is the backend's name for the customer's service.
	ServiceID string
	// URL is the runtime's base URL (GET URL+"/health" answers).
	URL string
}

// ErrRejected marks a request that the driver can never satisfy as given
// (for example a plan it cannot size), so retrying the same command is useless.
var ErrRejected = errors.New("compute request rejected")

// ErrDeployFailed marks a runtime the backend tried to start and could not
// (a deployment that ended FAILED or CRASHED): the same command would fail
// the same way, so the failure is reported for the saga to compensate.
var ErrDeployFailed = errors.New("compute deployment failed")

// ErrNotFound reports a customer without a running instance.
var ErrNotFound = errors.New("no running compute instance")
