package app

import (
	"context"
	"fmt"
	"time"

	"clawdbot.cloud/pkg/bus"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
)

// delete handles cmd.compute.delete: it stops the customer's runtime for good
// and publishes compute.deleted. Deleting what is already gone succeeds.
func (a *App) delete(ctx context.Context, cmd *pb.DeleteCompute) (err error) {
	start := time.Now()
	defer func() { a.observe("delete", start, err) }()
	step := cmd.GetStep()
	if err := checkStep(step); err != nil {
		return bus.Permanent(fmt.Errorf("delete compute: %w", err))
	}
	if a.journal != nil {
		if err := a.journal.MarkSagaDeleted(ctx, step.GetSagaId()); err != nil {
			return err
		}
	}
	if err := a.drv.Delete(ctx, step.GetCustomerId()); err != nil {
		err = fmt.Errorf("delete compute: %w", err)
		if permanent(err) || a.lastAttempt(ctx) {
			return a.fail(ctx, "delete", step, err)
		}
		return retry(err)
	}
	if _, err := a.bus.Publish(ctx, subjects.ComputeDeleted, &pb.ComputeDeleted{Step: step},
		envelope(subjects.ComputeDeleted, step)); err != nil {
		return err
	}
	a.log.Info("compute deleted", "saga_id", step.GetSagaId(), "customer_id", step.GetCustomerId())
	return nil
}
