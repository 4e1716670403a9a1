package monitor

import (
	"errors"
	"testing"
	"time"

	"clawdbot.cloud/services/health/internal/probe"
	"clawdbot.cloud/services/health/internal/store"
)

var (
	ok     = probe.Result{Healthy: true, Status: 200}
	fail   = probe.Result{Status: 503}
	errRes = probe.Result{Err: errors.New("connection refused")}
)

// Hysteresis: one bad probe degrades, DownAfter in a row make down, one good
// probe is not enough to recover, RecoverAfter in a row are.
func TestPolicyHysteresis(t *testing.T) {
	p := Policy{DownAfter: 3, RecoverAfter: 2, RestartAfter: 3, MaxRestarts: 2}
	p.defaults()
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	steps := []struct {
		r         probe.Result
		state     string
		down, rec bool
		restart   int
	}{
		{ok, store.Healthy, false, false, 0},
		{fail, store.Degraded, false, false, 0},
		{ok, store.Degraded, false, false, 0}, // one good probe: still degraded
		{ok, store.Healthy, false, false, 0},  // a blip, never down: no events
		{fail, store.Degraded, false, false, 0},
		{errRes, store.Degraded, false, false, 0},
		{fail, store.Down, true, false, 1}, // third in a row: down and restart 1
		{fail, store.Down, false, false, 0},
		{ok, store.Down, false, false, 0}, // one good probe does not recover
		{fail, store.Down, false, false, 0},
		{fail, store.Down, false, false, 0},
		{fail, store.Down, false, false, 2}, // three more in a row: restart 2
		{fail, store.Down, false, false, 0},
		{fail, store.Down, false, false, 0},
		{fail, store.Down, false, false, 0}, // MaxRestarts reached: no restart 3
		{ok, store.Down, false, false, 0},
		{ok, store.Healthy, false, true, 0},
		{ok, store.Healthy, false, false, 0},
	}
	var h store.Health
	var incident string
	for i, s := range steps {
		now := t0.Add(time.Duration(i) * 30 * time.Second)
		var e Effects
		h, e = p.Apply("cus_a", h, s.r, now)
		if h.State != s.state || e.WentDown != s.down || e.Recovered != s.rec || e.Restart != s.restart {
			t.Fatalf("step %d (%v): state %s down %v recovered %v restart %d; want %s %v %v %d",
				i, s.r, h.State, e.WentDown, e.Recovered, e.Restart, s.state, s.down, s.rec, s.restart)
		}
		if e.WentDown {
			incident = e.Incident
		}
		if e.Recovered {
			if e.Incident != incident {
				t.Errorf("recovered incident %q, went down as %q", e.Incident, incident)
			}
			// The problem began at the first failure of step 4.
			if want := time.Duration(i-4) * 30 * time.Second; e.DownFor != want {
				t.Errorf("down for %v, want %v", e.DownFor, want)
			}
		}
	}
	if incident != IncidentID("cus_a", t0.Add(4*30*time.Second)) {
		t.Errorf("incident = %q", incident)
	}
	if h.IncidentID != "" || h.Restarts != 0 || h.Failures != 0 {
		t.Errorf("healthy again but kept %+v", h)
	}
}

// RestartAfter below DownAfter asks for a restart while still degraded.
func TestPolicyRestartBeforeDown(t *testing.T) {
	p := Policy{DownAfter: 5, RecoverAfter: 1, RestartAfter: 2, MaxRestarts: 5}
	var h store.Health
	var restarts []int
	for i := range 6 {
		var e Effects
		h, e = p.Apply("cus_b", h, fail, time.Unix(int64(i), 0))
		if e.Restart > 0 {
			restarts = append(restarts, i+1)
		}
	}
	if len(restarts) != 3 || restarts[0] != 2 || restarts[1] != 4 || restarts[2] != 6 {
		t.Errorf("restarts after failures %v, want [2 4 6]", restarts)
	}
}

// An engine starting (503 {"status":"starting"}) only degrades the instance
// for StartingGrace from the incident's start: no down, no restart (which
// would start the gateway over again); it recovers without events. Past the
// grace, starting counts as failing.
func TestPolicyStartingGrace(t *testing.T) {
	p := Policy{DownAfter: 3, RecoverAfter: 2, RestartAfter: 3, MaxRestarts: 3, StartingGrace: 2 * time.Minute}
	p.defaults()
	starting := probe.Result{Status: 503, Starting: true}
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	steps := []struct {
		r        probe.Result
		state    string
		down     bool
		restart  int
		failures int
	}{
		{starting, store.Degraded, false, 0, 0}, // 0:00 the incident starts
		{starting, store.Degraded, false, 0, 0},
		{starting, store.Degraded, false, 0, 0},
		{starting, store.Degraded, false, 0, 0}, // 1:30: still within the grace
		{ok, store.Degraded, false, 0, 0},
		{ok, store.Healthy, false, 0, 0},        // up: never down, no events
		{starting, store.Degraded, false, 0, 0}, // 3:00 a new incident
		{fail, store.Degraded, false, 0, 1},     // a real failure counts
		{starting, store.Degraded, false, 0, 1}, // 4:00 within this incident's grace
		{starting, store.Degraded, false, 0, 1}, // 4:30
		{starting, store.Degraded, false, 0, 2}, // 5:00 the grace is over: failing
		{starting, store.Down, true, 1, 3},
	}
	var h store.Health
	for i, s := range steps {
		now := t0.Add(time.Duration(i) * 30 * time.Second)
		var e Effects
		h, e = p.Apply("cus_a", h, s.r, now)
		if h.State != s.state || e.WentDown != s.down || e.Recovered || e.Restart != s.restart || h.Failures != s.failures {
			t.Fatalf("step %d (%v): state %s down %v recovered %v restart %d failures %d; want %s %v false %d %d",
				i, s.r, h.State, e.WentDown, e.Recovered, e.Restart, h.Failures, s.state, s.down, s.restart, s.failures)
		}
		if s.r.Starting && h.LastError == "" {
			t.Fatalf("step %d: a starting answer left no last error", i)
		}
	}

	// Without a grace, starting is a failure at once.
	p.StartingGrace = 0
	h = store.Health{}
	for i := range 3 {
		h, _ = p.Apply("cus_b", h, starting, t0.Add(time.Duration(i)*time.Second))
	}
	if h.State != store.Down || h.Failures != 3 {
		t.Fatalf("no grace: %+v", h)
	}
}
