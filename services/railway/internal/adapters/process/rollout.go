package process

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/railway/internal/app"
	"clawdbot.cloud/services/railway/internal/store"
)

// Rollout outcomes (RolloutReport.Outcome and the outcome label of
// claw_compute_openclaw_rollouts_total).
const (
	// RolloutRunning is a rollout still moving instances.
	RolloutRunning = "running"
	// RolloutSucceeded: every instance runs the new version, healthy; the
	// pin moved.
	RolloutSucceeded = "succeeded"
	// RolloutRolledBack: an instance was not healthy on the new version in
	// time; every instance the rollout had moved runs its previous version
	// again, healthy. The pin did not move.
	RolloutRolledBack = "rolled_back"
	// RolloutRollbackFailed: as RolledBack, but at least one instance was
	// not healthy on its previous version either: an operator must look.
	RolloutRollbackFailed = "rollback_failed"
	// RolloutRefused: the rollout did not start (unknown version, another
	// rollout running, no versions configured).
	RolloutRefused = "refused"
	// RolloutInterrupted: the driver closed while the rollout ran; it is
	// still recorded and the next Start resumes it. Not counted in
	// claw_compute_openclaw_rollouts_total (the resumed rollout's outcome
	// is).
	RolloutInterrupted = "interrupted"
)

// ErrRolloutRunning refuses a rollout while another one runs.
var ErrRolloutRunning = errors.New("an openclaw rollout is already running")

// RolloutRequest asks to move every instance on the openclaw engine to To.
type RolloutRequest struct {
	// To is the target version, a directory of OPENCLAW_INSTALLS.
	To string
	// Batch is how many instances move at once. Default 1.
	Batch int
	// Timeout is how long an instance restarted on To has to answer
	// /health 200 (its gateway ready). Default Options.RolloutTimeout.
	Timeout time.Duration
}

// RolloutStep is one instance moved (or moved back) from a version to
// another.
type RolloutStep struct {
	CustomerID string  `json:"customer_id"`
	From       string  `json:"from"`
	To         string  `json:"to"`
	Healthy    bool    `json:"healthy"`
	Error      string  `json:"error,omitempty"`
	Seconds    float64 `json:"seconds"`
}

// RolloutReport is what a rollout did, in order.
type RolloutReport struct {
	To      string    `json:"to"`
	Batch   int       `json:"batch"`
	Outcome string    `json:"outcome"`
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended,omitzero"`
	// Moved are the instances restarted on To, batch after batch.
	Moved []RolloutStep `json:"moved"`
	// RolledBack are the instances moved back to their previous version
	// after a failure.
	RolledBack []RolloutStep `json:"rolled_back,omitempty"`
	// Failure is why the rollout stopped ("" when it succeeded).
	Failure string `json:"failure,omitempty"`
	// Stopped counts the stopped instances on the openclaw engine that were
	// set to To without a start (they start on it when resumed).
	Stopped int `json:"stopped"`
	// Pinned is the version new instances get once the rollout ended.
	Pinned string `json:"pinned"`
	// Resumed reports a rollout an earlier run of the compute service
	// began and a restart cut short: this run resumed it. Its Moved then
	// starts with the instances moved before the restart, as checked now.
	Resumed bool `json:"resumed,omitempty"`
}

// Rollout moves every running instance on the openclaw engine to req.To, in
// batches of req.Batch: each instance of a batch is restarted on To (its
// runtime gets OPENCLAW_DIR=<installs>/<To>) and must answer /health 200
// within req.Timeout. On the first instance that does not, every instance
// this rollout moved is moved back to the version it ran before, each again
// health-checked (within Options.EngineStart), and the report says so
// (RolloutRolledBack, or RolloutRollbackFailed). Only when every instance
// is healthy on To does To become the pinned version that new instances
// get; stopped instances on the engine are then set to To.
//
// The rollout's progress is recorded in the store (store.Rollout: its
// target, phase and every instance it moved, with its previous version and
// whether it was found healthy), so a rollout cut short by the driver
// closing is resumed by the next Start (resumeRollout). One rollout runs at
// a time, also across restarts: another is refused while one is recorded
// (ErrRolloutRunning). An unknown version or a driver without
// OPENCLAW_INSTALLS is an error wrapping app.ErrRejected. The report is
// kept for LastRollout, also while the rollout runs.
func (d *Driver) Rollout(ctx context.Context, req RolloutRequest) (RolloutReport, error) {
	req, err := d.beginRollout(ctx, req)
	if err != nil {
		return RolloutReport{}, err
	}
	defer d.rollout.Unlock()
	return d.runRollout(ctx, req, nil)
}

