package process_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/pkg/secrets"
	"clawdbot.cloud/services/railway/internal/adapters/process"
	"clawdbot.cloud/services/railway/internal/app"
	"clawdbot.cloud/services/railway/internal/drivertest"
	"clawdbot.cloud/services/railway/internal/store"
	"clawdbot.cloud/services/railway/internal/testkit"
)

// runtimeBin is the real customer runtime, built once for this test binary.
var runtimeBin string

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == fakeGatewayMode {
		runFakeGateway() // started by a runtime as its OpenClaw gateway
		return
	}
	if os.Getenv(helperEnv) != "" {
		runHelper() // started by a driver as a customer's runtime
		return
	}
	runtimeBin = testkit.MustBuildRuntime("process")
	var err error
	if helperBin, err = copyHelper(filepath.Dir(runtimeBin)); err != nil {
		fmt.Fprintln(os.Stderr, "copy the test helper:", err)
		os.Exit(1)
	}
	pgtest.Main(m)
}

// harness is one control-plane database with its secret and instance stores.
type harness struct {
	pool *pgxpool.Pool
	sec  *secrets.Store
	st   *store.Store
	log  *slog.Logger
	reg  *prometheus.Registry
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	key := make([]byte, secrets.KeySize)
	sec, err := secrets.Open(ctx, pool, key)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	level := slog.LevelWarn
	if os.Getenv("TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	return &harness{
		pool: pool, sec: sec, st: st, reg: prometheus.NewRegistry(),
		log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
	}
}

// driver returns a started driver over h's database, closed when the test ends.
func (h *harness) driver(t *testing.T, tune ...func(*process.Options)) *process.Driver {
	t.Helper()
	o := process.Options{
		Binary: runtimeBin, Version: "test", Store: h.st, Secrets: h.sec, Log: h.log,
		Metrics: h.reg, WorkDir: workDir(t), StopGrace: 5 * time.Second,
		Isolation: process.Isolation{Mode: isolationMode(), CgroupParent: testCgroupParent},
	}
	for _, f := range tune {
		f(&o)
	}
	d, err := process.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return d
}

// request returns a starter-plan request for a new customer with a database.
func (h *harness) request(t *testing.T) (app.ProvisionRequest, testkit.Customer) {
	t.Helper()
	c := testkit.NewCustomer(t, h.sec)
	plan, err := plans.Lookup(plans.Starter)
	if err != nil {
		t.Fatal(err)
	}
	return app.ProvisionRequest{CustomerID: c.ID, Plan: plan, DatabaseRef: c.DatabaseRef}, c
}

// pids lists the live runtimes of customerID.
func pids(t *testing.T, customerID string) []int {
	t.Helper()
	got, err := process.PIDs(runtimeBin, testkit.Customer{ID: customerID}.ServiceID())
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestDriverContract(t *testing.T) {
	drivertest.RunDriverContract(t, func(t *testing.T) drivertest.Subject {
		h := newHarness(t)
		return drivertest.Subject{
			Driver: h.driver(t),
			NewRequest: func(t *testing.T) app.ProvisionRequest {
				req, _ := h.request(t)
				return req
			},
			Running: func(t *testing.T, customerID string) int { return len(pids(t, customerID)) },
		}
	})
}

func provision(t *testing.T, d *process.Driver, req app.ProvisionRequest) app.Instance {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	inst, err := d.Provision(ctx, req)
	if err != nil {
		t.Fatalf("Provision: %v", err)
	}
	return inst
}

func status(t *testing.T, d *process.Driver, customerID string) process.Status {
	t.Helper()
	s, ok := d.Status(customerID)
	if !ok {
		t.Fatalf("%s is not supervised", customerID)
	}
	return s
}
