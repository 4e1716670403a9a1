package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/pkg/secrets"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
	"clawdbot.cloud/services/workspace/internal/adapters/customerconn"
	"clawdbot.cloud/services/workspace/internal/render"
)

// RenderSkills re-renders the plan's skills and openclaw.json into the
// customer's workspace (cmd.workspace.render_skills) and publishes
// workspace.skills_rendered. The customer's own files and memories are never
// touched: only skills/<name>/SKILL.md of the renderer's catalog and
// openclaw.json are platform-owned. A catalog skill the new plan does not
// grant loses its SKILL.md (openclaw.json lists it as disabled, as render
// does for every catalog skill outside the plan). Writing the same plan
// again changes nothing, so duplicates are harmless.
func (a *App) RenderSkills(ctx context.Context, cmd *pb.RenderSkills) error {
	outcome, err := a.renderSkills(ctx, cmd)
	a.m.lifecycle.WithLabelValues("render_skills", outcome).Inc()
	return err
}

func (a *App) renderSkills(ctx context.Context, cmd *pb.RenderSkills) (string, error) {
	step := cmd.GetStep()
	if err := checkStep(step); err != nil {
		return outcomeFailed, bus.Permanent(err)
	}
	plan, err := plans.Lookup(cmd.GetPlan())
	if err != nil {
		return outcomeFailed, a.failStep(ctx, step, err.Error())
	}
	ref, err := databaseRef(cmd.GetDatabaseRef(), step.GetCustomerId())
	if err != nil {
		return outcomeFailed, a.failStep(ctx, step, err.Error())
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
		return outcomeFailed, a.failStep(ctx, step, "customer database unavailable: "+err.Error())
	case err != nil:
		return a.lifecycleRetry(ctx, step, err)
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
		return a.lifecycleRetry(ctx, step, fmt.Errorf("render skills: %w", err))
	}
	if _, err := a.bus.Publish(ctx, subjects.SkillsRendered, &pb.SkillsRendered{Step: step, Files: int32(len(files))},
		stepEnvelope(subjects.SkillsRendered, step)); err != nil {
		return outcomeRetry, fmt.Errorf("publish %s: %w", subjects.SkillsRendered, err)
	}
	a.log.Info("skills rendered", "saga_id", step.GetSagaId(), "customer_id", step.GetCustomerId(),
		"plan", plan.ID, "files", len(files), "removed", len(stale))
	return outcomeDone, nil
}

// RevokeKeys revokes every API key in the customer's database
// (cmd.workspace.revoke_keys) and publishes workspace.keys_revoked. Revoked
// keys keep their revocation time, so duplicates change nothing; a database
// that is gone has no key that works, which is success too.
func (a *App) RevokeKeys(ctx context.Context, cmd *pb.RevokeKeys) error {
	outcome, err := a.revokeKeys(ctx, cmd)
	a.m.lifecycle.WithLabelValues("revoke_keys", outcome).Inc()
	return err
}

func (a *App) revokeKeys(ctx context.Context, cmd *pb.RevokeKeys) (string, error) {
	step := cmd.GetStep()
	if err := checkStep(step); err != nil {
		return outcomeFailed, bus.Permanent(err)
	}
	ref, err := databaseRef(cmd.GetDatabaseRef(), step.GetCustomerId())
	if err != nil {
		return outcomeFailed, a.failStep(ctx, step, err.Error())
	}
	defer a.locks.lock("customer/" + step.GetCustomerId())()
	db, err := a.open(ctx, ref)
	switch {
	case errors.Is(err, secrets.ErrNotFound), errors.Is(err, customerconn.ErrGone):
		a.log.Info("customer database is gone; no key to revoke", "customer_id", step.GetCustomerId())
	case errors.Is(err, customerconn.ErrBadURL):
		return outcomeFailed, a.failStep(ctx, step, err.Error())
	case err != nil:
		return a.lifecycleRetry(ctx, step, err)
	default:
		err := customerdb.RevokeAPIKeys(ctx, db)
		db.Close(context.WithoutCancel(ctx)) //nolint:errcheck // nothing left to do on it
		if err != nil && !customerconn.Gone(err) {
			return a.lifecycleRetry(ctx, step, err)
		}
	}
	if _, err := a.bus.Publish(ctx, subjects.KeysRevoked, &pb.KeysRevoked{Step: step},
		stepEnvelope(subjects.KeysRevoked, step)); err != nil {
		return outcomeRetry, fmt.Errorf("publish %s: %w", subjects.KeysRevoked, err)
	}
	a.log.Info("api keys revoked", "saga_id", step.GetSagaId(), "customer_id", step.GetCustomerId())
	return outcomeDone, nil
}

// stepEnvelope identifies a lifecycle result: subject, saga, step name and
// attempt, as one lifecycle saga sends several commands to this service.
func stepEnvelope(subject string, step *pb.Step) bus.Envelope {
	return bus.Envelope{
		MsgID:      fmt.Sprintf("%s-%s-%s-%d", subject, step.GetSagaId(), step.GetName(), step.GetAttempt()),
		SagaID:     step.GetSagaId(),
		CustomerID: step.GetCustomerId(),
	}
}

// lifecycleRetry retries a lifecycle command that failed for now, or gives
// up with workspace.failed on the last delivery.
func (a *App) lifecycleRetry(ctx context.Context, step *pb.Step, err error) (string, error) {
	if lastDelivery(ctx) {
		return outcomeFailed, a.failStep(ctx, step, fmt.Sprintf("gave up after %d attempts: %v", MaxDeliver, err))
	}
	return outcomeRetry, err
}

// failStep is fail for a lifecycle command: workspace.failed whose message
// id names the step, then the permanent error.
func (a *App) failStep(ctx context.Context, step *pb.Step, reason string) error {
	if _, err := a.bus.Publish(ctx, subjects.WorkspaceFailed, &pb.StepFailed{Step: step, Reason: reason},
		stepEnvelope(subjects.WorkspaceFailed, step)); err != nil {
		return fmt.Errorf("publish %s (%s): %w", subjects.WorkspaceFailed, reason, err)
	}
	return bus.Permanent(errors.New(reason))
}
