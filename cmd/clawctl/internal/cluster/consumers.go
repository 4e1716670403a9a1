package cluster

import (
	"context"
	"fmt"
	"time"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/busauth"
	"clawdbot.cloud/proto/subjects"
)

// awaitConsumerLeaders waits until every service's durable consumer
// (pkg/busauth's table) exists on the event stream with an elected leader.
// The services create their consumers as they start, and a replicated
// consumer elects its leader a moment later: a command published in that
// moment can be delivered by the old leader to a pull that the new one no
// longer serves, and waits out the ack deadline (30 s) for redelivery. The
// first signup after start met exactly that before this wait.
func (c *Cluster) awaitConsumerLeaders(ctx context.Context, timeout time.Duration) error {
	var want []string
	for _, name := range busauth.Platform() {
		p, _ := busauth.Lookup(name)
		for _, d := range p.Consumers {
			want = append(want, d.Durable)
		}
	}
	b, err := bus.Connect(ctx, c.NATSURLs, "clawctl", c.log, nil, c.BusOptions(busauth.Operator)...)
	if err != nil {
		return err
	}
	defer b.Close()
	deadline := time.Now().Add(timeout)
	for _, d := range want {
		for {
			info, err := b.JetStream().Consumer(ctx, subjects.Stream, d)
			if err == nil {
				ci := info.CachedInfo()
				if ci.Cluster != nil && ci.Cluster.Leader != "" {
					break
				}
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("consumer %s has no leader after %v: %v", d, timeout, err)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}
