package app

import (
	"context"
	"fmt"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/names"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
)

// create handles cmd.database.create: it makes (or finds) the customer's
// database; database.created names the stored connection URL but never
// carries it.
func (a *App) create(ctx context.Context, cmd *pb.CreateDatabase) (*pb.DatabaseCreated, error) {
	db, err := a.driver.Create(ctx, cmd.GetStep().GetCustomerId())
	if err != nil {
		return nil, fmt.Errorf("create database: %w", err)
	}
	return &pb.DatabaseCreated{Step: cmd.GetStep(), DatabaseName: db.Name, DatabaseRef: db.Ref}, nil
}

// delete handles cmd.database.delete (a compensation or a deprovision): it
// removes the customer's database, role and stored URL; database.deleted
// answers, also when there was nothing to remove.
func (a *App) delete(ctx context.Context, cmd *pb.DeleteDatabase) (*pb.DatabaseDeleted, error) {
	customer := cmd.GetStep().GetCustomerId()
	if err := a.driver.Delete(ctx, customer); err != nil {
		return nil, fmt.Errorf("delete database: %w", err)
	}
	return &pb.DatabaseDeleted{Step: cmd.GetStep(), DatabaseName: names.Database(customer)}, nil
}

// archive handles cmd.database.archive (day 7 of a cancellation): the
// customer's database goes to archive storage and the live one is removed;
// database.archived answers with the archive's ref and size.
func (a *App) archive(ctx context.Context, cmd *pb.ArchiveDatabase) (*pb.DatabaseArchived, error) {
	arc, err := a.driver.Archive(ctx, cmd.GetStep().GetCustomerId())
	if err != nil {
		return nil, fmt.Errorf("archive database: %w", err)
	}
	return &pb.DatabaseArchived{Step: cmd.GetStep(), ArchiveRef: arc.Ref, Bytes: arc.Bytes}, nil
}

// restore handles cmd.database.restore (a customer back before day 30):
// the database is recreated from the archive with new credentials;
// database.restored answers with the reference of its URL.
func (a *App) restore(ctx context.Context, cmd *pb.RestoreDatabase) (*pb.DatabaseRestored, error) {
	customer := cmd.GetStep().GetCustomerId()
	ref, err := archiveRef(cmd.GetArchiveRef(), customer)
	if err != nil {
		return nil, err
	}
	db, err := a.driver.Restore(ctx, customer, ref)
	if err != nil {
		return nil, fmt.Errorf("restore database: %w", err)
	}
	return &pb.DatabaseRestored{Step: cmd.GetStep(), DatabaseRef: db.Ref}, nil
}

// deleteArchive handles cmd.database.delete_archive (day 30): the archive
// is removed for good; database.archive_deleted answers, also when it was
// already gone.
func (a *App) deleteArchive(ctx context.Context, cmd *pb.DeleteArchive) (*pb.ArchiveDeleted, error) {
	customer := cmd.GetStep().GetCustomerId()
	ref, err := archiveRef(cmd.GetArchiveRef(), customer)
	if err != nil {
		return nil, err
	}
	if err := a.driver.DeleteArchive(ctx, customer, ref); err != nil {
		return nil, fmt.Errorf("delete archive: %w", err)
	}
	return &pb.ArchiveDeleted{Step: cmd.GetStep()}, nil
}

// archiveRef returns the customer's archive ref. A command may name it, but
// only as the customer's own: one customer's archive never becomes another's
// database.
func archiveRef(ref, customerID string) (string, error) {
	want := names.ArchiveRef(customerID)
	if ref != "" && ref != want {
		return "", bus.Permanent(fmt.Errorf("invalid command: archive_ref %q is not the archive of customer %s", ref, customerID))
	}
	return want, nil
}
