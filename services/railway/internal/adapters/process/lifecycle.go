package process

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/railway/internal/app"
	"clawdbot.cloud/services/railway/internal/store"
)

// instance returns the customer's row, ErrNotFound (wrapping
// app.ErrNotFound) when there is none or it is a tombstone.
func (d *Driver) instance(ctx context.Context, customerID string) (store.Instance, error) {
	in, err := d.o.Store.Get(ctx, customerID)
	if errors.Is(err, store.ErrNotFound) || err == nil && in.Desired == store.Deleted {
		return store.Instance{}, fmt.Errorf("instance of %s: %w", customerID, app.ErrNotFound)
	}
	return in, err
}

// Resize records plan for the customer's instance and, when it runs,
// replaces its runtime by one started with the new plan (the runtime's
// quota follows its plan, its Go limits follow the compute size, its
// engine follows Options.Engines), on the same port, waiting until it
// answers, and on the openclaw engine until its /health answers 200 (the
// gateway is up), within Options.EngineStart. Resizing to the recorded plan
// and size changes nothing (and waits the same way, so a retried resize is
// answered only once the instance is ready).
//
// A plan too small for its engine is rejected before anything changes; an
// openclaw runtime not healthy in time is an error wrapping
// app.ErrDeployFailed, which the saga compensates by resizing back.
func (d *Driver) Resize(ctx context.Context, customerID string, plan plans.Plan) error {
	if plan.ID == "" || plan.MemoryMB <= 0 || plan.VCPUs <= 0 {
		return fmt.Errorf("%w: plan %q has no compute size", app.ErrRejected, plan.ID)
	}
	engine, err := engineOf(d.o.Engines, plan.ID)
	if err != nil {
		return err
	}
	unlock := d.lock(customerID)
	defer unlock()
	in, err := d.instance(ctx, customerID)
	if err != nil {
		return err
	}
	same := in.Plan == plan.ID && in.VCPUs == plan.VCPUs && in.MemoryMB == plan.MemoryMB
	if !same {
		from, _ := engineOf(d.o.Engines, in.Plan)
		if err := d.o.Store.SetPlan(ctx, customerID, plan.ID, plan.VCPUs, plan.MemoryMB); err != nil {
			return err
		}
		in.Plan, in.VCPUs, in.MemoryMB = plan.ID, plan.VCPUs, plan.MemoryMB
		d.log.Info("instance resized", "customer_id", customerID, "plan", plan.ID, "vcpus", plan.VCPUs,
			"memory_mb", plan.MemoryMB, "engine", engine, "previous_engine", from, "desired_state", in.Desired)
	}
	if in.Desired != store.Running {
		return nil // a stopped instance starts with the recorded plan
	}
	s := d.supervisorOf(customerID)
	if !same || s == nil {
		if s != nil {
			d.unsupervise(customerID).stop()
		}
		if s, err = d.supervise(in); err != nil {
			return err
		}
	}
	if err := d.waitReady(ctx, s, 1); err != nil {
		return err
	}
	if engine == plans.EngineOpenClaw {
		return d.waitHealthy(ctx, s, engine, d.o.EngineStart)
	}
	return nil
}

// engineOf is the engine e chooses for plan id, or an error wrapping
// app.ErrRejected when the plan is unknown or too small for it.
func engineOf(e plans.Engines, id string) (string, error) {
	p, err := plans.Lookup(id)
	if err == nil {
		p, err = e.For(p)
	}
	if err != nil {
		return "", fmt.Errorf("%w: %w", app.ErrRejected, err)
	}
	return p.Engine, nil
}

// Stop records the instance as stopped for reason, stops its runtime and
// answers on its port with a responder that tells callers why. A stopped
// instance stopped again for another reason changes its answer only.
func (d *Driver) Stop(ctx context.Context, customerID, reason string) error {
	if _, ok := responderMessages[reason]; !ok {
		return fmt.Errorf("%w: stop reason %q", app.ErrRejected, reason)
	}
	unlock := d.lock(customerID)
	defer unlock()
	in, err := d.o.Store.Get(ctx, customerID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("stop %s: %w", customerID, app.ErrNotFound)
	case err != nil:
		return err
	case in.Desired == store.Deleted:
		return nil // nothing runs, nothing will
	}
	// Record first: a crash in between cannot start it again at boot.
	if err := d.o.Store.SetStopped(ctx, customerID, reason); err != nil {
		return err
	}
	if s := d.unsupervise(customerID); s != nil {
		s.stop()
		in.Port = s.status().Port // it may have moved
		d.log.Info("instance stopped", "customer_id", customerID, "reason", reason)
	}
	return d.respond(customerID, in.Port, reason)
}

