package app

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"clawdbot.cloud/pkg/names"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
)

// archive handles cmd.database.archive (day 7 of a cancellation): the
// customer's database goes to archive storage and the live one is removed;
// database.archived answers with the archive's ref and size.
func (a *App) archive(ctx context.Context, cmd *pb.ArchiveDatabase) error {
	return a.lifecycle(ctx, opArchive, subjects.CmdDatabaseArchive, cmd.GetStep(), func(step *pb.Step) (string, proto.Message, error) {
		arc, err := a.driver.Archive(ctx, step.GetCustomerId())
		if err != nil {
			return "", nil, fmt.Errorf("archive database: %w", err)
		}
		return subjects.DatabaseArchived, &pb.DatabaseArchived{Step: step, ArchiveRef: arc.Ref, Bytes: arc.Bytes}, nil
	})
}

// restore handles cmd.database.restore (a customer back before day 30):
// the database is recreated from the archive with new credentials;
// database.restored answers with the reference of its URL.
func (a *App) restore(ctx context.Context, cmd *pb.RestoreDatabase) error {
	return a.lifecycle(ctx, opRestore, subjects.CmdDatabaseRestore, cmd.GetStep(), func(step *pb.Step) (string, proto.Message, error) {
		ref, err := archiveRef(cmd.GetArchiveRef(), step.GetCustomerId())
		if err != nil {
			return "", nil, err
		}
		db, err := a.driver.Restore(ctx, step.GetCustomerId(), ref)
		if err != nil {
			return "", nil, fmt.Errorf("restore database: %w", err)
		}
		return subjects.DatabaseRestored, &pb.DatabaseRestored{Step: step, DatabaseRef: db.Ref}, nil
	})
}

// deleteArchive handles cmd.database.delete_archive (day 30): the archive
// is removed for good; database.archive_deleted answers, also when it was
// already gone.
func (a *App) deleteArchive(ctx context.Context, cmd *pb.DeleteArchive) error {
	return a.lifecycle(ctx, opDeleteArchive, subjects.CmdDatabaseDropArchive, cmd.GetStep(), func(step *pb.Step) (string, proto.Message, error) {
		ref, err := archiveRef(cmd.GetArchiveRef(), step.GetCustomerId())
		if err != nil {
			return "", nil, err
		}
		if err := a.driver.DeleteArchive(ctx, step.GetCustomerId(), ref); err != nil {
			return "", nil, fmt.Errorf("delete archive: %w", err)
		}
		return subjects.ArchiveDeleted, &pb.ArchiveDeleted{Step: step}, nil
	})
}

// lifecycle runs one lifecycle command: replay check, the operation, its
// result event, the journal; failures are settled like create's.
func (a *App) lifecycle(ctx context.Context, op, subject string, step *pb.Step,
	do func(*pb.Step) (string, proto.Message, error)) error {
	start := time.Now()
	if err := checkStep(step); err != nil {
		return a.settle(ctx, op, step, err, start)
	}
	done, err := a.replayed(ctx, op, subject, step, start)
	if err != nil {
		return a.settle(ctx, op, step, err, start)
	}
	if done {
		return nil
	}
	resultSubject, ev, err := do(step)
	if err != nil {
		return a.settle(ctx, op, step, err, start)
	}
	if _, err := a.bus.Publish(ctx, resultSubject, ev, envelope(resultSubject, step)); err != nil {
		a.metrics.done(op, resultRetry, start)
		return err
	}
	a.log.Info(resultSubject, "saga_id", step.GetSagaId(), "customer_id", step.GetCustomerId())
	return a.finish(ctx, op, subject, step, start)
}

// archiveRef returns the customer's archive ref. A command may name it, but
// only as the customer's own: one customer's archive never becomes another's
// database.
func archiveRef(ref, customerID string) (string, error) {
	want := names.ArchiveRef(customerID)
	if ref != "" && ref != want {
		return "", fmt.Errorf("%w: archive_ref %q is not the archive of customer %s", errInvalid, ref, customerID)
	}
	return want, nil
}
