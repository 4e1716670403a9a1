// Package chaos runs the platform's production topology (package cluster)
// under a stream of signups and lifecycle webhooks while it crashes its
// parts — a NATS node (SIGKILL, then back), one replica of every service
// (SIGKILL; the supervisor restarts it) and Postgres (an immediate
// restart) — and then checks what must survive: every saga completed
// exactly once, every key works, no orphan process, database or role, no
// event lost, no duplicate instance. `clawctl chaos` and TestChaos run it.
package chaos

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"clawdbot.cloud/cmd/clawctl/internal/bench"
	"clawdbot.cloud/cmd/clawctl/internal/cluster"
	"clawdbot.cloud/cmd/clawctl/internal/platform"
)

// Options configures a chaos run.
type Options struct {
	// Dir is a new, empty data directory (traversable by the Postgres and
	// runtime users, as bench and the tests make it).
	Dir string
	// BinDir holds nats-server, the services' and the runtime's binaries.
	BinDir string
	// Customers is the number of customers signed up; Concurrency how
	// many are in flight at once.
	Customers, Concurrency int
	// NATSDown is how long the killed NATS node stays down (default 5s).
	NATSDown time.Duration
	// Settle bounds the wait for every saga to finish after the load
	// (default 2 minutes); CustomerTimeout bounds one customer's script.
	Settle, CustomerTimeout time.Duration
	// SkipRestarts leaves the killed service replicas down (the cluster's
	// NoRestart): for checking that the checks notice.
	SkipRestarts bool
	Log          *slog.Logger
}

func (o *Options) defaults() {
	if o.Customers == 0 {
		o.Customers = 10
	}
	if o.Concurrency == 0 {
		o.Concurrency = 3
	}
	if o.NATSDown == 0 {
		o.NATSDown = 5 * time.Second
	}
	if o.Settle == 0 {
		o.Settle = 2 * time.Minute
	}
	if o.CustomerTimeout == 0 {
		o.CustomerTimeout = 4 * time.Minute
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
}

// Run starts a cluster in o.Dir on free ports, runs the load and the
// faults, waits for the platform to settle, checks it and stops it. The
// error is for a run that could not take place; what the run found is in
// the report (Report.OK).
func Run(ctx context.Context, o Options) (*Report, error) {
	o.defaults()
	env, ports, err := clusterEnv(o)
	if err != nil {
		return nil, err
	}
	// Lifecycle sagas need a short payment grace to suspend within the run.
	environ := append(os.Environ(), "SAGA_PAYMENT_GRACE=2s", "DATABASE_URL=")
	c, err := cluster.Start(ctx, cluster.Options{DataDir: o.Dir, BinDir: o.BinDir, Ports: ports, Env: env,
		Environ: environ, Log: o.Log, NoRestart: o.SkipRestarts, StartTimeout: 3 * time.Minute})
	if err != nil {
		return nil, fmt.Errorf("start the cluster: %w", err)
	}
	defer c.Stop()
	r := &Report{Customers: o.Customers, Concurrency: o.Concurrency, Started: time.Now()}
	l := newLoad(c, o, r)
	f := newFaults(c, o, r)
	progress := make(chan int, o.Customers)
	faultsDone := make(chan struct{})
	go func() {
		defer close(faultsDone)
		f.run(ctx, progress)
	}()
	l.run(ctx, progress)
	close(progress)
	<-faultsDone
	r.LoadDone = time.Since(r.Started).Round(time.Millisecond)
	chk := &checker{c: c, o: o, r: r, load: l, runtime: filepath.Join(o.BinDir, "runtime")}
	chk.settle(ctx)
	if err := c.WaitReady(ctx, time.Minute); err != nil {
		r.add(Check{Name: "every process back and ready", Detail: err.Error()})
	} else {
		r.add(Check{Name: "every process back and ready", OK: true, Detail: "all NATS nodes and service replicas answer"})
	}
	chk.run(ctx)
	r.Restarts = c.Restarts()
	r.Duration = time.Since(r.Started).Round(time.Millisecond)
	return r, nil
}

// clusterEnv is the cluster's configuration: free loopback ports for
// everything (a chaos run never meets a cluster or dev platform already
// running), its own Postgres (DATABASE_URL ignored) and the data directory.
func clusterEnv(o Options) (func(string) (string, bool), cluster.Ports, error) {
	var ports cluster.Ports
	free := func() (int, error) {
		a, err := bench.FreeAddr()
		if err != nil {
			return 0, err
		}
		_, p, _ := cutLast(a, ':')
		return strconv.Atoi(p)
	}
	var err error
	for i := range cluster.Nodes {
		for _, p := range []*int{&ports.Client[i], &ports.Route[i], &ports.Monitor[i]} {
			if *p, err = free(); err != nil {
				return nil, ports, err
			}
		}
	}
	ops := map[[2]int]int{}
	for i := range platform.Services {
		for r := 1; r <= 2; r++ {
			if ops[[2]int{i, r}], err = free(); err != nil {
				return nil, ports, err
			}
		}
	}
	ports.Ops = func(i, r int) int { return ops[[2]int{i, r}] }
	over := map[string]string{"CLAW_DATA_DIR": o.Dir, "RUNTIME_BINARY": filepath.Join(o.BinDir, "runtime")}
	for _, k := range []string{"INGRESS_ADDR", "WEB_ADDR"} {
		if over[k], err = bench.FreeAddr(); err != nil {
			return nil, ports, err
		}
	}
	return func(k string) (string, bool) {
		if v, ok := over[k]; ok {
			return v, true
		}
		switch k {
		case "DATABASE_URL", "NATS_URL", "CLAW_BUS_AUTH":
			return "", false
		}
		return os.LookupEnv(k)
	}, ports, nil
}

func cutLast(s string, sep byte) (before, after string, found bool) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}
