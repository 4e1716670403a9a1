package process

import (
	"time"

	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/railway/internal/store"
)

// An early start: Prepare (cmd.compute.prepare, which the saga sends in
// parallel with the database step) starts the customer's runtime process
// ahead, in its tenant (uid, cgroup with the plan's limits, directory),
// blocked on its configuration. Provision then only writes the
// configuration to it: the exec, the Go runtime's start and the binary's
// page faults are paid while the database is being made instead of after
// it (BenchmarkBinaryStart in services/runtime/cmd/runtime: 22 ms cold
// against 12.6 ms from the configuration on an idle machine).
//
// A process started early knows nothing of the customer but its instance
// name, and serves nothing until it is configured. It is stopped when the
// customer is deleted (the saga's compensation of a failed database step),
// when Provision asks for another plan, and when no Provision came within
// Options.EarlyTTL (a saga that died between its steps).
type early struct {
	// in is what the process is started for (customer, plan and size).
	in    store.Instance
	timer *time.Timer
	// started is closed once the start has ended: c and t are set then,
	// c nil when it failed.
	started chan struct{}
	c       *child
	t       *tenant
}

// defaultEarlyTTL is how long a process started early waits for its
// Provision. A signup's database step takes well under a second from the
// pool and a couple of seconds cloning the template; 500 concurrent signups
// took ~40 s end to end. Expiring costs only the early start: Provision
// then starts the runtime cold.
const defaultEarlyTTL = 2 * time.Minute

// Results of an early start (claw_compute_early_starts_total).
const (
	earlyUsed      = "used"      // Provision configured it
	earlyExpired   = "expired"   // no Provision within Options.EarlyTTL
	earlyDiscarded = "discarded" // deleted, another plan, failed to start or exited, or the driver closed
)

// earlyInstance is the instance Provision will create for customerID on
// plan, as far as Prepare knows it (no port, no database).
func earlyInstance(customerID string, plan plans.Plan) store.Instance {
	return store.Instance{
		CustomerID: customerID, ServiceName: service(customerID),
		Plan: plan.ID, VCPUs: plan.VCPUs, MemoryMB: plan.MemoryMB,
	}
}

// startEarly starts customerID's runtime process ahead of its Provision,
// unless one was started already, and returns without waiting for it.
// Started in the prepare step itself, the start (the tenant's uid row,
// directory and cgroup, and with cgroup v1 a traced exec) made that step
// 85-178 ms at the median in a burst of 50 signups (11-18 ms without it),
// longer than the database step beside it, which the saga waits for too;
// in the background it overlaps both, and Provision waits for what is
// left of it. Runtimes on the openclaw engine start cold: their
// environment depends on the OpenClaw version Provision settles. The
// caller holds the customer's lock. A failed start only means a cold start
// later, so it is logged, not returned.
func (d *Driver) startEarly(customerID string, plan plans.Plan) {
	if engine, err := engineOf(d.o.Engines, plan.ID); err != nil || engine == plans.EngineOpenClaw {
		return
	}
	in := earlyInstance(customerID, plan)
	d.mu.Lock()
	if prev := d.early[customerID]; prev != nil {
		d.mu.Unlock()
		if sameSize(prev.in, in) {
			return // a redelivered prepare
		}
		d.dropEarly(customerID, earlyDiscarded)
		d.mu.Lock()
	}
	if d.closed {
		d.mu.Unlock()
		return
	}
	log := d.log.With("customer_id", customerID, "service_id", in.ServiceName)
	e := &early{in: in, started: make(chan struct{})}
	d.early[customerID] = e
	e.timer = time.AfterFunc(d.o.EarlyTTL, func() {
		unlock := d.lock(customerID)
		defer unlock()
		d.mu.Lock()
		current := d.early[customerID] == e
		d.mu.Unlock()
		if current {
			log.Info("runtime started early was not provisioned in time; stopped", "ttl", d.o.EarlyTTL)
			d.dropEarly(customerID, earlyExpired)
		}
	})
	d.wg.Go(func() { // under d.mu: Close, which waits for d.wg, finds e in d.early first
		defer close(e.started)
		t, err := d.prepareTenant(d.ctx, in)
		if err != nil {
			log.Warn("cannot start the runtime early; it will start cold", "err", err)
			return
		}
		c, err := launch(d.o, in, t, log)
		if err != nil {
			log.Warn("cannot start the runtime early; it will start cold", "err", err)
			return
		}
		e.c, e.t = c, t
		log.Debug("runtime started early", "pid", c.pid)
	})
	d.mu.Unlock()
}

// takeEarly hands the process started early for in to a spawn, once its
// start has ended, if it was started for in's plan and size and still
// runs; any other is stopped. Only the first spawn after a Prepare can
// find one.
func (d *Driver) takeEarly(in store.Instance) *early {
	d.mu.Lock()
	e := d.early[in.CustomerID]
	delete(d.early, in.CustomerID)
	d.mu.Unlock()
	if e == nil {
		return nil
	}
	e.timer.Stop()
	<-e.started
	switch {
	case e.c == nil:
	case !sameSize(e.in, in) || e.c.hasExited():
		e.c.terminate(d.o.StopGrace)
	default:
		d.m.early.WithLabelValues(earlyUsed).Inc()
		return e
	}
	d.m.early.WithLabelValues(earlyDiscarded).Inc()
	return nil
}

// dropEarly stops customerID's process started early, if any, and waits
// for it (its cgroup goes with it).
func (d *Driver) dropEarly(customerID, result string) {
	d.mu.Lock()
	e := d.early[customerID]
	delete(d.early, customerID)
	d.mu.Unlock()
	if e == nil {
		return
	}
	e.timer.Stop()
	<-e.started
	if e.c != nil {
		e.c.terminate(d.o.StopGrace)
	}
	d.m.early.WithLabelValues(result).Inc()
}

// sameSize reports whether a process started for a runs b: same customer,
// plan and compute size (its cgroup limits and Go settings).
func sameSize(a, b store.Instance) bool {
	return a.CustomerID == b.CustomerID && a.ServiceName == b.ServiceName && a.Plan == b.Plan &&
		a.VCPUs == b.VCPUs && a.MemoryMB == b.MemoryMB
}

// hasExited reports whether the child has exited.
func (c *child) hasExited() bool {
	select {
	case <-c.exited:
		return true
	default:
		return false
	}
}
