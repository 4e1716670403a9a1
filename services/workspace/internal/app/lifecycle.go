package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/googletoken"
	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/pkg/secrets"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/services/workspace/internal/adapters/customerconn"
	"clawdbot.cloud/services/workspace/internal/render"
)

// renderSkills re-renders the plan's skills and openclaw.json into the
// customer's workspace (cmd.workspace.render_skills); workspace.skills_rendered
// answers. The customer's own files and memories are never touched: only
// skills/<name>/SKILL.md of the renderer's catalog and openclaw.json are
// platform-owned. A catalog skill the new plan does not grant loses its
// SKILL.md (openclaw.json lists it as disabled, as render does for every
// catalog skill outside the plan). Writing the same plan again changes
// nothing, so duplicates are harmless.
func (a *App) renderSkills(ctx context.Context, cmd *pb.RenderSkills) (*pb.SkillsRendered, error) {
	step := cmd.GetStep()
	plan, err := plans.Lookup(cmd.GetPlan())
	if err != nil {
		return nil, bus.Permanent(err)
	}
	ref, err := databaseRef(cmd.GetDatabaseRef(), step.GetCustomerId())
	if err != nil {
		return nil, err
	}
	defer a.locks.lock("customer/" + step.GetCustomerId())()

	files := render.SkillFiles(render.Input{CustomerID: step.GetCustomerId(), Plan: plan})
	granted := map[string]bool{}
	for _, f := range files {
		granted[f.Path] = true
	}
	var stale []string
	for _, name := range render.CatalogSkills() {
		if p := "skills/" + name + "/SKILL.md"; !granted[p] {
			stale = append(stale, p)
		}
	}
	db, err := a.open(ctx, ref)
	switch {
	case errors.Is(err, secrets.ErrNotFound), errors.Is(err, customerconn.ErrGone), errors.Is(err, customerconn.ErrBadURL):
		return nil, failed("customer database unavailable: " + err.Error())
	case err != nil:
		return nil, err
	}
	defer db.Close(context.WithoutCancel(ctx)) //nolint:errcheck // nothing left to do on it
	out := make([]customerdb.File, len(files))
	for i, f := range files {
		out[i] = customerdb.File{Path: f.Path, Content: f.Content}
	}
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if err := customerdb.PutFiles(ctx, tx, out...); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM workspace_files WHERE path = ANY($1)", stale); err != nil {
			return err
		}
		// The running runtime reads its plan from here on its next
		// request: the plan change needs no restart.
		return customerdb.SetPlan(ctx, tx, plan.ID)
	})
	if err != nil {
		return nil, fmt.Errorf("render skills: %w", err)
	}
	a.log.Info("skills rendered", "saga_id", step.GetSagaId(), "customer_id", step.GetCustomerId(),
		"plan", plan.ID, "files", len(files), "removed", len(stale))
	return &pb.SkillsRendered{Step: step, Files: int32(len(files))}, nil
}

// revokeKeys revokes every API key in the customer's database
// (cmd.workspace.revoke_keys, on cancellation); workspace.keys_revoked
// answers. Revoked keys keep their revocation time, so duplicates change
// nothing; a database that is gone has no key that works, which is success
// too. A connected Google account's grant is revoked at Google and its
// tokens deleted (revokeGoogle).
func (a *App) revokeKeys(ctx context.Context, cmd *pb.RevokeKeys) (*pb.KeysRevoked, error) {
	step := cmd.GetStep()
	ref, err := databaseRef(cmd.GetDatabaseRef(), step.GetCustomerId())
	if err != nil {
		return nil, err
	}
	defer a.locks.lock("customer/" + step.GetCustomerId())()
	db, err := a.open(ctx, ref)
	switch {
	case errors.Is(err, secrets.ErrNotFound), errors.Is(err, customerconn.ErrGone):
		a.log.Info("customer database is gone; no key to revoke", "customer_id", step.GetCustomerId())
	case errors.Is(err, customerconn.ErrBadURL):
		return nil, bus.Permanent(err)
	case err != nil:
		return nil, err
	default:
		err := customerdb.RevokeAPIKeys(ctx, db)
		if err == nil {
			err = a.revokeGoogle(ctx, db, step.GetCustomerId())
		}
		db.Close(context.WithoutCancel(ctx)) //nolint:errcheck // nothing left to do on it
		if err != nil && !customerconn.Gone(err) {
			return nil, err
		}
	}
	return &pb.KeysRevoked{Step: step}, nil
}

// revokeGoogle revokes the customer's Google grant (Gmail and Calendar) at
// Google and deletes the tokens. The tokens are sealed with a key derived
// from the instance token, which the secret store still holds at
// cancellation (the compute service deletes it with the instance). Google
// unreachable is a retryable error: the tokens stay until the grant is
// revoked. Tokens that no longer open (the instance token is gone) are
// deleted: nothing can use them.
func (a *App) revokeGoogle(ctx context.Context, db customerdb.TxBeginner, customerID string) error {
	acc, err := customerdb.GoogleAccountFor(ctx, db)
	if errors.Is(err, customerdb.ErrNoGoogle) || isUndefinedTable(err) {
		return nil
	}
	if err != nil {
		return err
	}
	secret, err := a.secrets.Get(ctx, names.InstanceTokenRef(customerID))
	if err != nil && !errors.Is(err, secrets.ErrNotFound) {
		return err
	}
	if err == nil {
		if s, err := googletoken.NewSealer(string(secret)); err == nil {
			if rt, err := s.Open("refresh", acc.RefreshToken); err == nil {
				if err := googletoken.Revoke(ctx, a.http, a.google, rt); err != nil {
					return err
				}
			}
		}
	}
	if _, err := customerdb.DeleteGoogleAccount(ctx, db); err != nil {
		return err
	}
	a.log.Info("google grant revoked", "customer_id", customerID)
	return nil
}

// isUndefinedTable is a customer database older than the google tables.
func isUndefinedTable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "42P01"
}
