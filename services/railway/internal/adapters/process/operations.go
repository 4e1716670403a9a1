package process

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/services/railway/internal/app"
	"clawdbot.cloud/services/railway/internal/runtimeconfig"
	"clawdbot.cloud/services/railway/internal/store"
)

// Provision starts the customer's runtime unless it is already supervised,
// and waits until it answers /health. A running instance is returned as is:
// same port, same URL, same process.
func (d *Driver) Provision(ctx context.Context, req app.ProvisionRequest) (app.Instance, error) {
	if !runtimeconfig.ValidID(req.CustomerID) {
		return app.Instance{}, fmt.Errorf("%w: customer id %q is not 1-255 letters, digits, '_' or '-'", app.ErrRejected, req.CustomerID)
	}
	if req.Plan.ID == "" || req.Plan.MemoryMB <= 0 || req.Plan.VCPUs <= 0 {
		return app.Instance{}, fmt.Errorf("%w: plan %q has no compute size", app.ErrRejected, req.Plan.ID)
	}
	if _, err := engineOf(d.o.Engines, req.Plan.ID); err != nil {
		return app.Instance{}, err
	}
	unlock := d.lock(req.CustomerID)
	defer unlock()
	s := d.supervisorOf(req.CustomerID)
	if s == nil {
		// A stopped instance provisioned again (a customer back before
		// anything was deleted) runs again on its port.
		d.unrespond(req.CustomerID)
		var err error
		if s, err = d.create(ctx, req); err != nil {
			return app.Instance{}, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, d.o.StartTimeout)
	defer cancel()
	if err := s.waitReady(ctx, 1); err != nil {
		return app.Instance{}, fmt.Errorf("runtime of %s: %w", req.CustomerID, err)
	}
	return app.Instance{ServiceID: s.in.ServiceName, URL: s.status().URL}, nil
}

// create persists a new instance (or revives a tombstone) and supervises it.
// An instance that is persisted as running but not supervised (its start at
// boot failed) is supervised as recorded.
func (d *Driver) create(ctx context.Context, req app.ProvisionRequest) (*supervisor, error) {
	in, err := d.o.Store.Get(ctx, req.CustomerID)
	if err == nil && in.Desired == store.Running {
		return d.supervise(in)
	}
	if err == nil && in.Desired == store.Stopped {
		if err := d.o.Store.SetRunning(ctx, req.CustomerID); err != nil {
			return nil, err
		}
		in.Desired, in.StopReason = store.Running, ""
		return d.supervise(in)
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	// Fail fast on a missing database secret instead of crash-looping on it.
	if _, err := d.o.Secrets.Get(ctx, req.DatabaseRef); err != nil {
		return nil, fmt.Errorf("database of %s: %w", req.CustomerID, err)
	}
	in = store.Instance{
		CustomerID:  req.CustomerID,
		ServiceName: service(req.CustomerID),
		Plan:        req.Plan.ID,
		DatabaseRef: req.DatabaseRef,
		VCPUs:       req.Plan.VCPUs,
		MemoryMB:    req.Plan.MemoryMB,
		Desired:     store.Running,
	}
	for range 5 {
		if in.Port, err = freePort(); err != nil {
			return nil, err
		}
		if err = d.o.Store.Put(ctx, in); !errors.Is(err, store.ErrPortTaken) {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	d.log.Info("instance created", "customer_id", in.CustomerID, "service_id", in.ServiceName, "port", in.Port,
		"plan", in.Plan, "vcpus", in.VCPUs, "memory_mb", in.MemoryMB)
	return d.supervise(in)
}

// Delete marks the customer's instance deleted, then stops its runtime.
// Marking first means a crash in between cannot bring it back at the next
// Start. Deleting an unknown or deleted instance succeeds.
func (d *Driver) Delete(ctx context.Context, customerID string) error {
	unlock := d.lock(customerID)
	defer unlock()
	if err := d.o.Store.MarkDeleted(ctx, customerID); err != nil {
		return err
	}
	s := d.unsupervise(customerID)
	if s != nil {
		s.stop()
		d.log.Info("instance deleted", "customer_id", customerID, "service_id", s.in.ServiceName)
	}
	d.dropEarly(customerID, earlyDiscarded)
	d.unrespond(customerID)
	if err := d.forgetTenant(ctx, customerID); err != nil {
		return err
	}
	// The token opens nothing once the runtime is gone; a new provision
	// makes a new one.
	return d.o.Secrets.Delete(ctx, names.InstanceTokenRef(customerID))
}

// forgetTenant removes a deleted instance's private directory, then frees
// its uid: nothing of the customer runs (its supervisor stopped and its
// cgroup went with its last runtime) or remains on disk that a later
// holder of the uid could reach.
func (d *Driver) forgetTenant(ctx context.Context, customerID string) error {
	if d.iso == nil {
		return nil
	}
	if err := d.iso.cgroups.Remove(service(customerID)); err != nil {
		return err
	}
	if err := os.RemoveAll(filepath.Join(d.iso.tenants, service(customerID))); err != nil {
		return fmt.Errorf("remove runtime directory of %s: %w", customerID, err)
	}
	return d.o.Store.FreeUID(ctx, customerID)
}

// Restart replaces the customer's runtime by a fresh process on the same
// port and waits until it answers /health.
func (d *Driver) Restart(ctx context.Context, customerID string) error {
	unlock := d.lock(customerID)
	defer unlock()
	s := d.supervisorOf(customerID)
	if s == nil {
		return fmt.Errorf("restart %s: %w", customerID, app.ErrNotFound)
	}
	gen := s.restart()
	ctx, cancel := context.WithTimeout(ctx, d.o.StartTimeout)
	defer cancel()
	if err := s.waitReady(ctx, gen+1); err != nil {
		return fmt.Errorf("restart %s: %w", customerID, err)
	}
	return nil
}

// freePort asks the kernel for a free port on 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// portFree reports whether port can be bound on 127.0.0.1 now.
func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}
