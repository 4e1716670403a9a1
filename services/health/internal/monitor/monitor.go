package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"clawdbot.cloud/pkg/bus"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
	"clawdbot.cloud/services/health/internal/probe"
	"clawdbot.cloud/services/health/internal/store"
)

// Publisher publishes on the bus; *bus.Bus satisfies it.
type Publisher interface {
	Publish(ctx context.Context, subject string, msg proto.Message, env bus.Envelope) (bool, error)
}

// Prober makes one health probe; *probe.Prober satisfies it.
type Prober interface {
	Probe(ctx context.Context, healthURL string) probe.Result
}

// Options configure a Monitor.
type Options struct {
	Log    *slog.Logger
	Store  *store.Store
	Prober Prober
	Bus    Publisher
	// Usage reads instances' /status for quota notices; nil turns them off.
	Usage *UsageReader
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Concurrency bounds the probes in flight. Default 16.
	Concurrency int
	// Jitter spreads each cycle's probes over [0, Jitter). Default 0.
	Jitter time.Duration
	Policy Policy
	// Metrics records what the monitor sees; nil records nothing.
	Metrics *Metrics
	// StatusMaxAge is how long the quota check trusts its last read of an
	// instance's /status while the instance's activity token stands
	// still. Default 15 minutes.
	StatusMaxAge time.Duration
	// StatusRetry is how long the quota check waits after a failed read of
	// an instance's /status before reading it again; it doubles with every
	// failure in a row, up to StatusMaxAge. Default 1 minute.
	StatusRetry time.Duration
}

// Monitor runs probe cycles over the live instances.
type Monitor struct {
	o Options
	// lastRead is, per customer, the activity token of the last /status
	// read and when it was made.
	mu       sync.Mutex
	lastRead map[string]statusRead
}

// statusRead is the last good read of an instance's /status, and the
// failed ones since.
type statusRead struct {
	activity string
	at       time.Time
	// failures counts the failed reads in a row; the next read waits until
	// retryAt.
	failures int
	failedAt time.Time
	retryAt  time.Time
}

// New returns a Monitor.
func New(o Options) *Monitor {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Concurrency < 1 {
		o.Concurrency = 16
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics()
	}
	if o.StatusMaxAge <= 0 {
		o.StatusMaxAge = 15 * time.Minute
	}
	if o.StatusRetry <= 0 {
		o.StatusRetry = time.Minute
	}
	o.Policy.defaults()
	return &Monitor{o: o, lastRead: map[string]statusRead{}}
}

// Run runs a cycle at every tick until ctx ends. A cycle that fails is
// logged and counted; the next tick tries again.
func (m *Monitor) Run(ctx context.Context, ticks <-chan time.Time) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticks:
			if err := m.Cycle(ctx); err != nil && ctx.Err() == nil {
				m.o.Metrics.Failures.WithLabelValues("cycle").Inc()
				m.o.Log.Warn("probe cycle failed", "err", err)
			}
		}
	}
}

