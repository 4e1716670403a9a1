// Package process is the embedded compute driver: it runs each customer's
// runtime as a supervised child process of the compute service, on a port of
// 127.0.0.1 that stays the same across restarts.
//
// A child gets its configuration, database URL included, as one JSON
// document on its standard input: never on its command line (world-readable
// in /proc/<pid>/cmdline) and never in a log. It runs in a process group of
// its own, so stopping it stops everything it started, and it dies with the
// compute service (Pdeathsig), so a crashed service leaves no orphans.
//
// As root, each customer's runtime runs isolated (see Isolation): under a
// uid of its own, in a cgroup of its own with its plan's memory, CPU and
// pids limits, in a private directory, unable to read the platform's
// environment or files.
//
// The instances are persisted (package store); a stopped service leaves them
// wanting to run, and the next Start brings them back. Only one compute
// service per control-plane database runs processes (store.Lock).
package process

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/railway/internal/app"
	"clawdbot.cloud/services/railway/internal/store"
)

// SecretReader reads the customers' secrets by reference and keeps their
// instance tokens (pkg/secrets.Store does).
type SecretReader interface {
	Get(ctx context.Context, ref string) ([]byte, error)
	PutIfAbsent(ctx context.Context, ref string, plaintext []byte) ([]byte, error)
	Delete(ctx context.Context, ref string) error
}

// Options configure a Driver. Zero durations take the documented defaults.
type Options struct {
	// Binary is the runtime executable; it is made absolute.
	Binary string
	// Version is the platform release the runtimes report.
	Version string
	// Store persists the instances.
	Store *store.Store
	// Secrets holds the customers' database URLs.
	Secrets SecretReader
	// Log receives the driver's logs and, at debug level, the runtimes' output.
	Log *slog.Logger
	// Metrics receives the instance and restart metrics; nil registers none.
	Metrics prometheus.Registerer
	// Env is the children's base environment ("KEY=value"), such as the
	// model-provider settings. Never put the service's own secrets here.
	Env []string
	// WorkDir holds one working directory per instance; empty means none.
	WorkDir string
	// StartTimeout bounds how long Provision and Restart wait for a runtime
	// to answer /health. Default 60s.
	StartTimeout time.Duration
	// EarlyTTL is how long a runtime Prepare started early waits for its
	// Provision before it is stopped (early.go). Default 2m.
	EarlyTTL time.Duration
	// StopGrace is how long a runtime has to exit after SIGTERM before it
	// is killed. Default 15s: longer than the runtime's own 10s shutdown.
	StopGrace time.Duration
	// MinBackoff and MaxBackoff bound the delay before restarting a crashed
	// runtime (doubling from min to max); a runtime that ran StableAfter
	// starts again from MinBackoff. Defaults 100ms, 30s, 1m.
	MinBackoff, MaxBackoff, StableAfter time.Duration
	// StartFailures is how many exits before answering /health make a
	// Provision give up early. Default 3.
	StartFailures int
	// Now is the clock of recorded timestamps. Default time.Now.
	Now func() time.Time
	// Provider and Model, when set, go into every runtime's configuration
	// (the runtime's provider and model fields).
	Provider, Model string
	// Engines chooses each plan's engine (RUNTIME_ENGINES); the runtime is
	// told its engine in its configuration.
	Engines plans.Engines
	// EngineStart bounds how long a Resize onto the openclaw engine waits
	// for the new runtime's /health to answer 200 (its gateway is up).
	// Default 5m.
	EngineStart time.Duration
	// Isolation keeps runtimes from each other and from the platform
	// (uids, cgroups, private directories); zero fields take the defaults.
	Isolation Isolation
	// OpenClawInstalls, when set, holds one OpenClaw install per version
	// (OPENCLAW_INSTALLS/<version>/, each as deploy/openclaw/install.sh
	// lays one out); each instance on the openclaw engine runs the version
	// it records, and Rollout moves them. Empty: every runtime uses the
	// base environment's OPENCLAW_DIR.
	OpenClawInstalls string
	// OpenClawVersion is the version pinned at the first start
	// (OPENCLAW_VERSION); afterwards a successful Rollout moves the pin.
	OpenClawVersion string
	// RolloutTimeout is how long a Rollout waits, by default, for an
	// instance restarted on the new version to answer /health 200.
	// Default 5m.
	RolloutTimeout time.Duration
}

func (o *Options) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.StartTimeout, time.Minute)
	def(&o.StopGrace, 15*time.Second)
	def(&o.EarlyTTL, defaultEarlyTTL)
	def(&o.EngineStart, 5*time.Minute)
	def(&o.RolloutTimeout, 5*time.Minute)
	def(&o.MinBackoff, 100*time.Millisecond)
	def(&o.MaxBackoff, 30*time.Second)
	def(&o.StableAfter, time.Minute)
	if o.StartFailures == 0 {
		o.StartFailures = 3
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	i := &o.Isolation
	if i.Mode == "" {
		i.Mode = IsolationAuto
	}
	if i.UIDMin == 0 && i.UIDMax == 0 {
		i.UIDMin, i.UIDMax = DefaultUIDMin, DefaultUIDMax
	}
	if i.CgroupParent == "" {
		i.CgroupParent = DefaultCgroupParent
	}
	if i.Pids == 0 {
		i.Pids = DefaultPids
	}
}

