package app

import (
	"context"
	"errors"
	"fmt"

	"clawdbot.cloud/pkg/plans"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
)

// resize handles cmd.compute.resize: the customer's instance takes the
// plan's compute size and quota; compute.resized answers.
func (a *App) resize(ctx context.Context, cmd *pb.ResizeCompute) (*pb.ComputeResized, error) {
	plan, err := plans.Lookup(cmd.GetPlan())
	if err == nil {
		err = a.drv.Resize(ctx, cmd.GetStep().GetCustomerId(), plan)
	}
	if err != nil {
		return nil, fmt.Errorf("resize compute: %w", err)
	}
	return &pb.ComputeResized{Step: cmd.GetStep(), Plan: plan.ID}, nil
}

// stop handles cmd.compute.stop: the runtime stops, the instance stays for
// a later start, and callers are told why; compute.stopped answers.
func (a *App) stop(ctx context.Context, cmd *pb.StopCompute) (*pb.ComputeStopped, error) {
	reason := cmd.GetReason()
	if reason == "" {
		reason = StopSuspended
	}
	if reason != StopSuspended && reason != StopCanceled {
		return nil, fmt.Errorf("stop compute: %w: reason %q is not %s or %s", ErrRejected, reason, StopSuspended, StopCanceled)
	}
	if err := a.drv.Stop(ctx, cmd.GetStep().GetCustomerId(), reason); err != nil {
		return nil, fmt.Errorf("stop compute: %w", err)
	}
	return &pb.ComputeStopped{Step: cmd.GetStep()}, nil
}

// start handles cmd.compute.start: a stopped runtime runs again at the same
// address; compute.started answers with it.
func (a *App) start(ctx context.Context, cmd *pb.StartCompute) (*pb.ComputeStarted, error) {
	req := ProvisionRequest{CustomerID: cmd.GetStep().GetCustomerId(), DatabaseRef: cmd.GetDatabaseRef()}
	var err error
	if cmd.GetPlan() != "" {
		req.Plan, err = plans.Lookup(cmd.GetPlan())
	}
	var inst Instance
	if err == nil {
		inst, err = a.drv.Resume(ctx, req)
	}
	if err != nil {
		return nil, fmt.Errorf("start compute: %w", err)
	}
	return &pb.ComputeStarted{Step: cmd.GetStep(), InstanceUrl: inst.URL}, nil
}

// restart handles cmd.compute.restart, which the health service sends after
// repeated failed probes: the running runtime is replaced by a fresh one at
// the same address, and compute.restarted answers (nothing waits for it).
// An instance that is stopped, deleted or unknown is left alone: the
// request is acknowledged, not dead-lettered, because health may simply
// have probed it before hearing that it stopped.
func (a *App) restart(ctx context.Context, cmd *pb.RestartCompute) (*pb.ComputeRestarted, error) {
	step := cmd.GetStep()
	if err := a.drv.Restart(ctx, step.GetCustomerId()); err != nil {
		if errors.Is(err, ErrNotFound) {
			a.log.Info("restart of an instance that does not run: ignored",
				"saga_id", step.GetSagaId(), "customer_id", step.GetCustomerId())
			return nil, nil
		}
		return nil, fmt.Errorf("restart compute: %w", err)
	}
	return &pb.ComputeRestarted{Step: step}, nil
}