// Cycle probes every live instance once, with bounded concurrency, and
// applies the results. Only one replica runs a cycle at a time; the others
// skip theirs.
func (m *Monitor) Cycle(ctx context.Context) error {
	release, ok, err := m.o.Store.TryCycleLock(ctx)
	if err != nil {
		return fmt.Errorf("cycle lock: %w", err)
	}
	if !ok {
		return nil
	}
	defer release()
	live, err := m.o.Store.Live(ctx)
	if err != nil {
		return err
	}
	sem := make(chan struct{}, m.o.Concurrency)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, c := range live {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !m.wait(ctx) {
				return
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			if err := m.one(ctx, c); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	m.gauge(ctx)
	m.forgetOldReads()
	return errors.Join(errs...)
}

// wait sleeps a random part of the jitter so probes do not all leave at
// once; false if ctx ended meanwhile.
func (m *Monitor) wait(ctx context.Context) bool {
	if m.o.Jitter <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(rand.N(m.o.Jitter))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// one probes one instance, announces what changed, then saves its health.
// Announcing first means a failed save repeats the announcement next cycle
// under the same message id, never loses it.
func (m *Monitor) one(ctx context.Context, c store.Customer) error {
	healthURL, err := probe.HealthURL(c.InstanceURL)
	var res probe.Result
	if err != nil {
		res = probe.Result{Err: err}
	} else {
		res = m.o.Prober.Probe(ctx, healthURL)
	}
	if ctx.Err() != nil {
		return nil // shutting down: no verdict on the instance
	}
	m.o.Metrics.probe(res)
	now := m.o.Now()
	h, e := m.o.Policy.Apply(c.ID, c.Health, res, now)
	log := m.o.Log.With("customer_id", c.ID, "instance_url", c.InstanceURL)
	if e.WentDown {
		log.Warn("instance down", "incident", e.Incident, "failures", h.Failures, "last", h.LastError)
		if err := m.publish(ctx, subjects.InstanceUnhealthy, e.Incident, c.ID, &pb.InstanceUnhealthy{
			CustomerId: c.ID, InstanceUrl: c.InstanceURL, IncidentId: e.Incident, State: h.State,
			ConsecutiveFailures: int32(h.Failures), LastError: h.LastError, Since: timestamppb.New(h.Since),
		}); err != nil {
			return err
		}
	}
	if e.Restart > 0 {
		log.Warn("asking compute for a restart", "incident", e.Incident, "restart", e.Restart)
		step := &pb.Step{SagaId: "health-" + e.Incident, CustomerId: c.ID, Name: "restart", Attempt: int32(e.Restart)}
		reason := fmt.Sprintf("%d failed health probes in a row; last: %s", h.Failures, h.LastError)
		if err := m.publish(ctx, subjects.CmdComputeRestart, fmt.Sprintf("%s-%d", e.Incident, e.Restart), c.ID,
			&pb.RestartCompute{Step: step, Reason: reason}); err != nil {
			return err
		}
		m.o.Metrics.Restarts.Inc()
	}
	if e.Recovered {
		log.Info("instance recovered", "incident", e.Incident, "down_for", e.DownFor)
		if err := m.publish(ctx, subjects.InstanceRecovered, e.Incident, c.ID, &pb.InstanceRecovered{
			CustomerId: c.ID, InstanceUrl: c.InstanceURL, IncidentId: e.Incident,
			DownForMs: e.DownFor.Milliseconds(), At: timestamppb.New(now),
		}); err != nil {
			return err
		}
	}
	if err := m.o.Store.SaveHealth(ctx, c.ID, h, now); err != nil {
		return err
	}
	if res.Healthy && m.o.Usage != nil && m.needsRead(c.ID, res.Activity, now) {
		if err := m.quota(ctx, c, now); err != nil && ctx.Err() == nil {
			m.o.Metrics.Failures.WithLabelValues("quota").Inc()
			retry := m.readFailed(c.ID, now)
			log.Warn("quota check failed", "err", err, "retry_in", retry)
		}
	}
	return nil
}

func (m *Monitor) publish(ctx context.Context, subject, id, customer string, msg proto.Message) error {
	_, err := m.o.Bus.Publish(ctx, subject, msg, bus.Envelope{MsgID: subject + "-" + id, CustomerID: customer})
	if err != nil {
		m.o.Metrics.Failures.WithLabelValues("publish").Inc()
		return fmt.Errorf("publish %s for %s: %w", subject, customer, err)
	}
	return nil
}

// gauge sets the instances-by-state gauge from the table.
func (m *Monitor) gauge(ctx context.Context) {
	live, err := m.o.Store.Live(ctx)
	if err != nil {
		return
	}
	counts := map[string]float64{store.Healthy: 0, store.Degraded: 0, store.Down: 0}
	for _, c := range live {
		counts[c.Health.State]++
	}
	for s, n := range counts {
		m.o.Metrics.Instances.WithLabelValues(s).Set(n)
	}
}