// StartRollout is Rollout in the background: it refuses what Rollout
// refuses, else starts the rollout and returns at once; LastRollout
// follows it. The rollout stops when the driver closes, and the next Start
// resumes it.
func (d *Driver) StartRollout(req RolloutRequest) error {
	ctx, cancel := context.WithTimeout(d.rollCtx, 10*time.Second)
	defer cancel()
	req, err := d.beginRollout(ctx, req)
	if err != nil {
		return err
	}
	d.keep(RolloutReport{To: req.To, Batch: req.Batch, Outcome: RolloutRunning, Started: d.o.Now(), Moved: []RolloutStep{}})
	d.wg.Go(func() {
		defer d.rollout.Unlock()
		_, _ = d.runRollout(d.rollCtx, req, nil)
	})
	return nil
}

// beginRollout checks req, fills its defaults, takes the rollout lock and
// records the rollout as in progress.
func (d *Driver) beginRollout(ctx context.Context, req RolloutRequest) (RolloutRequest, error) {
	if _, err := d.versionDir(req.To); err != nil {
		d.m.rollouts.WithLabelValues(RolloutRefused).Inc()
		return req, err
	}
	if req.Batch <= 0 {
		req.Batch = 1
	}
	if req.Timeout <= 0 {
		req.Timeout = d.o.RolloutTimeout
	}
	if !d.rollout.TryLock() {
		d.m.rollouts.WithLabelValues(RolloutRefused).Inc()
		return req, fmt.Errorf("%w: %w", app.ErrRejected, ErrRolloutRunning)
	}
	err := d.o.Store.BeginRollout(ctx, store.Rollout{To: req.To, Batch: req.Batch, Timeout: req.Timeout})
	if err != nil {
		d.rollout.Unlock()
		d.m.rollouts.WithLabelValues(RolloutRefused).Inc()
		if errors.Is(err, store.ErrRolloutUnfinished) {
			return req, fmt.Errorf("%w: %w (recorded by an earlier run, resumed at its start)", app.ErrRejected, ErrRolloutRunning)
		}
		return req, err
	}
	return req, nil
}

