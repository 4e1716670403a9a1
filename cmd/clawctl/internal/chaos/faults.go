package chaos

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"clawdbot.cloud/cmd/clawctl/internal/cluster"
	"clawdbot.cloud/cmd/clawctl/internal/platform"
	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/busauth"
	"clawdbot.cloud/proto/subjects"
)

// Fault is one thing the run broke.
type Fault struct {
	// What: "kill NATS node", "kill replica", "restart Postgres".
	What string `json:"what"`
	// Target is the process (nats-2, saga-1) or "postgres".
	Target string `json:"target"`
	PID    int    `json:"pid,omitempty"`
	// At is when, from the start of the load; Back when it was running
	// again (restarted, or brought back), when known.
	At   time.Duration `json:"at_ns"`
	Back time.Duration `json:"back_ns,omitempty"`
	// Customers is how many customers had been started when it struck.
	Customers int    `json:"customers_started"`
	Err       string `json:"error,omitempty"`
}

// faults strikes in order, each when its share of the customers has been
// started and the one before has recovered: the NATS node leading the
// event stream (down for NATSDown), one replica of every service (the
// compute replica running the runtimes among them), then Postgres.
type faults struct {
	c *cluster.Cluster
	o Options
	r *Report
}

func newFaults(c *cluster.Cluster, o Options, r *Report) *faults { return &faults{c: c, o: o, r: r} }

func (f *faults) run(ctx context.Context, progress <-chan int) {
	steps := []func(context.Context, int){f.killNATS, f.killReplicas, f.restartPostgres}
	started := 0
	for i, step := range steps {
		trigger := (i + 1) * f.o.Customers / (len(steps) + 1)
		for started < max(trigger, 1) {
			n, ok := <-progress
			if !ok {
				break
			}
			started = n
		}
		if ctx.Err() != nil {
			return
		}
		step(ctx, started)
		// The next fault waits until this one has healed (as one fault
		// at a time is what the platform promises to survive).
		if err := f.c.WaitReady(ctx, 2*time.Minute); err != nil {
			f.o.Log.Warn("chaos: cluster not ready after a fault", "err", err)
		}
	}
	for range progress { // drain
	}
}

func (f *faults) since() time.Duration { return time.Since(f.r.Started).Round(time.Millisecond) }

// killNATS kills the node leading the event stream and brings it back.
func (f *faults) killNATS(ctx context.Context, started int) {
	node := f.streamLeader(ctx)
	ft := Fault{What: "kill NATS node (SIGKILL; leader of " + subjects.Stream + ")", Target: node.Name, PID: node.PID(), At: f.since(), Customers: started}
	if err := node.Kill(); err != nil {
		ft.Err = err.Error()
		f.r.addFault(ft)
		return
	}
	_ = sleep(ctx, f.o.NATSDown)
	if err := node.Restart(); err != nil {
		ft.Err = err.Error()
	}
	ft.Back = f.since()
	f.r.addFault(ft)
}

// streamLeader is the node leading the CLAW stream (nats-1 when unknown).
func (f *faults) streamLeader(ctx context.Context) *cluster.Process {
	nodes := f.c.Processes("nats")
	b, err := bus.Connect(ctx, f.c.NATSURLs, "chaos", slog.New(slog.DiscardHandler), nil, f.c.BusOptions(busauth.Operator)...)
	if err != nil {
		return nodes[0]
	}
	defer b.Close()
	s, err := b.JetStream().Stream(ctx, subjects.Stream)
	if err != nil || s.CachedInfo().Cluster == nil {
		return nodes[0]
	}
	// Nodes are named n1…n3 (server_name), processes nats-1…nats-3.
	if n, err := strconv.Atoi(strings.TrimPrefix(s.CachedInfo().Cluster.Leader, "n")); err == nil && n >= 1 && n <= len(nodes) {
		return nodes[n-1]
	}
	return nodes[0]
}

// killReplicas kills one replica of every service; for the compute
// service the one whose children are the runtimes.
func (f *faults) killReplicas(ctx context.Context, started int) {
	for _, svc := range platform.Services {
		ps := f.c.Processes(svc.Name)
		victim := ps[0]
		if svc.Name == "railway" {
			victim = computeOwner(ps)
		}
		ft := Fault{What: "kill service replica (SIGKILL)", Target: victim.Name, PID: victim.PID(), At: f.since(), Customers: started}
		if err := victim.Kill(); err != nil {
			ft.Err = err.Error()
		}
		f.r.addFault(ft)
	}
}

// computeOwner is the compute replica that is the parent of a runtime
// (the first one when no runtime runs yet).
func computeOwner(ps []*cluster.Process) *cluster.Process {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces.
		_, rest, ok := strings.Cut(string(b), ") ")
		fields := strings.Fields(rest)
		if !ok || len(fields) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(fields[1])
		for _, p := range ps {
			if p.Alive() && p.PID() == ppid {
				return p
			}
		}
	}
	return ps[0]
}

// restartPostgres crashes and restarts the control plane's (and the
// customers') Postgres: an immediate shutdown, then recovery.
func (f *faults) restartPostgres(ctx context.Context, started int) {
	ft := Fault{What: "restart Postgres (immediate shutdown: every session cut, WAL recovery)", Target: "postgres", At: f.since(), Customers: started}
	if err := f.c.RestartPostgres(ctx, true); err != nil {
		ft.Err = fmt.Sprint(err)
	}
	ft.Back = f.since()
	f.r.addFault(ft)
}
