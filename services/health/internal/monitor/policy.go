// Package monitor probes every live instance on a schedule and turns the
// probe results into health states with hysteresis: healthy → degraded at
// the first failure, → down after DownAfter failures in a row (publishing
// instance.unhealthy once per incident), and back to healthy only after
// RecoverAfter successes in a row (publishing instance.recovered). After
// every RestartAfter failures in a row it asks compute for a restart
// (cmd.compute.restart), at most MaxRestarts times per incident. It also
// reads each healthy instance's /status and publishes the 80% and 100% quota
// notices, once each per customer and month.
//
// The schedule is outside the package: Run cycles on every tick of a
// channel, and tests call Cycle directly with a controllable clock.
package monitor

import (
	"fmt"
	"time"

	"clawdbot.cloud/services/health/internal/probe"
	"clawdbot.cloud/services/health/internal/store"
)

// Policy is the hysteresis and restart policy.
type Policy struct {
	// DownAfter failures in a row make an instance down. Default 3.
	DownAfter int
	// RecoverAfter successes in a row make a degraded or down instance
	// healthy again. Default 2.
	RecoverAfter int
	// RestartAfter failures in a row ask for a restart (and every
	// RestartAfter failures after that). Default 3.
	RestartAfter int
	// MaxRestarts bounds the restarts asked for in one incident. Default 3.
	MaxRestarts int
	// StartingGrace is how long an instance whose front door answers
	// 503 {"status":"starting"} (an OpenClaw gateway starting or being
	// restarted by its supervisor, ~9 s) is only degraded: its answers are
	// not failures, so they neither make it down nor ask for a restart,
	// which would start the gateway over again. Counted from the
	// incident's start; past it, starting is a failure like any other.
	// Zero: starting is a failure at once. The service sets
	// HEALTH_START_TIMEOUT (5 m), the bound it gives a new instance.
	StartingGrace time.Duration
}

func (p *Policy) defaults() {
	if p.DownAfter < 1 {
		p.DownAfter = 3
	}
	if p.RecoverAfter < 1 {
		p.RecoverAfter = 2
	}
	if p.RestartAfter < 1 {
		p.RestartAfter = 3
	}
	if p.MaxRestarts < 1 {
		p.MaxRestarts = 3
	}
}

// Effects are what a probe result asks the monitor to announce.
type Effects struct {
	// WentDown: publish instance.unhealthy for the incident.
	WentDown bool
	// Recovered: publish instance.recovered; DownFor is the outage.
	Recovered bool
	DownFor   time.Duration
	// Restart > 0: ask for restart number Restart of the incident.
	Restart int
	// Incident is the incident the effects belong to.
	Incident string
}

// Apply folds one probe result into h.
func (p Policy) Apply(customer string, h store.Health, r probe.Result, now time.Time) (store.Health, Effects) {
	if h.State == "" {
		h.State = store.Healthy
	}
	var e Effects
	if !r.Healthy {
		if h.State == store.Healthy {
			h.State = store.Degraded
			h.Since = now.UTC()
			h.IncidentID = IncidentID(customer, h.Since)
			h.Restarts = 0
		}
		h.Successes = 0
		h.LastError = r.String()
		if r.Starting && now.Sub(h.Since) < p.StartingGrace {
			// Its engine is on its way up: wait, as the readiness check does.
			return h, e
		}
		h.Failures++
		e.Incident = h.IncidentID
		if h.Failures >= p.DownAfter && h.State != store.Down {
			h.State = store.Down
			e.WentDown = true
		}
		if h.Failures%p.RestartAfter == 0 && h.Restarts < p.MaxRestarts {
			h.Restarts++
			e.Restart = h.Restarts
		}
		return h, e
	}
	h.Failures = 0
	if h.State == store.Healthy {
		h.Successes = 0
		return h, e
	}
	h.Successes++
	if h.Successes < p.RecoverAfter {
		return h, e
	}
	if h.State == store.Down {
		e.Recovered = true
		e.Incident = h.IncidentID
		e.DownFor = now.Sub(h.Since)
	}
	return store.Health{State: store.Healthy}, e
}

// IncidentID names a problem deterministically from its customer and start,
// so a redone cycle republishes with the same message ids.
func IncidentID(customer string, since time.Time) string {
	return fmt.Sprintf("%s-%s", customer, since.UTC().Format("20060102T150405.000Z"))
}
