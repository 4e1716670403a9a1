package app

import (
	"context"
	"fmt"
	"time"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/plans"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
)

// prepare handles cmd.compute.prepare: it does the compute work that needs
// no database (Driver.Prepare) while the saga creates the database, and
// publishes compute.prepared, or compute.failed when it never can. The
// saga's cmd.compute.provision then finds the prepared service.
func (a *App) prepare(ctx context.Context, cmd *pb.PrepareCompute) (err error) {
	start := time.Now()
	defer func() { a.observe("prepare", start, err) }()
	step := cmd.GetStep()
	if err := checkStep(step); err != nil {
		return bus.Permanent(fmt.Errorf("prepare compute: %w", err))
	}
	log := a.log.With("saga_id", step.GetSagaId(), "customer_id", step.GetCustomerId())

	plan, err := plans.Lookup(cmd.GetPlan())
	if err != nil {
		return a.fail(ctx, "prepare", step, fmt.Errorf("prepare compute: %w", err))
	}
	if gone, err := a.sagaDeleted(ctx, step.GetSagaId()); err != nil {
		return err
	} else if gone {
		log.Info("prepare of a saga whose compute was deleted: ignored")
		return nil
	}
	inst, err := a.drv.Prepare(ctx, step.GetCustomerId(), plan)
	if err != nil {
		err = fmt.Errorf("prepare compute: %w", err)
		if !permanent(err) && !a.lastAttempt(ctx) {
			return retry(err)
		}
		// As for provision: the saga undoes a failed step too, but a
		// service left half-configured is removed before reporting.
		if derr := a.drv.Delete(ctx, step.GetCustomerId()); derr != nil {
			log.Warn("cleanup after failed prepare", "err", derr)
		}
		return a.fail(ctx, "prepare", step, err)
	}
	// The saga's delete may have run while this prepare was in flight
	// (the database failed meanwhile): then what was just created must go.
	if gone, err := a.sagaDeleted(ctx, step.GetSagaId()); err != nil {
		return err
	} else if gone {
		log.Info("compute deleted while preparing: removing the new service")
		return a.drv.Delete(ctx, step.GetCustomerId())
	}
	_, err = a.bus.Publish(ctx, subjects.ComputePrepared, &pb.ComputePrepared{
		Step:        step,
		ServiceId:   inst.ServiceID,
		InstanceUrl: inst.URL,
	}, envelope(subjects.ComputePrepared, step))
	if err != nil {
		return err
	}
	log.Info("compute prepared", "service_id", inst.ServiceID, "instance_url", inst.URL)
	return nil
}
