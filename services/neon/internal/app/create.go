package app

import (
	"context"
	"fmt"
	"time"

	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
)

// create handles cmd.database.create: it makes (or finds) the customer's
// database and publishes database.created, which names the stored
// connection URL but never carries it.
func (a *App) create(ctx context.Context, cmd *pb.CreateDatabase) error {
	const subject = subjects.CmdDatabaseCreate
	start := time.Now()
	step := cmd.GetStep()
	if err := checkStep(step); err != nil {
		return a.settle(ctx, opCreate, step, err, start)
	}
	done, err := a.replayed(ctx, opCreate, subject, step, start)
	if err != nil {
		return a.settle(ctx, opCreate, step, err, start)
	}
	if done {
		return nil
	}
	db, err := a.driver.Create(ctx, step.GetCustomerId())
	if err != nil {
		return a.settle(ctx, opCreate, step, fmt.Errorf("create database: %w", err), start)
	}
	ev := &pb.DatabaseCreated{Step: step, DatabaseName: db.Name, DatabaseRef: db.Ref}
	if _, err := a.bus.Publish(ctx, subjects.DatabaseCreated, ev, envelope(subjects.DatabaseCreated, step)); err != nil {
		return a.settle(ctx, opCreate, step, err, start)
	}
	a.log.Info("database created", "saga_id", step.GetSagaId(), "customer_id", step.GetCustomerId(), "database", db.Name)
	return a.finish(ctx, opCreate, subject, step, start)
}
