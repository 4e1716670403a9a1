package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/pkg/secrets"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
)

// provision handles cmd.compute.provision: it runs the customer's runtime and
// publishes compute.provisioned, or compute.failed when it never can.
func (a *App) provision(ctx context.Context, cmd *pb.ProvisionCompute) (err error) {
	start := time.Now()
	defer func() { a.observe("provision", start, err) }()
	step := cmd.GetStep()
	if err := checkStep(step); err != nil {
		return bus.Permanent(fmt.Errorf("provision compute: %w", err))
	}
	log := a.log.With("saga_id", step.GetSagaId(), "customer_id", step.GetCustomerId())

	plan, err := plans.Lookup(cmd.GetPlan())
	if err != nil {
		return a.fail(ctx, "provision", step, fmt.Errorf("provision compute: %w", err))
	}
	if cmd.GetDatabaseRef() == "" {
		return a.fail(ctx, "provision", step, errors.New("provision compute: database_ref is empty"))
	}
	if gone, err := a.sagaDeleted(ctx, step.GetSagaId()); err != nil {
		return err
	} else if gone {
		log.Info("provision of a saga whose compute was deleted: ignored")
		return nil
	}
	inst, err := a.drv.Provision(ctx, ProvisionRequest{
		CustomerID:  step.GetCustomerId(),
		Plan:        plan,
		DatabaseRef: cmd.GetDatabaseRef(),
	})
	if err != nil {
		err = fmt.Errorf("provision compute: %w", err)
		if !permanent(err) && !a.lastAttempt(ctx) {
			return retry(err)
		}
		// The saga compensates only steps that succeeded, so a half-started
		// instance would stay behind: remove it before reporting the failure.
		// A working instance is never removed here, because Provision returns
		// a running instance as is and cannot fail for it.
		if derr := a.drv.Delete(ctx, step.GetCustomerId()); derr != nil {
			log.Warn("cleanup after failed provisioning", "err", derr)
		}
		return a.fail(ctx, "provision", step, err)
	}
	// The saga's delete may have run while this provision was in flight:
	// then what was just started must go again.
	if gone, err := a.sagaDeleted(ctx, step.GetSagaId()); err != nil {
		return err
	} else if gone {
		log.Info("compute deleted while provisioning: removing the new runtime")
		return a.drv.Delete(ctx, step.GetCustomerId())
	}
	_, err = a.bus.Publish(ctx, subjects.ComputeProvisioned, &pb.ComputeProvisioned{
		Step:        step,
		ServiceId:   inst.ServiceID,
		InstanceUrl: inst.URL,
	}, envelope(subjects.ComputeProvisioned, step))
	if err != nil {
		return err
	}
	log.Info("compute provisioned", "service_id", inst.ServiceID, "instance_url", inst.URL)
	return nil
}

// permanent reports whether retrying the command that produced err is useless.
func permanent(err error) bool {
	return errors.Is(err, ErrRejected) || errors.Is(err, ErrDeployFailed) ||
		errors.Is(err, secrets.ErrNotFound) || errors.Is(err, plans.ErrUnknownPlan)
}

// delayed is an error that knows when trying again makes sense (a provider's
// rate limit).
type delayed interface{ Delay() time.Duration }

// retry returns a retryable err, with the delay it asks for if any.
func retry(err error) error {
	var d delayed
	if errors.As(err, &d) && d.Delay() > 0 {
		return bus.RetryAfter(err, d.Delay())
	}
	return err
}

// checkStep rejects a command the service cannot act on or answer.
func checkStep(step *pb.Step) error {
	switch {
	case step == nil:
		return errors.New("command has no step")
	case step.GetSagaId() == "":
		return errors.New("step has no saga_id")
	case step.GetCustomerId() == "":
		return errors.New("step has no customer_id")
	}
	return nil
}

// fail publishes compute.failed for step (so the saga can compensate) and
// returns cause as a permanent error. If the event cannot be published the
// command is retried instead, so the failure is never lost.
func (a *App) fail(ctx context.Context, op string, step *pb.Step, cause error) error {
	env := envelope(subjects.ComputeFailed, step)
	env.MsgID = fmt.Sprintf("%s-%s-%s-%d", subjects.ComputeFailed, op, step.GetSagaId(), step.GetAttempt())
	if _, err := a.bus.Publish(ctx, subjects.ComputeFailed, &pb.StepFailed{Step: step, Reason: cause.Error()}, env); err != nil {
		return fmt.Errorf("%w (and reporting it failed: %v)", cause, err)
	}
	return bus.Permanent(cause)
}

// envelope is the deterministic identity of the result of step on subject:
// a redelivered command republishes the same message id.
func envelope(subject string, step *pb.Step) bus.Envelope {
	return bus.Envelope{
		MsgID:      fmt.Sprintf("%s-%s-%d", subject, step.GetSagaId(), step.GetAttempt()),
		SagaID:     step.GetSagaId(),
		CustomerID: step.GetCustomerId(),
	}
}
