package app

import (
	"context"
	"fmt"
	"time"

	"clawdbot.cloud/pkg/names"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
)

// delete handles cmd.database.delete (a compensation or a deprovision): it
// removes the customer's database, role and stored URL and publishes
// database.deleted, also when there was nothing to remove.
func (a *App) delete(ctx context.Context, cmd *pb.DeleteDatabase) error {
	const subject = subjects.CmdDatabaseDelete
	start := time.Now()
	step := cmd.GetStep()
	if err := checkStep(step); err != nil {
		return a.settle(ctx, opDelete, step, err, start)
	}
	done, err := a.replayed(ctx, opDelete, subject, step, start)
	if err != nil {
		return a.settle(ctx, opDelete, step, err, start)
	}
	if done {
		return nil
	}
	if err := a.driver.Delete(ctx, step.GetCustomerId()); err != nil {
		return a.settle(ctx, opDelete, step, fmt.Errorf("delete database: %w", err), start)
	}
	ev := &pb.DatabaseDeleted{Step: step, DatabaseName: names.Database(step.GetCustomerId())}
	if _, err := a.bus.Publish(ctx, subjects.DatabaseDeleted, ev, envelope(subjects.DatabaseDeleted, step)); err != nil {
		return a.settle(ctx, opDelete, step, err, start)
	}
	a.log.Info("database deleted", "saga_id", step.GetSagaId(), "customer_id", step.GetCustomerId())
	return a.finish(ctx, opDelete, subject, step, start)
}
