package app

import (
	"context"
	"fmt"
	"strings"
	"time"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/names"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
	"clawdbot.cloud/services/saga/internal/domain"
)

// Router routes the coordinator's subjects to their handlers. A handler
// returns an error only when the database failed (retried with backoff) or
// the message breaks the contract (bus.Permanent: dead-lettered).
func (a *App) Router() *bus.Router {
	r := bus.NewRouter()
	bus.Handle(r, subjects.CustomerSignedUp, a.onSignedUp)
	bus.Handle(r, subjects.DatabaseCreated, func(ctx context.Context, m *pb.DatabaseCreated) error {
		ref := m.GetDatabaseRef()
		if ref == "" {
			ref = names.DatabaseRef(m.GetStep().GetCustomerId())
		}
		return a.succeeded(ctx, subjects.DatabaseCreated, domain.Database, m.GetStep(), domain.Result{DatabaseRef: ref})
	})
	bus.Handle(r, subjects.WorkspaceBuilt, func(ctx context.Context, m *pb.WorkspaceBuilt) error {
		return a.succeeded(ctx, subjects.WorkspaceBuilt, domain.Workspace, m.GetStep(), domain.Result{APIKeyRef: m.GetApiKeyRef()})
	})
	bus.Handle(r, subjects.ComputeProvisioned, func(ctx context.Context, m *pb.ComputeProvisioned) error {
		return a.succeeded(ctx, subjects.ComputeProvisioned, domain.Compute, m.GetStep(), domain.Result{InstanceURL: m.GetInstanceUrl()})
	})
	bus.Handle(r, subjects.ComputePrepared, func(ctx context.Context, m *pb.ComputePrepared) error {
		return a.succeeded(ctx, subjects.ComputePrepared, domain.Prepare, m.GetStep(), domain.Result{InstanceURL: m.GetInstanceUrl()})
	})
	bus.Handle(r, subjects.InstanceReady, func(ctx context.Context, m *pb.InstanceReady) error {
		return a.succeeded(ctx, subjects.InstanceReady, domain.Instance, m.GetStep(), domain.Result{})
	})
	for subject, step := range map[string]domain.StepName{
		subjects.DatabaseFailed:  domain.Database,
		subjects.WorkspaceFailed: domain.Workspace,
		subjects.ComputeFailed:   domain.Compute,
		subjects.InstanceFailed:  domain.Instance,
	} {
		bus.Handle(r, subject, func(ctx context.Context, m *pb.StepFailed) error {
			n := step
			if name, _ := domain.ParseWireName(m.GetStep().GetName()); name != "" {
				n = name
			}
			return a.failed(ctx, subject, n, m)
		})
	}
	bus.Handle(r, subjects.DatabaseDeleted, func(ctx context.Context, m *pb.DatabaseDeleted) error {
		return a.deletedOrDestroyed(ctx, subjects.DatabaseDeleted, domain.Database, m.GetStep())
	})
	bus.Handle(r, subjects.WorkspaceDeleted, func(ctx context.Context, m *pb.WorkspaceDeleted) error {
		return a.deletedOrDestroyed(ctx, subjects.WorkspaceDeleted, domain.Workspace, m.GetStep())
	})
	bus.Handle(r, subjects.ComputeDeleted, func(ctx context.Context, m *pb.ComputeDeleted) error {
		return a.deletedOrDestroyed(ctx, subjects.ComputeDeleted, domain.Compute, m.GetStep())
	})
	a.lifecycleResults(r)
	a.customerEvents(r)
	return r
}

func (a *App) onSignedUp(ctx context.Context, m *pb.CustomerSignedUp) error {
	if m.GetCheckoutSessionId() == "" || m.GetCustomerId() == "" {
		return bus.Permanent(fmt.Errorf("customer.signed_up %s: checkout_session_id and customer_id are required", m.GetStripeEventId()))
	}
	id := names.SignupSagaID(m.GetCheckoutSessionId())
	if m.GetSagaId() != "" && m.GetSagaId() != id {
		return bus.Permanent(fmt.Errorf("customer.signed_up %s: saga_id %q is not %q", m.GetStripeEventId(), m.GetSagaId(), id))
	}
	e, err := toEvent(subjects.CustomerSignedUp, m)
	if err != nil {
		return bus.Permanent(err)
	}
	return a.CustomerEvent(ctx, subjects.CustomerSignedUp, m, e)
}

// stepOf checks that a result names its saga and a step answering on its
// subject's domain (the signup step want, or a lifecycle step of the same
// service).
func stepOf(subject string, want domain.StepName, s *pb.Step) error {
	if s.GetSagaId() == "" {
		return bus.Permanent(fmt.Errorf("%s: no step.saga_id", subject))
	}
	n, _ := domain.ParseWireName(s.GetName())
	if n != "" && n != want && (!domain.Known(n) || !strings.HasPrefix(subject, domain.Domain(n)+".")) {
		return bus.Permanent(fmt.Errorf("%s: step.name %q, want %q", subject, s.GetName(), want))
	}
	return nil
}

func (a *App) succeeded(ctx context.Context, subject string, n domain.StepName, s *pb.Step, r domain.Result) error {
	if err := stepOf(subject, n, s); err != nil {
		return err
	}
	if name, _ := domain.ParseWireName(s.GetName()); name != "" {
		n = name
	}
	r.Step, r.Attempt = n, int(s.GetAttempt())
	return a.Apply(ctx, s.GetSagaId(), subject, func(sg *domain.Saga, now time.Time) domain.Outcome {
		return sg.Succeeded(r, now, a.Policy)
	})
}

func (a *App) failed(ctx context.Context, subject string, n domain.StepName, m *pb.StepFailed) error {
	if err := stepOf(subject, n, m.GetStep()); err != nil {
		return err
	}
	reason := m.GetReason()
	if reason == "" {
		reason = "no reason given"
	}
	return a.Apply(ctx, m.GetStep().GetSagaId(), subject, func(sg *domain.Saga, now time.Time) domain.Outcome {
		return sg.StepFailed(n, int(m.GetStep().GetAttempt()), reason, now, a.Policy)
	})
}

// deletedOrDestroyed applies a <domain>.deleted: the compensation of a
// signup step (no name, or the name of a signup step undone by this delete:
// compute.deleted undoes both compute and prepare), or the success of a
// lifecycle destroy_* step.
func (a *App) deletedOrDestroyed(ctx context.Context, subject string, signup domain.StepName, s *pb.Step) error {
	if err := stepOf(subject, signup, s); err != nil {
		return err
	}
	n := domain.StepName(s.GetName())
	if n == "" {
		n = signup
	}
	if n == signup || (domain.Compensable(n) && domain.CommandOf(n, true) == domain.CommandOf(signup, true)) {
		return a.Apply(ctx, s.GetSagaId(), subject, func(sg *domain.Saga, now time.Time) domain.Outcome {
			return sg.Compensated(n, int(s.GetAttempt()), now, a.Policy)
		})
	}
	return a.succeeded(ctx, subject, n, s, domain.Result{})
}
