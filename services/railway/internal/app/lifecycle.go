package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/plans"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
)

// resize handles cmd.compute.resize: the customer's instance takes the
// plan's compute size and quota; compute.resized answers.
func (a *App) resize(ctx context.Context, cmd *pb.ResizeCompute) (err error) {
	start := time.Now()
	defer func() { a.observe("resize", start, err) }()
	step := cmd.GetStep()
	if err := checkStep(step); err != nil {
		return bus.Permanent(fmt.Errorf("resize compute: %w", err))
	}
	plan, err := plans.Lookup(cmd.GetPlan())
	if err != nil {
		return a.failStep(ctx, step, fmt.Errorf("resize compute: %w", err))
	}
	if err := a.drv.Resize(ctx, step.GetCustomerId(), plan); err != nil {
		return a.settle(ctx, step, fmt.Errorf("resize compute: %w", err))
	}
	return a.answer(ctx, subjects.ComputeResized, step, &pb.ComputeResized{Step: step, Plan: plan.ID},
		"compute resized", "plan", plan.ID)
}

// stop handles cmd.compute.stop: the runtime stops, the instance stays for
// a later start, and callers are told why; compute.stopped answers.
func (a *App) stop(ctx context.Context, cmd *pb.StopCompute) (err error) {
	start := time.Now()
	defer func() { a.observe("stop", start, err) }()
	step := cmd.GetStep()
	if err := checkStep(step); err != nil {
		return bus.Permanent(fmt.Errorf("stop compute: %w", err))
	}
	reason := cmd.GetReason()
	if reason == "" {
		reason = StopSuspended
	}
	if reason != StopSuspended && reason != StopCanceled {
		return a.failStep(ctx, step, fmt.Errorf("stop compute: %w: reason %q is not %s or %s",
			ErrRejected, reason, StopSuspended, StopCanceled))
	}
	if err := a.drv.Stop(ctx, step.GetCustomerId(), reason); err != nil {
		return a.settle(ctx, step, fmt.Errorf("stop compute: %w", err))
	}
	return a.answer(ctx, subjects.ComputeStopped, step, &pb.ComputeStopped{Step: step},
		"compute stopped", "reason", reason)
}

// start handles cmd.compute.start: a stopped runtime runs again at the same
// address; compute.started answers with it.
func (a *App) start(ctx context.Context, cmd *pb.StartCompute) (err error) {
	begin := time.Now()
	defer func() { a.observe("start", begin, err) }()
	step := cmd.GetStep()
	if err := checkStep(step); err != nil {
		return bus.Permanent(fmt.Errorf("start compute: %w", err))
	}
	req := ProvisionRequest{CustomerID: step.GetCustomerId(), DatabaseRef: cmd.GetDatabaseRef()}
	if cmd.GetPlan() != "" {
		if req.Plan, err = plans.Lookup(cmd.GetPlan()); err != nil {
			return a.failStep(ctx, step, fmt.Errorf("start compute: %w", err))
		}
	}
	inst, err := a.drv.Resume(ctx, req)
	if err != nil {
		return a.settle(ctx, step, fmt.Errorf("start compute: %w", err))
	}
	return a.answer(ctx, subjects.ComputeStarted, step, &pb.ComputeStarted{Step: step, InstanceUrl: inst.URL},
		"compute started", "instance_url", inst.URL)
}

// answer publishes a lifecycle command's result.
func (a *App) answer(ctx context.Context, subject string, step *pb.Step, msg proto.Message, what string, attrs ...any) error {
	if _, err := a.bus.Publish(ctx, subject, msg, stepEnvelope(subject, step)); err != nil {
		return err
	}
	a.log.Info(what, append([]any{"saga_id", step.GetSagaId(), "customer_id", step.GetCustomerId()}, attrs...)...)
	return nil
}

// settle classifies a lifecycle driver error: one that can never succeed
// (rejected, no instance, unknown plan or secret) or on the last delivery
// fails the step; anything else is retried.
func (a *App) settle(ctx context.Context, step *pb.Step, err error) error {
	if permanent(err) || errors.Is(err, ErrNotFound) || a.lastAttempt(ctx) {
		return a.failStep(ctx, step, err)
	}
	return retry(err)
}

// failStep publishes compute.failed for a lifecycle step, identified by
// saga, step name and attempt, and returns cause as a permanent error (or a
// retryable one if the event could not be published).
func (a *App) failStep(ctx context.Context, step *pb.Step, cause error) error {
	env := stepEnvelope(subjects.ComputeFailed, step)
	if _, err := a.bus.Publish(ctx, subjects.ComputeFailed, &pb.StepFailed{Step: step, Reason: cause.Error()}, env); err != nil {
		return fmt.Errorf("%w (and reporting it failed: %v)", cause, err)
	}
	return bus.Permanent(cause)
}

// stepEnvelope is the identity of a lifecycle result: subject, saga, step
// name and attempt (a lifecycle saga may send several compute commands).
func stepEnvelope(subject string, step *pb.Step) bus.Envelope {
	return bus.Envelope{
		MsgID:      fmt.Sprintf("%s-%s-%s-%d", subject, step.GetSagaId(), step.GetName(), step.GetAttempt()),
		SagaID:     step.GetSagaId(),
		CustomerID: step.GetCustomerId(),
	}
}
