package postgres_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/services/neon/internal/adapters/postgres"
	"clawdbot.cloud/services/neon/internal/drivertest"
)

// poolFixture is a fixture whose driver keeps a warm pool of size, filled by
// RunPool until stop is called (or the test ends).
type poolFixture struct {
	*fixture
	reg  *prometheus.Registry
	stop func()
}

func newPoolFixture(t testing.TB, size int) *poolFixture {
	t.Helper()
	return newPoolFixtureWith(t, postgres.Config{Pool: postgres.PoolConfig{Size: size}})
}

// newPoolFixtureWith is newPoolFixture for a driver configured by cfg, whose
// pool refills every 20 ms into its own metrics registry.
func newPoolFixtureWith(t testing.TB, cfg postgres.Config) *poolFixture {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg.Pool.Interval, cfg.Pool.Metrics = 20*time.Millisecond, reg
	f := openFixture(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f.driver.RunPool(ctx) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(func() {
		stop()
		dropPool(t, f)
	})
	return &poolFixture{fixture: f, reg: reg, stop: stop}
}

// dropPool drops every pool entry, so tests do not see each other's.
func dropPool(t testing.TB, f *fixture) {
	ctx := context.Background()
	for _, name := range poolNames(t, f, "claw____\\_%") {
		if !strings.HasPrefix(name, "clawpool_") && !strings.HasPrefix(name, "clawfill_") && !strings.HasPrefix(name, "clawdrop_") {
			continue
		}
		for _, q := range []string{"DROP DATABASE IF EXISTS " + pgx.Identifier{name}.Sanitize() + " WITH (FORCE)",
			"DROP ROLE IF EXISTS " + pgx.Identifier{name}.Sanitize()} {
			// Another test's pool may drop the same leftover at the same
			// moment ("tuple concurrently deleted"): IF EXISTS again.
			_, err := f.admin.Exec(ctx, q)
			if err != nil {
				_, err = f.admin.Exec(ctx, q)
			}
			if err != nil {
				t.Errorf("%s: %v", q, err)
			}
		}
	}
}

// poolNames lists database and role names LIKE pattern, with their kind.
func poolNames(t testing.TB, f *fixture, like string) []string {
	t.Helper()
	rows, err := f.admin.Query(context.Background(), `SELECT datname FROM pg_database WHERE datname LIKE $1
		UNION SELECT rolname FROM pg_roles WHERE rolname LIKE $1 ORDER BY 1`, like)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// ready returns the oids of the ready pool databases.
func (f *poolFixture) ready(t testing.TB) map[uint32]bool {
	t.Helper()
	rows, err := f.admin.Query(context.Background(), `SELECT oid FROM pg_database WHERE datname LIKE 'clawpool\_%'`)
	if err != nil {
		t.Fatal(err)
	}
	oids, err := pgx.CollectRows(rows, pgx.RowTo[uint32])
	if err != nil {
		t.Fatal(err)
	}
	m := map[uint32]bool{}
	for _, o := range oids {
		m[o] = true
	}
	return m
}

// waitReady waits until the pool holds exactly n ready databases.
func (f *poolFixture) waitReady(t testing.TB, n int) map[uint32]bool {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := f.ready(t)
		if len(got) == n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("pool holds %d ready databases, want %d", len(got), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// oidOf is the oid of the customer's database.
func (f *poolFixture) oidOf(t *testing.T, customerID string) uint32 {
	t.Helper()
	var oid uint32
	if err := f.admin.QueryRow(context.Background(), `SELECT oid FROM pg_database WHERE datname = $1`,
		names.Database(customerID)).Scan(&oid); err != nil {
		t.Fatalf("database of %s: %v", customerID, err)
	}
	return oid
}

// claims reads claw_database_pool_claims_total{result}.
func (f *poolFixture) claims(result string) int {
	return int(f.metric("claw_database_pool_claims_total", result))
}

// metric reads a gauge or counter of the pool, by its result label if
// given; -1 if absent.
func (f *poolFixture) metric(name, result string) float64 {
	mfs, err := f.reg.Gather()
	if err != nil {
		return -1
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if result == "" {
				return m.GetGauge().GetValue()
			}
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return -1
}

// TestWarmPoolClaimIsTheCustomersDatabase: a create takes a database the
// pool made (the same oid, renamed), the customer logs in with the stored
// URL and owns its tables, and the pool refills.
func TestWarmPoolClaimIsTheCustomersDatabase(t *testing.T) {
	f := newPoolFixture(t, 3)
	before := f.waitReady(t, 3)
	if n := f.metric("claw_database_pool_size", ""); n != 3 {
		t.Errorf("claw_database_pool_size = %v, want 3", n)
	}

	// A ready entry's role cannot log in and has no password: the claim
	// gives it both.
	var unusable int
	if err := f.admin.QueryRow(t.Context(), `SELECT count(*) FROM pg_authid
		WHERE starts_with(rolname, 'clawpool_') AND NOT rolcanlogin AND rolpassword IS NULL`).Scan(&unusable); err != nil {
		t.Fatal(err)
	}
	if unusable != 3 {
		t.Errorf("%d of 3 pool roles without login and password", unusable)
	}

	id := f.newCustomer(t)
	db := f.create(t, id)
	var login bool
	var verifier string
	var connLimit int
	if err := f.admin.QueryRow(t.Context(), `SELECT rolcanlogin, rolpassword, rolconnlimit FROM pg_authid WHERE rolname = $1`,
		names.Database(id)).Scan(&login, &verifier, &connLimit); err != nil {
		t.Fatal(err)
	}
	if !login || !strings.HasPrefix(verifier, "SCRAM-SHA-256$256:") || connLimit <= 0 {
		t.Errorf("claimed role: login %v, verifier %.18q, connection limit %d; want login, a 256-iteration verifier, a limit",
			login, verifier, connLimit)
	}
	if oid := f.oidOf(t, id); !before[oid] {
		t.Fatalf("customer database (oid %d) is not one of the pool's %v: the template was cloned", oid, before)
	}
	if got := f.claims("hit"); got != 1 {
		t.Errorf("pool hits = %d, want 1", got)
	}
	// The stored URL logs in as the customer's own role, which owns the
	// customer schema's tables and can write them.
	conn := connect(t, f.url(t, db))
	var user string
	var tables int
	if err := conn.QueryRow(t.Context(), `SELECT current_user, (SELECT count(*) FROM pg_tables
		WHERE schemaname = 'public' AND tableowner = current_user)`).Scan(&user, &tables); err != nil {
		t.Fatal(err)
	}
	if user != names.Database(id) || tables == 0 {
		t.Errorf("logged in as %q owning %d tables; want %q owning the customer schema", user, tables, names.Database(id))
	}
	putMarker(t, f.url(t, db))
	after := f.waitReady(t, 3)
	for oid := range after {
		if oid == f.oidOf(t, id) {
			t.Fatalf("the claimed database is still in the pool")
		}
	}
	// A second create of the same customer finds its database: no claim.
	f.create(t, id)
	if got := f.claims("hit"); got != 1 {
		t.Errorf("pool hits after a repeated create = %d, want 1", got)
	}
}

// TestWarmPoolNeverGivesAnEntryTwice: more concurrent creates than ready
// entries; each entry goes to exactly one customer, the others clone the
// template, and every customer gets a database of its own.
func TestWarmPoolNeverGivesAnEntryTwice(t *testing.T) {
	t.Run("superuser admin", func(t *testing.T) { testWarmPoolNeverGivesAnEntryTwice(t, "") })
	// An admin that is not a superuser grants itself the entry's role inside
	// the claim's transaction: two claimers of one entry meet there first.
	t.Run("customer admin", func(t *testing.T) { testWarmPoolNeverGivesAnEntryTwice(t, customerAdminURL(t)) })
}

func testWarmPoolNeverGivesAnEntryTwice(t *testing.T, adminURL string) {
	f := newPoolFixtureWith(t, postgres.Config{AdminURL: adminURL, Pool: postgres.PoolConfig{Size: 4}})
	before := f.waitReady(t, 4)
	f.stop() // no refill: exactly four entries to fight over

	const n = 10
	ids := f.createAtOnce(t, n)
	seen := map[uint32]string{}
	fromPool := 0
	for _, id := range ids {
		oid := f.oidOf(t, id)
		if other, dup := seen[oid]; dup {
			t.Fatalf("%s and %s share database oid %d", other, id, oid)
		}
		seen[oid] = id
		if before[oid] {
			fromPool++
		}
		putMarker(t, f.url(t, f.create(t, id)))
	}
	if fromPool != 4 || f.claims("hit") != 4 || f.claims("miss") != n-4 {
		t.Errorf("from the pool: %d (hits %d, misses %d), want 4 of %d", fromPool, f.claims("hit"), f.claims("miss"), n)
	}
	if left := f.ready(t); len(left) != 0 {
		t.Errorf("%d entries left in the pool, want 0", len(left))
	}
}

// TestWarmPoolServesABurstFromThePool: as many concurrent creates as ready
// entries all get one. Each claimer used to try the same eight oldest
// entries, so a burst wider than that found its candidates taken and fell
// back to cloning the template with the pool still full.
func TestWarmPoolServesABurstFromThePool(t *testing.T) {
	const n = 12
	f := newPoolFixture(t, n)
	f.waitReady(t, n)
	f.stop() // no refill: what the burst gets is what was ready

	f.createAtOnce(t, n)
	if hits, misses := f.claims("hit"), f.claims("miss"); hits != n || misses != 0 {
		t.Errorf("%d concurrent creates with %d entries ready: %v hits, %v misses; want all from the pool", n, n, hits, misses)
	}
}

// TestWarmPoolClaimSkipsAnEntryWithoutItsRole: a pool database whose role
// is gone (an interrupted round, an operator's hand) looks taken to a
// claimer that is not a superuser (granting itself the role fails as
// "does not exist"); the claim moves on instead of listing it again and
// again, and the signup still gets a database.
func TestWarmPoolClaimSkipsAnEntryWithoutItsRole(t *testing.T) {
	f := openFixture(t, postgres.Config{AdminURL: customerAdminURL(t), Pool: postgres.PoolConfig{Size: 1, Interval: time.Hour}})
	t.Cleanup(func() { dropPool(t, f) })
	const orphan = "clawpool_0123456789abcdef"
	if _, err := f.admin.Exec(t.Context(), "CREATE DATABASE "+orphan); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	id := f.newCustomer(t)
	if _, err := f.driver.Create(ctx, id); err != nil {
		t.Fatalf("create beside a pool entry without its role: %v", err)
	}
	putMarker(t, f.url(t, f.create(t, id)))
}

// createAtOnce creates n new customers' databases concurrently, failing
// the test on any error, and returns their ids.
func (f *poolFixture) createAtOnce(t *testing.T, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = f.newCustomer(t)
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, id := range ids {
		wg.Go(func() { _, errs[i] = f.driver.Create(t.Context(), id) })
	}
	wg.Wait()
	for i, id := range ids {
		if errs[i] != nil {
			t.Fatalf("create %s: %v", id, errs[i])
		}
	}
	return ids
}

// TestWarmPoolShrinksAndDropsLeftovers: a smaller size drops the extra
// entries, and what an interrupted round left (an entry being made, one
// being dropped, a pool role without its database) is dropped; nothing
// else is touched.
func TestWarmPoolShrinksAndDropsLeftovers(t *testing.T) {
	big := newPoolFixture(t, 4)
	big.waitReady(t, 4)
	big.stop()

	ctx := context.Background()
	for _, q := range []string{
		"CREATE ROLE clawfill_0123456789abcdef",
		"CREATE DATABASE clawfill_0123456789abcdef",
		"CREATE DATABASE clawdrop_0123456789abcdef",
		"CREATE ROLE clawpool_0123456789abcdef",
	} {
		if _, err := big.admin.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	keep := big.newCustomer(t)
	big.create(t, keep)

	small := newPoolFixture(t, 2)
	small.waitReady(t, 2)
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := poolNames(t, small.fixture, "claw%\\_0123456789abcdef")
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("leftovers not dropped: %v", left)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := len(poolNames(t, small.fixture, "clawpool\\_%")); got != 2 {
		t.Errorf("%d pool entries, want 2", got)
	}
	if d, r, err := small.exists(ctx, keep); err != nil || !d || !r {
		t.Errorf("the customer's database %v and role %v (err %v) must survive the pool's clean-up", d, r, err)
	}
}

// TestContractWithWarmPool runs the driver contract (its cases in
// parallel) on one driver whose pool refills beside them: claimed databases
// behave like cloned ones through create, delete, archive and restore.
func TestContractWithWarmPool(t *testing.T) {
	f := newPoolFixture(t, 3)
	f.waitReady(t, 3)
	t.Run("contract", func(t *testing.T) { // returns once its parallel cases have
		drivertest.RunDriverContract(t, func(t *testing.T) drivertest.Subject {
			return drivertest.Subject{Driver: f.driver, Secrets: f.secrets, Exists: f.exists}
		})
	})
	if f.claims("hit") == 0 {
		t.Error("no create of the contract claimed a pool database")
	}
}

// load keeps the server committing thousands of one-statement transactions
// a second until the returned stop is called. (The pool's own rounds, every
// 20 ms here, commit a few hundred a second: the tests' threshold is 1,000.)
func load(t *testing.T, f *poolFixture) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			_, _ = f.admin.Exec(ctx, "SELECT 1")
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// TestWarmPoolRefillWaitsForABusyServer: a refill does not compete with
// what keeps the server busy (a burst's signups outlast its claims), and
// fills once the server calms down.
func TestWarmPoolRefillWaitsForABusyServer(t *testing.T) {
	f := newPoolFixtureWith(t, postgres.Config{Pool: postgres.PoolConfig{Size: 2, BusyCommits: 1000, MaxDefer: time.Hour}})
	stop := load(t, f)
	time.Sleep(3 * time.Second)
	if n := len(f.ready(t)); n != 0 {
		t.Fatalf("the pool made %d entries while the server was busy", n)
	}
	if f.metric("claw_database_pool_fills_total", "deferred") == 0 {
		t.Error("no deferred refill counted")
	}
	stop()
	f.waitReady(t, 2)
}

// TestWarmPoolRefillsABusyServerSlowly: a server that never calms down
// still gets its pool back, an entry every MaxDefer.
func TestWarmPoolRefillsABusyServerSlowly(t *testing.T) {
	f := newPoolFixtureWith(t, postgres.Config{Pool: postgres.PoolConfig{Size: 2, BusyCommits: 1000, MaxDefer: 500 * time.Millisecond}})
	load(t, f)
	f.waitReady(t, 2)
	if f.metric("claw_database_pool_fills_total", "deferred") == 0 {
		t.Error("the pool filled a busy server without waiting")
	}
}
