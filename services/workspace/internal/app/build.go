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

	db, err := a.open(ctx, ref)
	switch {
	case errors.Is(err, secrets.ErrNotFound):
		return nil, failed("no database URL is stored under " + ref)
	case errors.Is(err, customerconn.ErrGone), errors.Is(err, customerconn.ErrBadURL):
		return nil, bus.Permanent(err)
	case err != nil:
		return nil, err
	}
	defer db.Close(context.WithoutCancel(ctx)) //nolint:errcheck // read-only from here on if it fails

	prefix, err := a.deliver(ctx, db, step.GetSagaId(), files)
	if errors.Is(err, customerdb.ErrInvalidFiles) {
		return nil, bus.Permanent(err)
	}
	if err != nil {
		return nil, err
	}

	ok, err := a.ledger.MarkBuilt(ctx, ledger.Record{
		SagaID: step.GetSagaId(), CustomerID: step.GetCustomerId(), Files: len(files), APIKeyPrefix: prefix,
	})
	if err != nil {
		return nil, err
	}
	if !ok {
		// cmd.workspace.delete ran while we built: undo what we wrote, as
		// its own cleanup may have run before our writes.
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

// deliver writes the files into the customer's database and makes sure the
// saga's API key works there. It returns the key's displayable prefix.
func (a *App) deliver(ctx context.Context, db CustomerDB, sagaID string, files []render.File) (string, error) {
	// The database is normally cloned from a migrated template; migrating
	// again is a cheap no-op that also covers a bare database.
	if err := customerdb.Migrate(ctx, db); err != nil {
		return "", err
	}
	// A workspace delivered before belongs to the customer now: their
	// memories, their USER.md, a BOOTSTRAP.md the agent deleted. Building
	// again (a returning customer's new key) only refreshes what the plan
	// manages: skills and openclaw.json.
	existing, err := customerdb.HasWorkspace(ctx, db)
	if err != nil {
		return "", err
	}
	out := make([]customerdb.File, 0, len(files))
	for _, f := range files {
		if existing && !render.PlanManaged(f.Path) {
			continue
		}
		out = append(out, customerdb.File{Path: f.Path, Content: f.Content})
	}
	if err := customerdb.ReplaceWorkspace(ctx, db, out); err != nil {
		return "", err
	}
	key, err := a.revealableKey(ctx, sagaID)
	if err != nil {
		return "", err
	}
	// Only the hash reaches the customer's database. Adding it again is a
	// no-op, so a retry after a crash here is harmless.
	if err := customerdb.AddAPIKey(ctx, db, apikey.Hash(key), apikey.Prefix(key)); err != nil {
		return "", err
	}
	return apikey.Prefix(key), nil
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
