package process

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"clawdbot.cloud/services/railway/internal/app"
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

// waitHealthy waits, at most within, until the runtime s runs
// answers /health with 200: on the openclaw engine, until its gateway is
// up. A runtime still starting then is an error wrapping
// app.ErrDeployFailed that says what /health last answered.
func (d *Driver) waitHealthy(parent context.Context, s *supervisor, engine string, within time.Duration) error {
	ctx, cancel := context.WithTimeout(parent, within)
	defer cancel()
	url := s.status().URL + "/health"
	last := "no answer"
	wait := 50 * time.Millisecond
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := probeClient.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(body)))
		} else if ctx.Err() == nil {
			last = "no answer"
		}
		select {
		case <-ctx.Done():
			if parent.Err() != nil {
				return fmt.Errorf("wait for the %s engine of %s: %w", engine, s.in.CustomerID, parent.Err())
			}
			return fmt.Errorf("%w: the %s engine of %s is not healthy within %s (/health: %s)",
				app.ErrDeployFailed, engine, s.in.CustomerID, within, last)
		case <-time.After(wait):
			wait = min(2*wait, time.Second)
		}
	}
}
