package app

import (
	"context"
	"time"

	"clawdbot.cloud/pkg/bus"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
	"clawdbot.cloud/services/saga/internal/domain"
)

// lifecycleResults routes the answers to the lifecycle commands. Each
// echoes the command's Step; its name selects the saga's step.
func (a *App) lifecycleResults(r *bus.Router) {
	bus.Handle(r, subjects.ComputeResized, func(ctx context.Context, m *pb.ComputeResized) error {
		return a.answered(ctx, subjects.ComputeResized, domain.Resize, m.GetStep())
	})
	bus.Handle(r, subjects.SkillsRendered, func(ctx context.Context, m *pb.SkillsRendered) error {
		return a.answered(ctx, subjects.SkillsRendered, domain.Skills, m.GetStep())
	})
	bus.Handle(r, subjects.ComputeStopped, func(ctx context.Context, m *pb.ComputeStopped) error {
		return a.succeeded(ctx, subjects.ComputeStopped, domain.Stop, m.GetStep(), domain.Result{})
	})
	bus.Handle(r, subjects.ComputeStarted, func(ctx context.Context, m *pb.ComputeStarted) error {
		return a.succeeded(ctx, subjects.ComputeStarted, domain.StartCompute, m.GetStep(), domain.Result{InstanceURL: m.GetInstanceUrl()})
	})
	bus.Handle(r, subjects.KeysRevoked, func(ctx context.Context, m *pb.KeysRevoked) error {
		return a.succeeded(ctx, subjects.KeysRevoked, domain.Revoke, m.GetStep(), domain.Result{})
	})
	bus.Handle(r, subjects.DatabaseArchived, func(ctx context.Context, m *pb.DatabaseArchived) error {
		return a.succeeded(ctx, subjects.DatabaseArchived, domain.Archive, m.GetStep(), domain.Result{ArchiveRef: m.GetArchiveRef()})
	})
	bus.Handle(r, subjects.DatabaseRestored, func(ctx context.Context, m *pb.DatabaseRestored) error {
		return a.succeeded(ctx, subjects.DatabaseRestored, domain.Restore, m.GetStep(), domain.Result{DatabaseRef: m.GetDatabaseRef()})
	})
	bus.Handle(r, subjects.ArchiveDeleted, func(ctx context.Context, m *pb.ArchiveDeleted) error {
		return a.succeeded(ctx, subjects.ArchiveDeleted, domain.DestroyArchive, m.GetStep(), domain.Result{})
	})
}

// answered applies the answer of a step whose compensation answers on the
// same subject (resize, skills): the echoed step name ("resize" or
// "resize_undo") says which one it answers.
func (a *App) answered(ctx context.Context, subject string, n domain.StepName, s *pb.Step) error {
	if err := stepOf(subject, n, s); err != nil {
		return err
	}
	name, undo := domain.ParseWireName(s.GetName())
	if !undo {
		return a.succeeded(ctx, subject, n, s, domain.Result{})
	}
	return a.Apply(ctx, s.GetSagaId(), subject, func(sg *domain.Saga, now time.Time) domain.Outcome {
		return sg.Compensated(name, int(s.GetAttempt()), now, a.Policy)
	})
}
