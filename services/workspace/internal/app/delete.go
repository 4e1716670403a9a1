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
	"clawdbot.cloud/proto/subjects"
	"clawdbot.cloud/services/workspace/internal/adapters/customerconn"
)

// Delete removes the workspace files and revokes every API key in the
// customer's database, deletes the saga's unrevealed key and publishes
// workspace.deleted. A database that is already gone (no stored URL, no
// database, no tables) has nothing to delete: that is success.
func (a *App) Delete(ctx context.Context, cmd *pb.DeleteWorkspace) error {
	outcome, err := a.delete(ctx, cmd)
	a.m.deletes.WithLabelValues(outcome).Inc()
	return err
}

func (a *App) delete(ctx context.Context, cmd *pb.DeleteWorkspace) (string, error) {
	step := cmd.GetStep()
	if err := checkStep(step); err != nil {
		return outcomeFailed, bus.Permanent(err)
	}
	ref, err := databaseRef(cmd.GetDatabaseRef(), step.GetCustomerId())
	if err != nil {
		return outcomeFailed, bus.Permanent(err)
	}
	log := a.log.With("saga_id", step.GetSagaId(), "customer_id", step.GetCustomerId())
	defer a.locks.lock(step.GetSagaId())()

	// Mark first: a build finishing concurrently then cleans up after itself.
	if err := a.ledger.MarkDeleted(ctx, step.GetSagaId(), step.GetCustomerId()); err != nil {
		return outcomeRetry, err
	}
	db, err := a.open(ctx, ref)
	switch {
	case errors.Is(err, secrets.ErrNotFound), errors.Is(err, customerconn.ErrGone):
		log.Info("customer database is gone; no workspace to delete")
		if err := a.secrets.Delete(ctx, names.APIKeyRevealRef(step.GetSagaId())); err != nil {
			return outcomeRetry, err
		}
	case errors.Is(err, customerconn.ErrBadURL):
		// Nothing can open this database; an operator must look.
		return outcomeFailed, bus.Permanent(err)
	case err != nil:
		return outcomeRetry, err
	default:
		err := a.wipe(ctx, db, step.GetSagaId())
		db.Close(context.WithoutCancel(ctx)) //nolint:errcheck // nothing left to do on it
		if err != nil {
			return outcomeRetry, err
		}
	}

	_, err = a.bus.Publish(ctx, subjects.WorkspaceDeleted, &pb.WorkspaceDeleted{Step: step},
		envelope(subjects.WorkspaceDeleted, step))
	if err != nil {
		return outcomeRetry, fmt.Errorf("publish %s: %w", subjects.WorkspaceDeleted, err)
	}
	log.Info("workspace deleted")
	return outcomeDone, nil
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

// checkStep reports a command without the ids every result must echo.
func checkStep(step *pb.Step) error {
	if step.GetSagaId() == "" || step.GetCustomerId() == "" {
		return errors.New("command without saga_id or customer_id in its step")
	}
	return nil
}

// databaseRef returns the secret reference of the customer's database URL.
// A command may name it, but only as the customer's own reference: one
// customer's workspace is never written into another's database.
func databaseRef(ref, customerID string) (string, error) {
	want := names.DatabaseRef(customerID)
	if ref != "" && ref != want {
		return "", fmt.Errorf("database_ref %q is not the database of customer %s", ref, customerID)
	}
	return want, nil
}
