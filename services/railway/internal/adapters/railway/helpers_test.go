package railway_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/pkg/secrets"
	"clawdbot.cloud/services/railway/internal/adapters/railway"
	"clawdbot.cloud/services/railway/internal/app"
	"clawdbot.cloud/services/railway/internal/railwaytest"
)

// The Railway account every test plays.
const (
	token         = "test-token-0b9f"
	projectID     = "5c3f6a0e-6d5b-4c1e-9a61-2f0a4b7c8d90"
	environmentID = "0e7d4c2b-1a3f-4b5e-8c6d-9f0a1b2c3d4e"
	image         = "ghcr.io/clawdbot/runtime:test"
)

// memSecrets is a secret store in memory.
type memSecrets struct {
	mu sync.Mutex
	m  map[string]string
}

func (s *memSecrets) Get(_ context.Context, ref string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[ref]
	if !ok {
		return nil, secrets.ErrNotFound
	}
	return []byte(v), nil
}

func (s *memSecrets) PutIfAbsent(_ context.Context, ref string, v []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[ref]; !ok {
		s.m[ref] = string(v)
	}
	return []byte(s.m[ref]), nil
}

func (s *memSecrets) put(ref, v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[ref] = v
}

// harness is a driver against a fake Railway on a virtual clock.
type harness struct {
	srv     *railwaytest.Server
	clock   *railwaytest.Clock
	secrets *memSecrets
	reg     *prometheus.Registry
	log     *slog.Logger
}

func newHarness(t testing.TB, srvOpts ...func(*railwaytest.Options)) *harness {
	t.Helper()
	clock := railwaytest.NewClock()
	o := railwaytest.Options{Token: token, TokenKind: "account", ProjectID: projectID, EnvironmentID: environmentID, Clock: clock}
	for _, f := range srvOpts {
		f(&o)
	}
	level := slog.LevelWarn
	if os.Getenv("TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	return &harness{
		srv: railwaytest.New(t, o), clock: clock, secrets: &memSecrets{m: map[string]string{}},
		reg: prometheus.NewRegistry(), log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
	}
}

// options are the driver's options against h's server.
func (h *harness) options() railway.Options {
	return railway.Options{
		APIURL: h.srv.URL, Token: token, TokenKind: railway.AccountToken,
		ProjectID: projectID, EnvironmentID: environmentID, Image: image, Region: "europe-west4-drams3a",
		Version: "test", Vars: map[string]string{"ANTHROPIC_API_KEY": "sk-ant-test"},
		Secrets: h.secrets, Log: h.log, Metrics: h.reg, Clock: h.clock,
		RequestTimeout: 5 * time.Second,
	}
}

// driver returns a driver over h's server, tuned by tune.
func (h *harness) driver(t testing.TB, tune ...func(*railway.Options)) *railway.Driver {
	t.Helper()
	o := h.options()
	for _, f := range tune {
		f(&o)
	}
	d, err := railway.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// request returns a starter-plan request of a new customer whose database
// URL is stored.
func (h *harness) request(t testing.TB) app.ProvisionRequest {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	id := "cus_R" + hex.EncodeToString(b)
	h.secrets.put(names.DatabaseRef(id), "postgres://u_"+id+":pw-"+id+"@db.example:5432/claw")
	plan, err := plans.Lookup(plans.Starter)
	if err != nil {
		t.Fatal(err)
	}
	return app.ProvisionRequest{CustomerID: id, Plan: plan, DatabaseRef: names.DatabaseRef(id)}
}

// only returns the one live service of customerID.
func (h *harness) only(t testing.TB, customerID string) railwaytest.ServiceView {
	t.Helper()
	svcs := h.srv.Services(names.Service(customerID))
	if len(svcs) != 1 {
		t.Fatalf("%d services of %s, want 1: %+v", len(svcs), customerID, svcs)
	}
	return svcs[0]
}

func provision(t testing.TB, d *railway.Driver, req app.ProvisionRequest) app.Instance {
	t.Helper()
	inst, err := d.Provision(context.Background(), req)
	if err != nil {
		t.Fatalf("Provision: %v", err)
	}
	return inst
}

// opCounts counts the server's calls by operation name.
func opCounts(h *harness) map[string]int {
	out := map[string]int{}
	for _, c := range h.srv.Calls() {
		out[c.Operation]++
	}
	return out
}
