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
// instance.ready answers. If the check's deadline passes first the step
// fails for good with the last probe's outcome; so does an instance URL that
// cannot be probed. A check interrupted by shutdown is redelivered and
// starts over.
func (a *App) check(ctx context.Context, cmd *pb.CheckInstance) (*pb.InstanceReady, error) {
	healthURL, err := probe.HealthURL(cmd.GetInstanceUrl())
	if err != nil {
		return nil, bus.Permanent(fmt.Errorf("%v: %s", err, probe.Redact(cmd.GetInstanceUrl())))
	}
	step := cmd.GetStep()
	log := a.log.With("saga_id", step.GetSagaId(), "customer_id", step.GetCustomerId(), "instance_url", cmd.GetInstanceUrl())

	start := time.Now()
	res, probes := a.poll(ctx, healthURL)
	switch {
	case res.Healthy:
		wait := time.Since(start)
		a.m.ready(wait)
		log.Info("instance ready", "wait", wait, "probes", probes, "latency", res.Latency)
		return &pb.InstanceReady{Step: step, InstanceUrl: cmd.GetInstanceUrl(), LatencyMs: res.Latency.Milliseconds()}, nil
	case ctx.Err() != nil:
		// Shutting down, not a verdict on the instance: check again later.
		return nil, fmt.Errorf("check of %s interrupted: %w", cmd.GetInstanceUrl(), ctx.Err())
	}
	log.Warn("instance not healthy in time", "probes", probes, "last", res.String())
	return nil, bus.Permanent(fmt.Errorf("instance %s did not answer 200 on /%s within %s (%d probes); last probe: %s",
		cmd.GetInstanceUrl(), probe.Path, a.timeout, probes, res))
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
