package process

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// probeClient asks runtimes for /health without keeping connections open.
var probeClient = &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// probe polls the child's /health until it answers (any HTTP status means it
// serves; readiness of its database is the health service's concern).
func (s *supervisor) probe(ctx context.Context, c *child) {
	url := instanceURL(c.port) + "/health"
	// A runtime answers within about 100 ms of its start on an idle
	// machine: polled every 2 ms at first (a refused connection costs
	// microseconds), backing off to every 50 ms, a signup waits at most a
	// few milliseconds past that instead of up to 50.
	wait := 2 * time.Millisecond
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := probeClient.Do(req); err == nil {
			resp.Body.Close()
			s.update(func() {
				if s.gen == c.gen && s.phase == starting {
					s.phase = running
				}
			})
			s.log.Info("runtime answers", "pid", c.pid, "url", instanceURL(c.port), "health_status", resp.StatusCode)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-c.exited:
			return
		case <-t.C:
			wait = min(wait*5/4, 50*time.Millisecond)
			t.Reset(wait)
		}
	}
}

// waitReady waits until a child of generation minGen or later answers. It
// gives up once StartFailures children have failed since the call began, or
// when supervision ends.
func (s *supervisor) waitReady(ctx context.Context, minGen int) error {
	s.mu.Lock()
	base := s.failedStarts
	s.mu.Unlock()
	for {
		s.mu.Lock()
		ph, gen, failed, last, changed := s.phase, s.gen, s.failedStarts-base, s.lastFailure, s.changed
		s.mu.Unlock()
		switch {
		case ph == running && gen >= minGen:
			return nil
		case ph == stopped:
			return errors.New("instance was stopped")
		case failed >= s.d.o.StartFailures:
			return fmt.Errorf("%d failed starts, last: %s", failed, last)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			if last != "" {
				return fmt.Errorf("runtime not answering (last failure: %s): %w", last, ctx.Err())
			}
			return fmt.Errorf("runtime not answering: %w", ctx.Err())
		}
	}
}
