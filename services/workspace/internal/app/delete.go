package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/secrets"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/services/workspace/internal/adapters/customerconn"
)

// delete removes the workspace files and revokes every API key in the
// customer's database, deletes the saga's unrevealed key and answers with
// workspace.deleted. A database that is already gone (no stored URL, no
// database, no tables) has nothing to delete: that is success.
func (a *App) delete(ctx context.Context, cmd *pb.DeleteWorkspace) (*pb.WorkspaceDeleted, error) {
	step := cmd.GetStep()
	ref, err := databaseRef(cmd.GetDatabaseRef(), step.GetCustomerId())
	if err != nil {
		return nil, err
	}
	defer a.locks.lock(step.GetSagaId())()

	// Mark first: a build finishing concurrently then cleans up after itself.
	if err := a.ledger.MarkDeleted(ctx, step.GetSagaId(), step.GetCustomerId()); err != nil {
		return nil, err
	}
	db, err := a.open(ctx, ref)
	switch {
	case errors.Is(err, secrets.ErrNotFound), errors.Is(err, customerconn.ErrGone):
		a.log.Info("customer database is gone; no workspace to delete", "saga_id", step.GetSagaId(), "customer_id", step.GetCustomerId())
		if err := a.secrets.Delete(ctx, names.APIKeyRevealRef(step.GetSagaId())); err != nil {
			return nil, err
		}
	case errors.Is(err, customerconn.ErrBadURL):
		// Nothing can open this database; an operator must look.
		return nil, bus.Permanent(err)
	case err != nil:
		return nil, err
	default:
		err := a.wipe(ctx, db, step.GetSagaId())
		db.Close(context.WithoutCancel(ctx)) //nolint:errcheck // nothing left to do on it
		if err != nil {
			return nil, err
		}
	}
	return &pb.WorkspaceDeleted{Step: step}, nil
}

// wipe deletes the workspace files and revokes the keys in one transaction,
// then deletes the saga's reveal secret: a key that no longer works must not
// be shown.
func (a *App) wipe(ctx context.Context, db CustomerDB, sagaID string) error {
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if err := customerdb.DeleteWorkspace(ctx, tx); err != nil {
			return err
		}
		return customerdb.RevokeAPIKeys(ctx, tx)
	})
	if err != nil && !customerconn.Gone(err) {
		return err
	}
	return a.secrets.Delete(ctx, names.APIKeyRevealRef(sagaID))
}

// open reads the customer's database URL from the secret store and connects.
// The URL never leaves this function.
func (a *App) open(ctx context.Context, ref string) (CustomerDB, error) {
	url, err := a.secrets.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	return a.connect(ctx, string(url))
}

// databaseRef returns the secret reference of the customer's database URL.
// A command may name it, but only as the customer's own reference: one
// customer's workspace is never written into another's database.
func databaseRef(ref, customerID string) (string, error) {
	want := names.DatabaseRef(customerID)
	if ref != "" && ref != want {
		return "", bus.Permanent(fmt.Errorf("database_ref %q is not the database of customer %s", ref, customerID))
	}
	return want, nil
}