// runRollout is the rollout itself, the caller holding the rollout lock and
// the rollout recorded. resumed is what an earlier run recorded of it (nil
// for a new rollout): its moved instances are health-checked (those not yet
// found healthy) before it goes on, or moved back when it was rolling back.
func (d *Driver) runRollout(ctx context.Context, req RolloutRequest, resumed *store.Rollout) (RolloutReport, error) {
	rep := RolloutReport{To: req.To, Batch: req.Batch, Outcome: RolloutRunning, Started: d.o.Now(), Moved: []RolloutStep{}}
	log := d.log.With("openclaw_version", req.To, "batch", req.Batch)
	var touched []RolloutStep
	failed := ""
	if resumed != nil {
		rep.Started, rep.Resumed = resumed.Started, true
		log.Info("openclaw rollout resumed", "phase", resumed.Phase, "moved", len(resumed.Moves))
		for _, m := range resumed.Moves {
			touched = append(touched, RolloutStep{CustomerID: m.CustomerID, From: m.From, To: req.To, Healthy: m.Healthy})
		}
		if resumed.Phase == store.RolloutBack {
			failed = cmp.Or(resumed.Failure, "rolling back when the compute service stopped")
		} else {
			// The moved instances started on To with the driver; those
			// not yet checked are checked now, in batches.
			for i := 0; i < len(touched) && failed == ""; i += req.Batch {
				part := touched[i:min(i+req.Batch, len(touched))]
				steps := d.checkAll(ctx, part, req.Timeout)
				copy(part, steps)
				rep.Moved = append(rep.Moved, steps...)
				d.keep(rep)
				if ctx.Err() != nil {
					return d.interrupted(rep, log), ctx.Err()
				}
				failed = firstFailure(steps, req.To)
			}
		}
	} else {
		log.Info("openclaw rollout started", "timeout", req.Timeout)
	}
	d.keep(rep)

	var stopped []store.Instance
	if failed == "" {
		var targets []store.Instance
		var err error
		if targets, stopped, err = d.rolloutTargets(ctx, req.To); err != nil {
			return d.finish(ctx, rep, RolloutRefused, err.Error(), ""), err
		}
		for i := 0; i < len(targets) && failed == ""; i += req.Batch {
			batch := targets[i:min(i+req.Batch, len(targets))]
			steps := d.moveAll(ctx, batch, func(store.Instance) string { return req.To }, req.Timeout, true)
			rep.Moved = append(rep.Moved, steps...)
			touched = append(touched, steps...)
			d.keep(rep)
			if ctx.Err() != nil {
				return d.interrupted(rep, log), ctx.Err()
			}
			failed = firstFailure(steps, req.To)
		}
	}
	if failed != "" {
		log.Warn("openclaw rollout failed; rolling back", "failure", failed, "instances", len(touched))
		rep.Failure = failed
		if err := d.o.Store.RollingBack(ctx, failed); err != nil {
			log.Error("openclaw rollout: recording the rollback failed", "err", err)
		}
		back := d.rollBack(ctx, touched, req.Batch)
		rep.RolledBack = back
		if ctx.Err() != nil {
			return d.interrupted(rep, log), ctx.Err()
		}
		outcome := RolloutRolledBack
		for _, s := range back {
			if !s.Healthy {
				outcome = RolloutRollbackFailed
			}
		}
		rep = d.finish(ctx, rep, outcome, failed, "")
		log.Warn("openclaw rollout rolled back", "outcome", outcome)
		return rep, nil
	}
	for _, in := range stopped {
		if err := d.setStoppedVersion(ctx, in, req.To); err != nil {
			return d.finish(ctx, rep, RolloutRollbackFailed, err.Error(), ""), err
		}
		rep.Stopped++
	}
	if err := d.o.Store.EndRollout(ctx, req.To); err != nil {
		return d.finish(ctx, rep, RolloutRollbackFailed, err.Error(), ""), err
	}
	d.mu.Lock()
	d.pinned = req.To
	d.mu.Unlock()
	rep = d.end(rep, RolloutSucceeded, "")
	log.Info("openclaw rollout succeeded", "instances", len(rep.Moved), "stopped", rep.Stopped)
	return rep, nil
}

// firstFailure describes the first step of steps that is not healthy, ""
// when all are.
func firstFailure(steps []RolloutStep, to string) string {
	for _, s := range steps {
		if !s.Healthy {
			return fmt.Sprintf("%s on %s: %s", s.CustomerID, to, s.Error)
		}
	}
	return ""
}

// finish ends a rollout that did not succeed: it forgets the recorded
// rollout (pin is ""), then closes rep with outcome.
func (d *Driver) finish(ctx context.Context, rep RolloutReport, outcome, failure, pin string) RolloutReport {
	if err := d.o.Store.EndRollout(ctx, pin); err != nil {
		d.log.Error("openclaw rollout: forgetting the ended rollout failed; the next start resumes it", "err", err)
	}
	return d.end(rep, outcome, failure)
}

// interrupted leaves a rollout the driver's closing cut short as recorded,
// for the next Start to resume.
func (d *Driver) interrupted(rep RolloutReport, log *slog.Logger) RolloutReport {
	rep.Outcome, rep.Ended = RolloutInterrupted, d.o.Now()
	d.keep(rep)
	log.Warn("openclaw rollout interrupted by the driver closing; the next start resumes it", "moved", len(rep.Moved))
	return rep
}

