package app

import (
	"context"
	"errors"
	"fmt"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/plans"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
)

// prepare handles cmd.compute.prepare: it does the compute work that needs
// no database (Driver.Prepare) while the saga creates the database;
// compute.prepared answers. The saga's cmd.compute.provision then finds the
// prepared service.
func (a *App) prepare(ctx context.Context, cmd *pb.PrepareCompute) (*pb.ComputePrepared, error) {
	plan, err := plans.Lookup(cmd.GetPlan())
	if err != nil {
		return nil, fmt.Errorf("prepare compute: %w", err)
	}
	inst, err := a.guarded(ctx, cmd.GetStep(), "prepare", func() (Instance, error) {
		return a.drv.Prepare(ctx, cmd.GetStep().GetCustomerId(), plan)
	})
	if err != nil || inst == nil {
		return nil, err
	}
	return &pb.ComputePrepared{Step: cmd.GetStep(), ServiceId: inst.ServiceID, InstanceUrl: inst.URL}, nil
}

// provision handles cmd.compute.provision: it runs the customer's runtime;
// compute.provisioned answers with where it runs.
func (a *App) provision(ctx context.Context, cmd *pb.ProvisionCompute) (*pb.ComputeProvisioned, error) {
	plan, err := plans.Lookup(cmd.GetPlan())
	if err != nil {
		return nil, fmt.Errorf("provision compute: %w", err)
	}
	if cmd.GetDatabaseRef() == "" {
		return nil, bus.Permanent(errors.New("provision compute: database_ref is empty"))
	}
	req := ProvisionRequest{CustomerID: cmd.GetStep().GetCustomerId(), Plan: plan, DatabaseRef: cmd.GetDatabaseRef()}
	inst, err := a.guarded(ctx, cmd.GetStep(), "provision", func() (Instance, error) { return a.drv.Provision(ctx, req) })
	if err != nil || inst == nil {
		return nil, err
	}
	return &pb.ComputeProvisioned{Step: cmd.GetStep(), ServiceId: inst.ServiceID, InstanceUrl: inst.URL}, nil
}

// guarded runs a driver call that creates compute for step's saga, unless
// the saga's delete has run: then nothing is created (a nil Instance), and
// what a call still in flight created is removed again, as the saga has
// moved on and would never delete it. A call that fails for good is cleaned
// up too, since the saga compensates only steps that succeeded; a working
// instance is never removed, because the driver returns a running instance
// as is and cannot fail for it.
func (a *App) guarded(ctx context.Context, step *pb.Step, op string, create func() (Instance, error)) (*Instance, error) {
	log := a.log.With("saga_id", step.GetSagaId(), "customer_id", step.GetCustomerId())
	if gone, err := a.sagaDeleted(ctx, step.GetSagaId()); err != nil || gone {
		if gone {
			log.Info(op + " of a saga whose compute was deleted: ignored")
		}
		return nil, err
	}
	inst, err := create()
	if err != nil {
		err = fmt.Errorf("%s compute: %w", op, err)
		if a.worker.Final(ctx, err) {
			if derr := a.drv.Delete(ctx, step.GetCustomerId()); derr != nil {
				log.Warn("cleanup after failed "+op, "err", derr)
			}
		}
		return nil, err
	}
	if gone, err := a.sagaDeleted(ctx, step.GetSagaId()); err != nil || gone {
		if gone {
			log.Info("compute deleted during " + op + ": removing what it created")
			return nil, a.drv.Delete(ctx, step.GetCustomerId())
		}
		return nil, err
	}
	return &inst, nil
}

// delete handles cmd.compute.delete: it stops the customer's runtime for
// good; compute.deleted answers. Deleting what is already gone succeeds.
func (a *App) delete(ctx context.Context, cmd *pb.DeleteCompute) (*pb.ComputeDeleted, error) {
	if a.journal != nil {
		if err := a.journal.MarkSagaDeleted(ctx, cmd.GetStep().GetSagaId()); err != nil {
			return nil, err
		}
	}
	if err := a.drv.Delete(ctx, cmd.GetStep().GetCustomerId()); err != nil {
		return nil, fmt.Errorf("delete compute: %w", err)
	}
	return &pb.ComputeDeleted{Step: cmd.GetStep()}, nil
}
