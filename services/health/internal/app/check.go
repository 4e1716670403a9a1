package app

import (
	"context"
	"fmt"
	"time"

	"clawdbot.cloud/pkg/bus"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/services/health/internal/probe"
)

// check polls the new instance's health endpoint until it answers 200;
// instance.ready answers. The instance has the check timeout to do so,
// counted from the check's start or, while it answers 503
// {"status":"starting"} (the openclaw engine: its front door serves, its
// gateway is starting), from its last such answer, up to the start
// timeout in all: so an openclaw instance gets minutes to start while a
// runtime-engine instance that does not answer (it never says "starting")
// is given up on as soon as before. If the deadline passes first the step
// fails for good with the last probe's outcome; so does an instance URL
// that cannot be probed. A check interrupted by shutdown is redelivered and
// starts over.
func (a *App) check(ctx context.Context, cmd *pb.CheckInstance) (*pb.InstanceReady, error) {
	healthURL, err := probe.HealthURL(cmd.GetInstanceUrl())
	if err != nil {
		return nil, bus.Permanent(fmt.Errorf("%v: %s", err, probe.Redact(cmd.GetInstanceUrl())))
	}
	step := cmd.GetStep()
	log := a.log.With("saga_id", step.GetSagaId(), "customer_id", step.GetCustomerId(), "instance_url", cmd.GetInstanceUrl())

	start := time.Now()
	res, probes, starting := a.poll(ctx, healthURL)
	switch {
	case res.Healthy:
		wait := time.Since(start)
		a.m.ready(wait)
		log.Info("instance ready", "wait", wait, "probes", probes, "latency", res.Latency, "engine_started", starting)
		return &pb.InstanceReady{Step: step, InstanceUrl: cmd.GetInstanceUrl(), LatencyMs: res.Latency.Milliseconds()}, nil
	case ctx.Err() != nil:
		// Shutting down, not a verdict on the instance: check again later.
		return nil, fmt.Errorf("check of %s interrupted: %w", cmd.GetInstanceUrl(), ctx.Err())
	}
	waited := time.Since(start).Round(time.Millisecond)
	log.Warn("instance not healthy in time", "probes", probes, "last", res.String(), "waited", waited, "engine_starting", starting)
	budget := fmt.Sprintf("within %s", a.timeout)
	if starting {
		budget = fmt.Sprintf("in %s (its engine was starting: up to %s, and %s after its last sign of life)", waited, a.start, a.timeout)
	}
	return nil, bus.Permanent(fmt.Errorf("instance %s did not answer 200 on /%s %s (%d probes); last probe: %s",
		cmd.GetInstanceUrl(), probe.Path, budget, probes, res))
}

// poll probes healthURL until it answers 200 or the check's deadline (or
// ctx) ends: the check timeout after the start or after the last
// "starting" answer, never past the start timeout. It returns the healthy
// result, or the most telling failure: the last probe that was not merely
// cut short by the deadline; and whether the instance ever said it was
// starting.
func (a *App) poll(ctx context.Context, healthURL string) (last probe.Result, probes int, starting bool) {
	ctx, cancel := context.WithTimeout(ctx, a.start)
	defer cancel()
	deadline := time.Now().Add(a.timeout)
	wait := a.minWait
	for {
		pctx, pcancel := context.WithDeadline(ctx, deadline)
		res := a.prober.Probe(pctx, healthURL)
		cut := pctx.Err() != nil
		pcancel()
		probes++
		a.m.probe(res)
		if res.Healthy {
			return res, probes, starting
		}
		if cut {
			if probes == 1 {
				last = res
			}
			return last, probes, starting
		}
		last = res
		if res.Starting {
			starting = true
			deadline = time.Now().Add(a.timeout)
		}
		// A few probes fit in every window, so a starting instance's
		// answer renews the deadline before it passes.
		t := time.NewTimer(min(wait, a.timeout/4, time.Until(deadline)))
		select {
		case <-ctx.Done():
			t.Stop()
			return last, probes, starting
		case <-t.C:
		}
		if !time.Now().Before(deadline) {
			return last, probes, starting
		}
		wait = min(2*wait, a.maxWait)
	}
}
