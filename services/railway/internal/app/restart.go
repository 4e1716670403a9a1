package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"clawdbot.cloud/pkg/bus"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
)

// restart handles cmd.compute.restart, which the health service sends after
// repeated failed probes: the running runtime is replaced by a fresh one at
// the same address, and compute.restarted answers (nothing waits for it).
// An instance that is stopped, deleted or unknown is left alone: the
// request is acknowledged, not dead-lettered, because health may simply
// have probed it before hearing that it stopped.
func (a *App) restart(ctx context.Context, cmd *pb.RestartCompute) (err error) {
	start := time.Now()
	defer func() { a.observe("restart", start, err) }()
	step := cmd.GetStep()
	if err := checkStep(step); err != nil {
		return bus.Permanent(fmt.Errorf("restart compute: %w", err))
	}
	if err := a.drv.Restart(ctx, step.GetCustomerId()); err != nil {
		if errors.Is(err, ErrNotFound) {
			a.log.Info("restart of an instance that does not run: ignored",
				"saga_id", step.GetSagaId(), "customer_id", step.GetCustomerId())
			return nil
		}
		if permanent(err) {
			return bus.Permanent(fmt.Errorf("restart compute: %w", err))
		}
		return retry(fmt.Errorf("restart compute: %w", err))
	}
	return a.answer(ctx, subjects.ComputeRestarted, step, &pb.ComputeRestarted{Step: step},
		"compute restarted", "reason", cmd.GetReason())
}