// Resume runs a stopped instance again on its port, with req's plan when
// given, and waits until it answers (on the openclaw engine, until its
// gateway is up, at most EngineStart). A running instance is returned as is
// (resized first if req names another plan).
func (d *Driver) Resume(ctx context.Context, req app.ProvisionRequest) (app.Instance, error) {
	unlock := d.lock(req.CustomerID)
	defer unlock()
	in, err := d.instance(ctx, req.CustomerID)
	if err != nil {
		return app.Instance{}, err
	}
	if req.Plan.ID != "" && (in.Plan != req.Plan.ID || in.VCPUs != req.Plan.VCPUs || in.MemoryMB != req.Plan.MemoryMB) {
		if req.Plan.MemoryMB <= 0 || req.Plan.VCPUs <= 0 {
			return app.Instance{}, fmt.Errorf("%w: plan %q has no compute size", app.ErrRejected, req.Plan.ID)
		}
		if _, err := engineOf(d.o.Engines, req.Plan.ID); err != nil {
			return app.Instance{}, err
		}
		if err := d.o.Store.SetPlan(ctx, req.CustomerID, req.Plan.ID, req.Plan.VCPUs, req.Plan.MemoryMB); err != nil {
			return app.Instance{}, err
		}
		in.Plan, in.VCPUs, in.MemoryMB = req.Plan.ID, req.Plan.VCPUs, req.Plan.MemoryMB
		if s := d.unsupervise(req.CustomerID); s != nil {
			s.stop() // restarted below with the new plan
		}
	}
	if req.DatabaseRef != "" && req.DatabaseRef != in.DatabaseRef {
		return app.Instance{}, fmt.Errorf("%w: database_ref %q is not the instance's", app.ErrRejected, req.DatabaseRef)
	}
	if in.Desired == store.Stopped {
		// Fail fast on a database that is gone (archived) instead of
		// crash-looping: the saga restores it first.
		if _, err := d.o.Secrets.Get(ctx, in.DatabaseRef); err != nil {
			return app.Instance{}, fmt.Errorf("database of %s: %w", req.CustomerID, err)
		}
		d.unrespond(req.CustomerID)
		if err := d.o.Store.SetRunning(ctx, req.CustomerID); err != nil {
			return app.Instance{}, err
		}
		in.Desired, in.StopReason = store.Running, ""
		d.log.Info("instance started again", "customer_id", req.CustomerID, "port", in.Port)
	}
	s := d.supervisorOf(req.CustomerID)
	if s == nil {
		if s, err = d.supervise(in); err != nil {
			return app.Instance{}, err
		}
	}
	if err := d.waitReady(ctx, s, 1); err != nil {
		return app.Instance{}, err
	}
	// On the openclaw engine the runtime answers before its gateway is up:
	// report the instance resumed only once it is, as a resize does.
	if engine, err := engineOf(d.o.Engines, in.Plan); err != nil {
		return app.Instance{}, err
	} else if engine == plans.EngineOpenClaw {
		if err := d.waitHealthy(ctx, s, engine, d.o.EngineStart); err != nil {
			return app.Instance{}, err
		}
	}
	return app.Instance{ServiceID: in.ServiceName, URL: s.status().URL}, nil
}

// waitReady waits, at most StartTimeout, until s runs a child of
// generation minGen or later that answers.
func (d *Driver) waitReady(ctx context.Context, s *supervisor, minGen int) error {
	ctx, cancel := context.WithTimeout(ctx, d.o.StartTimeout)
	defer cancel()
	if err := s.waitReady(ctx, minGen); err != nil {
		return fmt.Errorf("runtime of %s: %w", s.in.CustomerID, err)
	}
	return nil
}

// unsupervise removes and returns the customer's supervisor (nil if none);
// the caller stops it.
func (d *Driver) unsupervise(customerID string) *supervisor {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.sups[customerID]
	delete(d.sups, customerID)
	return s
}

// respond makes sure a responder answers for reason on port.
func (d *Driver) respond(customerID string, port int, reason string) error {
	d.mu.Lock()
	r := d.responders[customerID]
	closed := d.closed
	d.mu.Unlock()
	if closed {
		return errors.New("process driver is closed")
	}
	if r != nil && r.reason == reason {
		return nil
	}
	if r != nil {
		d.unrespond(customerID)
	}
	r, err := startResponder(port, reason, d.log.With("customer_id", customerID))
	if err != nil {
		return err
	}
	d.mu.Lock()
	if d.closed { // Close ran meanwhile and will not see this one
		d.mu.Unlock()
		r.close()
		return errors.New("process driver is closed")
	}
	d.responders[customerID] = r
	d.mu.Unlock()
	return nil
}

// unrespond stops the customer's responder, if any, releasing its port.
func (d *Driver) unrespond(customerID string) {
	d.mu.Lock()
	r := d.responders[customerID]
	delete(d.responders, customerID)
	d.mu.Unlock()
	if r != nil {
		r.close()
	}
}

// instanceToken returns the customer's instance token, the secret the
// platform reads the runtime's /status with, creating it on first use. It
// is kept in the secret store (names.InstanceTokenRef), so every start of
// the runtime gets the same one.
func (d *Driver) instanceToken(ctx context.Context, customerID string) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	tok, err := d.o.Secrets.PutIfAbsent(ctx, names.InstanceTokenRef(customerID), []byte(base64.RawURLEncoding.EncodeToString(b)))
	if err != nil {
		return "", fmt.Errorf("instance token: %w", err)
	}
	return string(tok), nil
}
