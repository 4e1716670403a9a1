package process

import (
	"context"
	"fmt"

	"clawdbot.cloud/services/railway/internal/store"
)

// Start brings back the persisted instances: every instance that wants to
// run is started, each exactly once.
//
// A runtime recorded by an earlier run of the service may still be alive
// (normally Pdeathsig kills it with the service; it survives if the service
// was replaced by exec or its spawning thread was gone). Such a process is
// stopped and a fresh one started rather than adopted: it is not our child,
// so its exit could not be waited for nor its output read, and it runs the
// configuration, database URL and binary of an earlier run, while a fresh
// start applies the current ones. A recorded pid that now belongs to another
// program (checked by /proc/<pid>/cmdline and the instance marker in its
// environment) is left alone.
//
// Start does not wait for the runtimes to answer; Provision does.
func (d *Driver) Start(ctx context.Context) error {
	if err := d.loadPin(ctx); err != nil {
		return err
	}
	instances, err := d.o.Store.Active(ctx)
	if err != nil {
		return err
	}
	for _, in := range instances {
		if in.PID != 0 {
			if err := d.stopLeftover(ctx, in); err != nil {
				return err
			}
		}
	}
	started, stopped := 0, 0
	for _, in := range instances {
		if in.Desired == store.Stopped {
			// Stopped instances stay stopped; callers are told why again.
			if err := d.respond(in.CustomerID, in.Port, in.StopReason); err != nil {
				d.log.Warn("cannot answer for a stopped instance", "customer_id", in.CustomerID, "err", err)
			}
			stopped++
			continue
		}
		if in.Desired != store.Running {
			continue
		}
		unlock := d.lock(in.CustomerID)
		if d.supervisorOf(in.CustomerID) == nil {
			_, err = d.supervise(in)
		}
		unlock()
		if err != nil {
			return err
		}
		started++
	}
	d.log.Info("process driver started", "binary", d.o.Binary, "instances", started, "stopped", stopped)
	// An OpenClaw rollout this driver's last run did not finish: its moved
	// instances just started on its version, unchecked; it goes on now.
	return d.resumeRollout(ctx)
}

// stopLeftover stops the runtime an earlier run recorded for in, if it is
// still alive and ours, and clears the record.
func (d *Driver) stopLeftover(ctx context.Context, in store.Instance) error {
	log := d.log.With("customer_id", in.CustomerID, "service_id", in.ServiceName, "pid", in.PID)
	if isRuntime(in.PID, d.o.Binary, in.ServiceName) {
		log.Warn("stopping a runtime left by an earlier run", "answers_health", portAnswers(in.Port))
		if err := killLeftover(in.PID, d.o.StopGrace); err != nil {
			return fmt.Errorf("stop leftover runtime of %s: %w", in.CustomerID, err)
		}
	} else {
		log.Debug("recorded runtime is gone")
	}
	return d.o.Store.Exited(ctx, in.CustomerID, false)
}