// Driver runs customers' runtimes as child processes. It implements app.Driver.
type Driver struct {
	o   Options
	log *slog.Logger
	m   *metrics
	// iso is the runtimes' isolation, nil when off.
	iso *isolation
	// ctx bounds the supervisors' own work (database writes, secret reads);
	// Close cancels it after every child has stopped.
	ctx    context.Context
	cancel context.CancelFunc
	// rollCtx bounds background rollouts; Close cancels it first.
	rollCtx    context.Context
	rollCancel context.CancelFunc
	wg         sync.WaitGroup

	mu   sync.Mutex
	sups map[string]*supervisor // by customer id
	// responders answer for stopped instances, by customer id.
	responders map[string]*responder
	locks      map[string]*sync.Mutex // serialise operations per customer
	// early holds the runtimes Prepare started ahead of their Provision,
	// by customer id (early.go).
	early  map[string]*early
	closed bool
	// pinned is the OpenClaw version new instances get (loadPin, Rollout).
	pinned string
	// rollout is held by the one Rollout that may run at a time; last is
	// the latest rollout's report.
	rollout  sync.Mutex
	reportMu sync.Mutex
	report   *RolloutReport
}

var _ app.Driver = (*Driver)(nil)

// New checks the options and returns a Driver that runs nothing yet: call
// Start to bring back the persisted instances, and Close to stop them all.
func New(o Options) (*Driver, error) {
	o.defaults()
	if o.Store == nil || o.Secrets == nil || o.Log == nil {
		return nil, errors.New("process driver: Store, Secrets and Log are required")
	}
	abs, err := filepath.Abs(o.Binary)
	if err != nil {
		return nil, fmt.Errorf("process driver: runtime binary: %w", err)
	}
	o.Binary = abs
	if err := checkExecutable(o.Binary); err != nil {
		return nil, fmt.Errorf("process driver: %w", err)
	}
	if o.OpenClawInstalls != "" {
		if o.OpenClawInstalls, err = filepath.Abs(o.OpenClawInstalls); err != nil {
			return nil, fmt.Errorf("process driver: OPENCLAW_INSTALLS: %w", err)
		}
		if _, err := checkInstall(o.OpenClawInstalls, o.OpenClawVersion); err != nil {
			return nil, fmt.Errorf("process driver: OPENCLAW_VERSION: %w", err)
		}
	}
	iso, err := setupIsolation(&o, o.Log, os.Geteuid())
	if err != nil {
		return nil, fmt.Errorf("process driver: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rollCtx, rollCancel := context.WithCancel(ctx)
	d := &Driver{
		o: o, log: o.Log, ctx: ctx, cancel: cancel, iso: iso, rollCtx: rollCtx, rollCancel: rollCancel,
		sups: map[string]*supervisor{}, locks: map[string]*sync.Mutex{},
		responders: map[string]*responder{}, early: map[string]*early{},
	}
	if d.m, err = newMetrics(o.Metrics, d.phases, d.Versions); err != nil {
		cancel()
		return nil, err
	}
	return d, nil
}

// checkExecutable reports a path that is not an executable regular file.
func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return fmt.Errorf("runtime binary: %w", err)
	case !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0:
		return fmt.Errorf("runtime binary %s is not an executable file", path)
	}
	return nil
}

// lock serialises the operations on one customer's instance.
func (d *Driver) lock(customerID string) (unlock func()) {
	d.mu.Lock()
	l, ok := d.locks[customerID]
	if !ok {
		l = &sync.Mutex{}
		d.locks[customerID] = l
	}
	d.mu.Unlock()
	l.Lock()
	return l.Unlock
}

func (d *Driver) supervisorOf(customerID string) *supervisor {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sups[customerID]
}

// supervise starts supervising in (on its OpenClaw version, settled
// first); the caller holds the customer's lock.
func (d *Driver) supervise(in store.Instance) (*supervisor, error) {
	in, err := d.withVersion(in)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, errors.New("process driver is closed")
	}
	s := newSupervisor(d, in)
	d.sups[in.CustomerID] = s
	d.wg.Go(s.run)
	return s, nil
}

// Status is a snapshot of one instance under supervision.
type Status struct {
	// Phase is starting, running or backoff.
	Phase string
	// PID is the live child, 0 between children.
	PID int
	// UID is the uid the last child ran as: the customer's own when
	// isolated, this service's otherwise.
	UID int
	// LastExit is how the last child ended, "" before any did; it starts
	// with "oom-killed" when the kernel killed it for its memory.
	LastExit string
	// Port and URL are where the instance answers.
	Port int
	URL  string
	// Generation counts the children started since supervision began.
	Generation int
}

// Status returns the supervised instance of customerID, if any.
func (d *Driver) Status(customerID string) (Status, bool) {
	s := d.supervisorOf(customerID)
	if s == nil {
		return Status{}, false
	}
	return s.status(), true
}

// Close stops every child (SIGTERM, then SIGKILL after StopGrace), and every
// runtime started early, and waits for them. The instances keep wanting to
// run, so the next Start brings them back. Close is for shutdown; Delete is
// for customers leaving.
func (d *Driver) Close() {
	d.rollCancel()
	d.mu.Lock()
	d.closed = true
	sups := make([]*supervisor, 0, len(d.sups))
	for _, s := range d.sups {
		sups = append(sups, s)
	}
	d.sups = map[string]*supervisor{}
	responders := d.responders
	d.responders = map[string]*responder{}
	earlyOnes := make([]string, 0, len(d.early))
	for id := range d.early {
		earlyOnes = append(earlyOnes, id)
	}
	d.mu.Unlock()
	var wg sync.WaitGroup
	for _, id := range earlyOnes {
		wg.Go(func() { d.dropEarly(id, earlyDiscarded) })
	}
	for _, s := range sups {
		wg.Go(s.stop)
	}
	for _, r := range responders {
		wg.Go(r.close)
	}
	wg.Wait()
	d.wg.Wait()
	d.cancel()
	d.m.unregister()
}

// service returns the instance name of customerID.
func service(customerID string) string { return names.Service(customerID) }
