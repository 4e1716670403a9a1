package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"clawdbot.cloud/cmd/clawctl/internal/bench"
	"clawdbot.cloud/cmd/clawctl/internal/platform"
)

func newBenchCmd() *cobra.Command {
	var o benchOptions
	cmd := &cobra.Command{
		Use:   "bench [-n N] [--url URL]",
		Short: "Measure signup → instance ready latency (sequential and concurrent)",
		Args:  positional(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.n < 1 {
				return usageErrorf("bench: -n must be at least 1")
			}
			switch {
			case o.busAuth != "on" && o.busAuth != "off" && o.busAuth != "both":
				return usageErrorf("bench: --bus-auth is on, off or both, not %q", o.busAuth)
			case o.pool != "on" && o.pool != "off" && o.pool != "both":
				return usageErrorf("bench: --pool is on, off or both, not %q", o.pool)
			case o.url != "" && (cmd.Flags().Changed("bus-auth") || cmd.Flags().Changed("pool")):
				return usageErrorf("bench: --bus-auth and --pool apply to the platform bench starts, not to --url")
			case o.trace && (o.url != "" || o.json):
				return usageErrorf("bench: --trace records the spans of the platform bench starts; it goes with neither --url nor --json")
			}
			for i, c := range o.live {
				if c < 0 || (i > 0 && c <= o.live[i-1]) {
					return usageErrorf("bench: --live is a growing list of customer counts (e.g. 100,1000), not %v", o.live)
				}
			}
			return runBench(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	fs := cmd.Flags()
	fs.IntVarP(&o.n, "signups", "n", 50, "signups per phase (sequential, then concurrent)")
	// --n, the standard flag package's spelling of -n, stays an alias.
	fs.SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if name == "n" {
			name = "signups"
		}
		return pflag.NormalizedName(name)
	})
	fs.StringVar(&o.url, "url", "", "ingress of a running platform (default: start one in a temporary directory)")
	fs.StringVar(&o.busAuth, "bus-auth", "on", "the started platform's bus: on (each service its own NATS user), off, or both (off, then on, in this run)")
	fs.StringVar(&o.pool, "pool", "on", "the started platform's warm pool of databases (DATABASE_POOL_SIZE, at least -n, full before each phase): on, off, or both (off, then on)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a Go CPU profile of this process (a started platform's services) over the whole run to this file (go tool pprof)")
	fs.BoolVar(&o.trace, "trace", false, "after each phase, print where its signups spent their time: the services' spans by kind (count, when half and all had ended, durations), in the order they end")
	fs.IntSliceVar(&o.live, "live", nil, "customers live when the phases run, one round per count (e.g. 100,1000: throughput, idle cost and memory as customers accumulate)")
	secretFlag(fs, &o.secret)
	jsonFlag(fs, &o.json)
	return cmd
}

// benchOptions are bench's flags.
type benchOptions struct {
	n                          int
	live                       []int
	url, secret, busAuth, pool string
	// cpuProfile is where the phases' Go CPU profile goes; empty for none.
	cpuProfile string
	json       bool
	// trace prints each phase's stages (bench.Stages).
	trace bool
}

// benchPhase is one phase's figures as --json prints them.
type benchPhase struct {
	// BusAuth and Pool are on or off for a platform bench started; empty
	// with --url.
	BusAuth string `json:"bus_auth,omitempty"`
	Pool    string `json:"pool,omitempty"`
	// Live is how many customers were signed up before the phase.
	Live   int     `json:"live"`
	Phase  string  `json:"phase"`
	N      int     `json:"n"`
	Ready  int     `json:"ready"`
	P50Ms  float64 `json:"p50_ms"`
	P99Ms  float64 `json:"p99_ms"`
	MaxMs  float64 `json:"max_ms"`
	WallMs float64 `json:"wall_ms"`
	// PerSecond is signups ready per second of the phase's wall time.
	PerSecond float64 `json:"per_second"`
	// CPUPerSignupMs is the processor time the platform (this process, the
	// runtimes, its Postgres) spent per signup; 0 with --url.
	CPUPerSignupMs float64 `json:"cpu_per_signup_ms,omitempty"`
	// PostgresPerSignupMs splits the Postgres part of it by who used it:
	// a service's role ("ingress"), "customers" (the runtimes' roles),
	// "exited backends", or a server process ("checkpointer").
	PostgresPerSignupMs map[string]float64 `json:"postgres_per_signup_ms,omitempty"`
}

func runBench(ctx context.Context, w io.Writer, o benchOptions) error {
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if o.url != "" {
		return benchPhases(ctx, w, o, strings.TrimRight(o.url, "/"), o.secret, benchLabel{}, nil, nil, nil, nil)
	}
	both := func(mode string) []string {
		if mode == "both" {
			return []string{"off", "on"}
		}
		return []string{mode}
	}
	for _, busAuth := range both(o.busAuth) {
		for _, pool := range both(o.pool) {
			if err := benchStarted(ctx, w, o, benchLabel{busAuth, pool}); err != nil {
				return fmt.Errorf("bus auth %s, pool %s: %w", busAuth, pool, err)
			}
		}
	}
	return nil
}

// benchLabel is the setting of a platform bench started.
type benchLabel struct{ busAuth, pool string }

// benchStarted starts a platform in a temporary directory with the bus
// authenticated or not (CLAW_BUS_AUTH) and the warm pool on or off
// (DATABASE_POOL_SIZE: at least -n when on, unless set) and benches it.
func benchStarted(ctx context.Context, w io.Writer, o benchOptions, l benchLabel) error {
	dir, err := os.MkdirTemp("", "clawctl-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// The private Postgres runs as an unprivileged user when we are
	// root; it must be able to traverse into the directory.
	if err := os.Chmod(dir, 0o711); err != nil {
		return err
	}
	base, err := bench.IsolatedEnv(dir)
	if err != nil {
		return err
	}
	poolSize := "0"
	if l.pool == "on" {
		poolSize = strconv.Itoa(max(o.n, 16))
		if v, ok := os.LookupEnv("DATABASE_POOL_SIZE"); ok && v != "" {
			poolSize = v
		}
	}
	env := func(k string) (string, bool) {
		switch k {
		case "CLAW_BUS_AUTH":
			return l.busAuth, true
		case "DATABASE_POOL_SIZE":
			return poolSize, true
		}
		return base(k)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	popts := platform.Options{DataDir: dir, Env: env, Log: log}
	var stages *bench.Stages
	if o.trace {
		// Every service records into one provider; spans carry their
		// service (claw.service).
		stages = bench.NewStages()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(stages))
		defer tp.Shutdown(context.WithoutCancel(ctx)) //nolint:errcheck // nothing is exported
		popts.Tracer = tp
	}
	p, err := platform.Start(ctx, popts)
	if err != nil {
		return err
	}
	defer p.Stop() //nolint:errcheck
	if !o.json {
		fmt.Fprintf(w, "platform started in %s (bus auth %s, pool %s)\n", dir, l.busAuth, poolSize)
	}
	var pool *warmPool
	if poolSize != "0" {
		pool = &warmPool{metrics: "http://" + p.Ops["neon"] + "/metrics"}
	}
	binary, _ := env("RUNTIME_BINARY")
	binary = cmp.Or(binary, platform.DefaultBinary("runtime"))
	postmaster, err := bench.Postmaster(filepath.Join(dir, "postgres", "data"))
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	cpu := func() (bench.CPUTime, error) { return bench.CPU(binary, postmaster) }
	idle := func(customers int) error {
		if o.json {
			return nil
		}
		return benchIdle(ctx, w, customers, cpu, func() (bench.Memory, error) { return bench.MeasureMemory(binary, postmaster) })
	}
	return benchPhases(ctx, w, o, p.IngressURL, p.WebhookSecret, l, pool, cpu, idle, stages)
}

// warmPool is a started platform's warm pool of databases, as its database
// service's /metrics reports it.
type warmPool struct{ metrics string }

// full waits until the pool is full.
func (p *warmPool) full(ctx context.Context) (bench.Pool, error) {
	return bench.WaitPool(ctx, p.metrics, 5*time.Minute)
}

func (p *warmPool) read(ctx context.Context) (bench.Pool, error) {
	return bench.ReadPool(ctx, p.metrics)
}

// idleWindow is how long benchIdle measures an idle platform: the health
// service probes every instance once in 30 s.
const idleWindow = 30 * time.Second

// benchIdle reports what customers cost the platform while nobody uses
// them: processor time per second by part over idleWindow, then memory.
func benchIdle(ctx context.Context, w io.Writer, customers int, cpu func() (bench.CPUTime, error), memory func() (bench.Memory, error)) error {
	// A steady window: idle runtimes close their database connections after
	// 5 s, and the health service reads each new instance's /status once, in
	// its first cycle after the instance appeared (within one probe interval
	// of 30 s); measuring sooner would count those first reads as idle cost.
	if err := sleepCtx(ctx, idleWindow+5*time.Second); err != nil {
		return err
	}
	c0, err := cpu()
	if err != nil {
		return err
	}
	if err := sleepCtx(ctx, idleWindow); err != nil {
		return err
	}
	c1, err := cpu()
	if err != nil {
		return err
	}
	used := c1.Sub(c0)
	rate := func(d time.Duration) float64 { return float64(d) / float64(idleWindow) * 100 } // % of one core
	fmt.Fprintf(w, "idle with %d customers: %.1f%% of a core (services %.1f%%, runtimes %.1f%%, postgres %.1f%%); %.2f ms/s per customer\n",
		customers, rate(used.Total()), rate(used.Services), rate(used.Runtimes), rate(used.Postgres),
		float64(used.Total().Microseconds())/1000/idleWindow.Seconds()/float64(max(customers, 1)))
	m, err := memory()
	if err != nil {
		return fmt.Errorf("memory: %w", err)
	}
	mb := func(b int64) float64 { return float64(b) / (1 << 20) }
	fmt.Fprintf(w, "memory with %d customers (PSS): %d runtimes %.0f MB (%.1f MB each), postgres %d processes %.0f MB; %.1f MB per customer; machine MemAvailable %.0f MB\n",
		customers, m.Runtimes, mb(m.RuntimesPSS), mb(m.RuntimesPSS)/float64(max(m.Runtimes, 1)), m.Postgres, mb(m.PostgresPSS),
		mb(m.RuntimesPSS+m.PostgresPSS)/float64(max(customers, 1)), mb(m.MemAvailable))
	return nil
}

// sleepCtx sleeps for d unless ctx ends first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// benchPhases runs a round per count of o.live (one round with none): it
// signs up customers until that many are live, then runs the sequential
// and the concurrent phase against ingress, each with pool (if any) full,
// then idle (if any) with the customers now live. With cpu (a platform
// bench started), each phase also reports the processor time the platform
// spent per signup, and with stages where its signups spent their time.
func benchPhases(ctx context.Context, w io.Writer, o benchOptions, ingress, whsec string, l benchLabel, pool *warmPool,
	cpu func() (bench.CPUTime, error), idle func(customers int) error, stages *bench.Stages) error {
	rounds := o.live
	if len(rounds) == 0 {
		rounds = []int{0}
	}
	live := 0
	for _, want := range rounds {
		if want > live {
			start := time.Now()
			r, err := bench.Signups(ctx, ingress, whsec, want-live, 10)
			if err != nil {
				return fmt.Errorf("signing up %d live customers: %w", want-live, err)
			}
			if !o.json {
				fmt.Fprintf(w, "%d more customers signed up in %v (%.1f/s, 10 at a time): %d live\n", r.Ready, time.Since(start).Round(time.Millisecond),
					float64(r.Ready)/time.Since(start).Seconds(), want)
			}
			live = want
		}
		if err := benchRound(ctx, w, o, live, ingress, whsec, l, pool, cpu, stages); err != nil {
			return err
		}
		live += 2 * o.n
		if idle != nil && len(o.live) > 0 {
			if err := idle(live); err != nil {
				return err
			}
		}
	}
	return nil
}

// benchRound runs the sequential and the concurrent phase with live
// customers signed up before them.
func benchRound(ctx context.Context, w io.Writer, o benchOptions, live int, ingress, whsec string, l benchLabel, pool *warmPool,
	cpu func() (bench.CPUTime, error), stages *bench.Stages) error {
	n := o.n
	for _, phase := range []struct {
		name        string
		concurrency int
	}{{"sequential", 1}, {"concurrent", n}} {
		var full bench.Pool // as the phase began
		if pool != nil {
			var err error
			if full, err = pool.full(ctx); err != nil {
				return err
			}
		}
		var cpu0, cpu1 bench.CPUTime
		if cpu != nil {
			var err error
			if cpu0, err = cpu(); err != nil {
				return err
			}
		}
		if stages != nil {
			stages.Reset()
		}
		began := time.Now()
		r, err := bench.Signups(ctx, ingress, whsec, n, phase.concurrency)
		if err != nil {
			return fmt.Errorf("%s: %w", phase.name, err)
		}
		perSecond := float64(r.Ready) / r.Wall.Seconds()
		var used bench.CPUTime
		if cpu != nil {
			if cpu1, err = cpu(); err != nil {
				return err
			}
			used = cpu1.Sub(cpu0)
		}
		per := func(d time.Duration) time.Duration { return d / time.Duration(max(r.Ready, 1)) }
		cpuPer := per(used.Total())
		if o.json {
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
			var pgBy map[string]float64 // omitted when not measured
			if len(used.PostgresBy) > 0 {
				pgBy = make(map[string]float64, len(used.PostgresBy))
				for part, d := range used.PostgresBy {
					pgBy[part] = ms(per(d))
				}
			}
			if err := writeJSON(w, benchPhase{l.busAuth, l.pool, live, phase.name, n, r.Ready, ms(r.P50), ms(r.P99), ms(r.Max), ms(r.Wall), perSecond, ms(cpuPer), pgBy}); err != nil {
				return err
			}
			continue
		}
		label := ""
		if l.busAuth != "" {
			label = "bus-auth=" + l.busAuth + " pool=" + l.pool + " "
		}
		cpuNote := ""
		if cpu != nil {
			cpuNote = fmt.Sprintf(" cpu/signup=%v (services %v, runtimes %v, postgres %v)", cpuPer.Round(time.Millisecond),
				per(used.Services).Round(time.Millisecond), per(used.Runtimes).Round(time.Millisecond), per(used.Postgres).Round(time.Millisecond))
		}
		if live > 0 {
			label += fmt.Sprintf("live=%d ", live)
		}
		fmt.Fprintf(w, "%s%-10s n=%d ready=%d p50=%v p99=%v max=%v wall=%v (%.1f/s)%s\n", label, phase.name, n, r.Ready, r.P50, r.P99, r.Max,
			r.Wall.Round(time.Millisecond), perSecond, cpuNote)
		if line := postgresParts(used.PostgresBy, per); line != "" {
			fmt.Fprintf(w, "  postgres/signup by who used it: %s\n", line)
		}
		if stages != nil {
			// Spans of the pool's refill and health's rounds may fall in
			// the phase too; a step of every signup has n or more.
			fmt.Fprintf(w, "  where the %s phase's signups spent their time (ms from its start; spans of every signup):\n", phase.name)
			if err := bench.WriteStages(w, stages.Table(began), n); err != nil {
				return err
			}
		}
		if pool != nil && cpu != nil {
			if err := benchRefill(ctx, w, pool, full, cpu, cpu1); err != nil {
				return err
			}
		}
	}
	return nil
}

// benchRefill waits for the warm pool to be full again after a phase that
// began with it as began and ended at cpuEnd. It reports how many entries
// were made during the phase (their cost is in the phase's figures: a
// refill waits while the server is busy, so a burst leaves few) and after
// it, and the platform's processor time from the phase's end until the
// pool is full, per entry made then: what a signup costs beyond its own
// figures once its entry is made again.
func benchRefill(ctx context.Context, w io.Writer, pool *warmPool, began bench.Pool, cpu func() (bench.CPUTime, error), cpuEnd bench.CPUTime) error {
	ended, err := pool.read(ctx)
	if err != nil {
		return err
	}
	start := time.Now()
	full, err := pool.full(ctx)
	if err != nil {
		return err
	}
	took := time.Since(start)
	c, err := cpu()
	if err != nil {
		return err
	}
	during, after := ended.Made-began.Made, full.Made-ended.Made
	line := fmt.Sprintf("  warm pool: %.0f entries made during the phase, %.0f after it in %v", during, after, took.Round(time.Millisecond))
	if after > 0 {
		used := c.Sub(cpuEnd)
		per := func(d time.Duration) time.Duration { return time.Duration(float64(d) / after).Round(time.Millisecond) }
		line += fmt.Sprintf("; the platform's CPU until full %v an entry (services %v, runtimes %v, postgres %v)",
			per(used.Total()), per(used.Services), per(used.Runtimes), per(used.Postgres))
	}
	_, err = fmt.Fprintln(w, line)
	return err
}

// postgresParts formats a phase's Postgres time per signup by part, the
// largest first, leaving out parts under 0.1 ms.
func postgresParts(by map[string]time.Duration, per func(time.Duration) time.Duration) string {
	parts := slices.Collect(maps.Keys(by))
	slices.SortFunc(parts, func(a, b string) int { return cmp.Or(cmp.Compare(by[b], by[a]), cmp.Compare(a, b)) })
	var out []string
	for _, p := range parts {
		if d := per(by[p]); d >= 100*time.Microsecond {
			out = append(out, fmt.Sprintf("%s %v", p, d.Round(100*time.Microsecond)))
		}
	}
	return strings.Join(out, ", ")
}

// redact hides the password of a database URL.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}
