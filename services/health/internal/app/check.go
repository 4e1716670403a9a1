package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"clawdbot.cloud/pkg/bus"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
	"clawdbot.cloud/services/health/internal/probe"
)

// Check polls the new instance's health endpoint until it answers 200, then
// publishes instance.ready. If the check's deadline passes first it
// publishes instance.failed with the last probe's outcome and fails for
// good; so does an instance URL that cannot be probed. A check interrupted
// by shutdown is redelivered and starts over.
func (a *App) Check(ctx context.Context, cmd *pb.CheckInstance) error {
	result, err := a.check(ctx, cmd)
	a.m.checks.WithLabelValues(result).Inc()
	return err
}

func (a *App) check(ctx context.Context, cmd *pb.CheckInstance) (string, error) {
	step := cmd.GetStep()
	if step.GetSagaId() == "" || step.GetCustomerId() == "" {
		// Nobody waits for an answer without a saga id: dead-letter it.
		return checkInvalid, bus.Permanent(errors.New("command without saga_id or customer_id in its step"))
	}
	healthURL, err := probe.HealthURL(cmd.GetInstanceUrl())
	if err != nil {
		return checkInvalid, a.fail(ctx, step, fmt.Sprintf("%v: %s", err, probe.Redact(cmd.GetInstanceUrl())))
	}
	log := a.log.With("saga_id", step.GetSagaId(), "customer_id", step.GetCustomerId(), "instance_url", cmd.GetInstanceUrl())

	start := time.Now()
	res, probes := a.poll(ctx, healthURL)
	switch {
	case res.Healthy:
		wait := time.Since(start)
		_, err := a.bus.Publish(ctx, subjects.InstanceReady, &pb.InstanceReady{
			Step:        step,
			InstanceUrl: cmd.GetInstanceUrl(),
			LatencyMs:   res.Latency.Milliseconds(),
		}, envelope(subjects.InstanceReady, step))
		if err != nil {
			return checkRetry, fmt.Errorf("publish %s: %w", subjects.InstanceReady, err)
		}
		a.m.ready(wait)
		log.Info("instance ready", "wait", wait, "probes", probes, "latency", res.Latency)
		return checkReady, nil
	case ctx.Err() != nil:
		// Shutting down, not a verdict on the instance: check again later.
		return checkRetry, fmt.Errorf("check of %s interrupted: %w", cmd.GetInstanceUrl(), ctx.Err())
	}
	reason := fmt.Sprintf("instance %s did not answer 200 on /%s within %s (%d probes); last probe: %s",
		cmd.GetInstanceUrl(), probe.Path, a.timeout, probes, res)
	log.Warn("instance not healthy in time", "probes", probes, "last", res.String())
	return checkFailed, a.fail(ctx, step, reason)
}

// poll probes healthURL until it answers 200 or the check's deadline (or
// ctx) ends. It returns the healthy result, or the most telling failure:
// the last probe that was not merely cut short by the deadline.
func (a *App) poll(ctx context.Context, healthURL string) (last probe.Result, probes int) {
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	wait := a.minWait
	for {
		res := a.prober.Probe(ctx, healthURL)
		probes++
		a.m.probe(res)
		if res.Healthy {
			return res, probes
		}
		if ctx.Err() != nil {
			if probes == 1 {
				last = res
			}
			return last, probes
		}
		last = res
		select {
		case <-ctx.Done():
			return last, probes
		case <-time.After(wait):
		}
		wait = min(2*wait, a.maxWait)
	}
}

// fail publishes instance.failed, so the saga compensates, and returns the
// permanent error that dead-letters the command. If the event cannot be
// published the command is retried instead, so the saga is not left waiting.
func (a *App) fail(ctx context.Context, step *pb.Step, reason string) error {
	_, err := a.bus.Publish(ctx, subjects.InstanceFailed, &pb.StepFailed{Step: step, Reason: reason},
		envelope(subjects.InstanceFailed, step))
	if err != nil {
		return fmt.Errorf("publish %s (%s): %w", subjects.InstanceFailed, reason, err)
	}
	return bus.Permanent(errors.New(reason))
}

// envelope identifies a result deterministically: the same command attempt
// always yields the same message id.
func envelope(subject string, step *pb.Step) bus.Envelope {
	return bus.Envelope{
		MsgID:      fmt.Sprintf("%s-%s-%d", subject, step.GetSagaId(), step.GetAttempt()),
		SagaID:     step.GetSagaId(),
		CustomerID: step.GetCustomerId(),
	}
}
