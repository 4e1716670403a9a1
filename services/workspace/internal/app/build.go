package app

import (
	"context"
	"errors"

	"clawdbot.cloud/pkg/apikey"
	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/pkg/secrets"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/services/workspace/internal/adapters/customerconn"
	"clawdbot.cloud/services/workspace/internal/adapters/ledger"
	"clawdbot.cloud/services/workspace/internal/render"
)

// build renders the customer's workspace into their database, issues their
// first API key and answers with workspace.built.
//
// It is idempotent: a saga already built is reported again from the ledger
// without touching anything; a build interrupted half way finds its reveal
// secret and finishes with the same key, and the file writes are upserts.
func (a *App) build(ctx context.Context, cmd *pb.BuildWorkspace) (*pb.WorkspaceBuilt, error) {
	step := cmd.GetStep()
	log := a.log.With("saga_id", step.GetSagaId(), "customer_id", step.GetCustomerId())
	defer a.locks.lock(step.GetSagaId())()

	rec, found, err := a.ledger.Get(ctx, step.GetSagaId())
	if err != nil {
		return nil, err
	}
	switch {
	case found && rec.Deleted():
		return nil, failed("the workspace of this saga was deleted; a new saga must build a new one")
	case found && rec.Built():
		log.Info("workspace already built; reporting it again", "files", rec.Files)
		bus.Replayed(ctx)
		return built(step, rec.Files, rec.APIKeyPrefix), nil
	}

	plan, err := plans.Lookup(cmd.GetPlan())
	if err != nil {
		return nil, bus.Permanent(err)
	}
	ref, err := databaseRef(cmd.GetDatabaseRef(), step.GetCustomerId())
	if err != nil {
		return nil, err
	}
	files, err := render.Render(render.Input{
		CustomerID: step.GetCustomerId(),
		Name:       cmd.GetName(),
		Email:      cmd.GetEmail(),
		Timezone:   cmd.GetTimezone(),
		Plan:       plan,
		Now:        a.now(),
	})
	if err != nil {
		return nil, bus.Permanent(err)
	}

	// The key waits for its one-time reveal before its hash is delivered,
	// so that no working key exists that the customer could not be shown.
	key, err := a.revealableKey(ctx, step.GetSagaId())
	if err != nil {
		return nil, err
	}
	d := customerdb.Delivery{
		Files:  make([]customerdb.DeliveredFile, len(files)),
		APIKey: customerdb.DeliveredKey{Hash: apikey.Hash(key), Prefix: apikey.Prefix(key)},
	}
	for i, f := range files {
		d.Files[i] = customerdb.DeliveredFile{Path: f.Path, Content: f.Content, PlanManaged: render.PlanManaged(f.Path)}
	}
	if err := a.deliver(ctx, step.GetCustomerId(), ref, cmd.GetInstanceUrl(), d); err != nil {
		return nil, err
	}
	prefix := d.APIKey.Prefix

	ok, err := a.ledger.MarkBuilt(ctx, ledger.Record{
		SagaID: step.GetSagaId(), CustomerID: step.GetCustomerId(), Files: len(files), APIKeyPrefix: prefix,
	})
	if err != nil {
		return nil, err
	}
	if !ok {
		// cmd.workspace.delete ran while we built: undo what we wrote, as
		// its own cleanup may have run before our writes.
		db, err := a.openDatabase(ctx, ref)
		if err != nil {
			return nil, err
		}
		defer db.Close(context.WithoutCancel(ctx)) //nolint:errcheck // nothing left to do on it
		if err := a.wipe(ctx, db, step.GetSagaId()); err != nil {
			return nil, err
		}
		return nil, failed("the workspace of this saga was deleted while it was being built")
	}
	log.Info("workspace built", "files", len(files), "plan", plan.ID, "api_key_prefix", prefix)
	return built(step, len(files), prefix), nil
}

// failed is a permanent failure with reason.
func failed(reason string) error { return bus.Permanent(errors.New(reason)) }

// deliver writes the workspace and the key's hash into the customer's
// database. A build that names the signup's running instance hands them to
// it (PUT /platform/workspace), and the instance writes them through the
// connection it opened at its start: a new customer's database then serves
// one backend during the signup, not two. Without an instance, or when the
// instance does not take them for any reason (a runtime older than the
// endpoint, no instance token, not answering in time), the service writes
// them over a connection of its own.
func (a *App) deliver(ctx context.Context, customerID, ref, instanceURL string, d customerdb.Delivery) error {
	// Checked here, so that an instance refusing a delivery means only
	// that it cannot take it (an older runtime may know fewer fields).
	if err := d.Validate(); err != nil {
		return bus.Permanent(err)
	}
	if instanceURL != "" {
		err := a.handOver(ctx, customerID, instanceURL, d)
		if err == nil {
			a.deliveries.WithLabelValues(viaInstance).Inc()
			return nil
		}
		a.deliveries.WithLabelValues(viaFallback).Inc()
		a.log.Warn("the instance did not take the workspace; writing it directly", "customer_id", customerID, "err", err)
	} else {
		a.deliveries.WithLabelValues(viaDirect).Inc()
	}
	db, err := a.openDatabase(ctx, ref)
	if err != nil {
		return err
	}
	defer db.Close(context.WithoutCancel(ctx)) //nolint:errcheck // written or failed by then
	// The database is normally cloned from a migrated template; migrating
	// again is a cheap no-op that also covers a bare database.
	if err := customerdb.Migrate(ctx, db); err != nil {
		return err
	}
	return customerdb.Deliver(ctx, db, d)
}

// openDatabase connects to the customer's database, mapping what no retry
// can fix to a permanent failure.
func (a *App) openDatabase(ctx context.Context, ref string) (CustomerDB, error) {
	db, err := a.open(ctx, ref)
	switch {
	case errors.Is(err, secrets.ErrNotFound):
		return nil, failed("no database URL is stored under " + ref)
	case errors.Is(err, customerconn.ErrGone), errors.Is(err, customerconn.ErrBadURL):
		return nil, bus.Permanent(err)
	}
	return db, err
}

// revealableKey returns the saga's API key: the one already waiting in the
// reveal secret (an earlier attempt made it), or a new one, stored for the
// one-time reveal before its hash is ever added, so that no working key
// exists that the customer could not be shown.
func (a *App) revealableKey(ctx context.Context, sagaID string) (string, error) {
	ref := names.APIKeyRevealRef(sagaID)
	stored, err := a.secrets.Get(ctx, ref)
	switch {
	case err == nil && apikey.Valid(string(stored)):
		return string(stored), nil
	case err != nil && !errors.Is(err, secrets.ErrNotFound):
		return "", err
	}
	key, err := apikey.Generate()
	if err != nil {
		return "", err
	}
	if err := a.secrets.Put(ctx, ref, []byte(key)); err != nil {
		return "", err
	}
	return key, nil
}

// built is the answer to a build: it names the reveal secret of the key,
// never the key.
func built(step *pb.Step, files int, prefix string) *pb.WorkspaceBuilt {
	return &pb.WorkspaceBuilt{
		Step:         step,
		Files:        int32(files),
		ApiKeyRef:    names.APIKeyRevealRef(step.GetSagaId()),
		ApiKeyPrefix: prefix,
	}
}
