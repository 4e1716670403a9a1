// Package servicetest builds a real service.Env for tests: an embedded NATS
// JetStream server (authentication on: each service connects as its own
// principal of pkg/busauth, with its permissions), a fresh Postgres
// database, a secret store with a random key and a private metrics
// registry.
package servicetest

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/busauth"
	"clawdbot.cloud/pkg/config"
	"clawdbot.cloud/pkg/natstest"
	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/pkg/service"
)

// Platform is one test's shared infrastructure: services built from it talk
// to the same NATS server and control-plane database, as in production.
type Platform struct {
	// NATSURL is the bus, without credentials: Env adds the service's.
	NATSURL string
	// NATSCreds are every principal's passwords on it (natstest's).
	NATSCreds busauth.Credentials
	DBURL     string
	DB        *pgxpool.Pool
	Key       []byte
	Log       *slog.Logger
}

// New starts an embedded NATS server and creates a fresh database.
func New(t testing.TB) *Platform {
	t.Helper()
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i * 7)
	}
	url := pgtest.NewDatabase(t)
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatalf("servicetest: %v", err)
	}
	t.Cleanup(pool.Close)
	level := slog.LevelWarn
	if os.Getenv("TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	return &Platform{
		NATSURL:   natstest.Server(t).ClientURL(),
		NATSCreds: natstest.Credentials(),
		DBURL:     url,
		DB:        pool,
		Key:       key,
		Log:       slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
	}
}

// Env builds an Env for service name with settings from vars, connected to
// the bus as the tests' principal (busauth.Test: every subject, so a test
// may drive and observe a service through its env). EnvAs connects as a
// given principal instead.
func (p *Platform) Env(t testing.TB, name string, vars map[string]string) *service.Env {
	t.Helper()
	return p.EnvAs(t, name, busauth.Test, vars)
}

// EnvAs is Env connected as principal, with that principal's permissions
// (the service's own name for the real thing). The streams are created
// first, as the platform's operator does, when it may not create them.
func (p *Platform) EnvAs(t testing.TB, name, principal string, vars map[string]string) *service.Env {
	t.Helper()
	user := principal
	if pr, _ := busauth.Lookup(user); !pr.ManageStreams {
		p.setupStreams(t)
	}
	env, err := service.NewEnv(context.Background(), service.EnvOptions{
		Name:         name,
		Log:          p.Log.With("service", name),
		NATSURL:      p.NATSURL,
		NATSUser:     user,
		NATSPassword: p.NATSCreds[user],
		DB:           p.DB,
		Key:          p.Key,
		DataDir:      dataDir(t),
		Config:       config.FromMap(vars),
	})
	if err != nil {
		t.Fatalf("servicetest: env for %s: %v", name, err)
	}
	t.Cleanup(env.Bus.Close)
	return env
}

// setupStreams creates the platform's streams as the test principal.
func (p *Platform) setupStreams(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	b, err := bus.Connect(ctx, p.NATSURL, "servicetest", p.Log, nil, bus.WithCredentials(busauth.Test, p.NATSCreds[busauth.Test]))
	if err != nil {
		t.Fatalf("servicetest: %v", err)
	}
	defer b.Close()
	if err := b.Setup(ctx, bus.StreamOptions{}); err != nil {
		t.Fatalf("servicetest: streams: %v", err)
	}
}

// dataDir is a fresh t.TempDir that other users may traverse (mode 0711,
// its parent too; neither can be listed), as a service's data directory is
// in production: the compute service keeps each runtime's private
// directory under it, reached by the runtime's own uid.
func dataDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatalf("servicetest: %v", err)
		}
	}
	return dir
}

// Start runs svc in the background until the test ends (or stop is called)
// and fails the test if it returns an error.
func Start(t testing.TB, env *service.Env, svc service.Service) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc(ctx, env) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("%s returned: %v", env.Name, err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("%s did not stop within 30s", env.Name)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// Eventually polls cond every 20ms until it returns true or timeout passes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Counter returns the value of a counter in reg matching name and labels
// (summed over the series that match).
func Counter(t testing.TB, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	return gathered(t, reg, name, labels, func(m *dto.Metric) float64 { return m.GetCounter().GetValue() })
}

// Gauge returns the value of a gauge in reg matching name and labels
// (summed over the series that match).
func Gauge(t testing.TB, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	return gathered(t, reg, name, labels, func(m *dto.Metric) float64 { return m.GetGauge().GetValue() })
}

// HistogramCount returns how many samples a histogram in reg matching name
// and labels has observed (summed over the series that match).
func HistogramCount(t testing.TB, reg *prometheus.Registry, name string, labels map[string]string) uint64 {
	t.Helper()
	return uint64(gathered(t, reg, name, labels, func(m *dto.Metric) float64 { return float64(m.GetHistogram().GetSampleCount()) }))
}

// gathered sums value over the series of name in reg that carry labels.
func gathered(t testing.TB, reg *prometheus.Registry, name string, labels map[string]string, value func(*dto.Metric) float64) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue metric
				}
			}
			sum += value(m)
		}
	}
	return sum
}