// resumeRollout resumes, at Start and after the instances were started,
// the rollout an earlier run recorded and did not finish: in the
// background, holding the rollout lock, so no other starts meanwhile.
func (d *Driver) resumeRollout(ctx context.Context) error {
	r, ok, err := d.o.Store.UnfinishedRollout(ctx)
	if err != nil || !ok {
		return err
	}
	d.rollout.Lock()
	req := RolloutRequest{To: r.To, Batch: r.Batch, Timeout: r.Timeout}
	d.keep(RolloutReport{To: req.To, Batch: req.Batch, Outcome: RolloutRunning, Started: r.Started, Resumed: true, Moved: []RolloutStep{}})
	if _, err := d.versionDir(r.To); err != nil && r.Phase == store.RolloutOut {
		// The target is gone: nothing can run on it; move back.
		r.Phase, r.Failure = store.RolloutBack, err.Error()
	}
	d.wg.Go(func() {
		defer d.rollout.Unlock()
		_, _ = d.runRollout(d.rollCtx, req, &r)
	})
	return nil
}

// rolloutTargets lists the running instances on the openclaw engine not yet
// on version, and the stopped ones on that engine.
func (d *Driver) rolloutTargets(ctx context.Context, version string) (running, stopped []store.Instance, err error) {
	all, err := d.o.Store.Active(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, in := range all {
		if engine, err := engineOf(d.o.Engines, in.Plan); err != nil || engine != plans.EngineOpenClaw {
			continue
		}
		switch {
		case in.Desired == store.Stopped:
			stopped = append(stopped, in)
		case in.Desired == store.Running && in.OpenClawVersion != version:
			running = append(running, in)
		}
	}
	return running, stopped, nil
}

// moveAll moves the instances of one batch at once, each to to(in);
// forward records each as moved by the rollout.
func (d *Driver) moveAll(ctx context.Context, batch []store.Instance, to func(store.Instance) string, within time.Duration, forward bool) []RolloutStep {
	steps := make([]RolloutStep, len(batch))
	var wg sync.WaitGroup
	for i, in := range batch {
		wg.Go(func() { steps[i] = d.move(ctx, in.CustomerID, to(in), within, forward) })
	}
	wg.Wait()
	return steps
}

// checkAll health-checks, at once, moved instances a resumed rollout had
// not yet found healthy (the driver's Start started them on the rollout's
// version); those found healthy before are kept as they are.
func (d *Driver) checkAll(ctx context.Context, moved []RolloutStep, within time.Duration) []RolloutStep {
	steps := make([]RolloutStep, len(moved))
	var wg sync.WaitGroup
	for i, m := range moved {
		if m.Healthy {
			steps[i] = m
			continue
		}
		wg.Go(func() { steps[i] = d.check(ctx, m, within) })
	}
	wg.Wait()
	return steps
}

// check waits, at most within, for the runtime of a moved instance to
// answer /health 200 on the rollout's version, and records it healthy. An
// instance that no longer runs (stopped or deleted since) is passed over.
func (d *Driver) check(ctx context.Context, m RolloutStep, within time.Duration) RolloutStep {
	began := time.Now()
	step := m
	err := func() error {
		unlock := d.lock(m.CustomerID)
		defer unlock()
		s := d.supervisorOf(m.CustomerID)
		if s == nil {
			step.Error = "not running: not checked"
			return nil
		}
		if err := d.waitReady(ctx, s, 1); err != nil {
			return err
		}
		if err := d.waitHealthy(ctx, s, plans.EngineOpenClaw+" "+m.To, within); err != nil {
			return err
		}
		return d.o.Store.RolloutMoveHealthy(ctx, m.CustomerID)
	}()
	step.Seconds = time.Since(began).Seconds()
	if err != nil {
		step.Error = err.Error()
		d.log.Warn("openclaw version not healthy after the rollout resumed", "customer_id", m.CustomerID, "to", m.To, "err", err)
		return step
	}
	step.Healthy = true
	d.log.Info("openclaw version healthy after the rollout resumed", "customer_id", m.CustomerID, "to", m.To, "seconds", step.Seconds)
	return step
}

// rollBack moves every touched instance back to the version it ran before,
// batch instances at once.
func (d *Driver) rollBack(ctx context.Context, touched []RolloutStep, batch int) []RolloutStep {
	var out []RolloutStep
	for i := 0; i < len(touched); i += batch {
		part := touched[i:min(i+batch, len(touched))]
		ins := make([]store.Instance, len(part))
		from := map[string]string{}
		for j, s := range part {
			ins[j] = store.Instance{CustomerID: s.CustomerID}
			from[s.CustomerID] = s.From
		}
		out = append(out, d.moveAll(ctx, ins, func(in store.Instance) string { return from[in.CustomerID] }, d.o.EngineStart, false)...)
		if ctx.Err() != nil {
			break
		}
	}
	return out
}

// move restarts the customer's runtime on OpenClaw version to and waits,
// at most within, for its /health to answer 200. forward records the move
// as the rollout's (with the version it leaves) before the restart, and
// the instance healthy after it.
func (d *Driver) move(ctx context.Context, customerID, to string, within time.Duration, forward bool) RolloutStep {
	began := time.Now()
	step := RolloutStep{CustomerID: customerID, To: to}
	err := func() error {
		unlock := d.lock(customerID)
		defer unlock()
		in, err := d.instance(ctx, customerID)
		if err != nil {
			return err
		}
		step.From = in.OpenClawVersion
		if in.Desired != store.Running {
			return fmt.Errorf("instance is %s", in.Desired)
		}
		record := d.o.Store.SetOpenClawVersion
		if forward {
			record = func(ctx context.Context, customerID, to string) error {
				return d.o.Store.MoveOpenClawVersion(ctx, customerID, step.From, to)
			}
		}
		if err := record(ctx, customerID, to); err != nil {
			return err
		}
		in.OpenClawVersion = to
		if s := d.unsupervise(customerID); s != nil {
			s.stop()
		}
		s, err := d.supervise(in)
		if err != nil {
			return err
		}
		if err := d.waitReady(ctx, s, 1); err != nil {
			return err
		}
		if err := d.waitHealthy(ctx, s, plans.EngineOpenClaw+" "+to, within); err != nil {
			return err
		}
		if forward {
			return d.o.Store.RolloutMoveHealthy(ctx, customerID)
		}
		return nil
	}()
	step.Seconds = time.Since(began).Seconds()
	if err != nil {
		step.Error = err.Error()
		d.log.Warn("openclaw version not healthy", "customer_id", customerID, "from", step.From, "to", to, "err", err)
		return step
	}
	step.Healthy = true
	d.log.Info("openclaw version healthy", "customer_id", customerID, "from", step.From, "to", to, "seconds", step.Seconds)
	return step
}

// setStoppedVersion records version for a stopped instance, under its lock.
func (d *Driver) setStoppedVersion(ctx context.Context, in store.Instance, version string) error {
	unlock := d.lock(in.CustomerID)
	defer unlock()
	return d.o.Store.SetOpenClawVersion(ctx, in.CustomerID, version)
}

// end closes rep with outcome, counts it and keeps it.
func (d *Driver) end(rep RolloutReport, outcome, failure string) RolloutReport {
	rep.Outcome, rep.Ended, rep.Pinned = outcome, d.o.Now(), d.Pinned()
	if failure != "" {
		rep.Failure = failure
	}
	d.m.rollouts.WithLabelValues(outcome).Inc()
	d.keep(rep)
	return rep
}

// keep records rep as the latest rollout's report.
func (d *Driver) keep(rep RolloutReport) {
	rep.Moved = append([]RolloutStep(nil), rep.Moved...)
	rep.RolledBack = append([]RolloutStep(nil), rep.RolledBack...)
	d.reportMu.Lock()
	d.report = &rep
	d.reportMu.Unlock()
}

// LastRollout returns the latest rollout's report since this driver
// started (false when none ran), also while it runs.
func (d *Driver) LastRollout() (RolloutReport, bool) {
	d.reportMu.Lock()
	defer d.reportMu.Unlock()
	if d.report == nil {
		return RolloutReport{}, false
	}
	return *d.report, true
}

// Versions counts the supervised instances by the OpenClaw version they
// run (those on the openclaw engine with a recorded version).
func (d *Driver) Versions() map[string]int {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string]int{}
	for _, s := range d.sups {
		if v := s.in.OpenClawVersion; v != "" {
			out[v]++
		}
	}
	return out
}
