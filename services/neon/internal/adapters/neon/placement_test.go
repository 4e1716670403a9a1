package neon_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/services/neon/internal/adapters/neon"
	"clawdbot.cloud/services/neon/internal/app"
	"clawdbot.cloud/services/neon/internal/neontest"
)

// limit is Neon's lowest plan's branches per project, applied by the test
// server and told to the driver.
const limit = 10

// sharded configures the driver for PlaceSharded under limit.
func sharded(t *testing.T) func(*neon.Config) {
	db := pgtest.NewPool(t)
	return func(c *neon.Config) {
		c.Placement, c.BranchesPerProject, c.DB, c.Schema = neon.PlaceSharded, limit, db, "neon"
	}
}

// TestShardedPlacementStaysUnderTheBranchLimit provisions 25 customers
// with a limit of 10 branches per project: the driver spreads them across
// projects it makes, none over the limit, every customer's URL opens its
// own migrated database, a repeated create finds the same branch, and a
// delete frees the slot for the next customer.
func TestShardedPlacementStaysUnderTheBranchLimit(t *testing.T) {
	t.Parallel()
	f := newFixtureOn(t, neontest.Options{BranchLimit: limit, ProjectLimit: 10}, sharded(t))
	ctx := t.Context()
	const customers = 25
	ids := make([]string, customers)
	for i := range ids {
		ids[i] = f.newCustomer(t)
		if _, err := f.driver.Create(ctx, ids[i]); err != nil {
			t.Fatalf("create customer %d: %v", i, err)
		}
	}
	perProject := map[string]int{}
	for _, p := range f.srv.Projects() {
		n := f.srv.BranchCount(p)
		perProject[p] = n
		if n > limit {
			t.Errorf("project %s holds %d branches, over the limit of %d", p, n, limit)
		}
	}
	t.Logf("%d customers, branch limit %d: %d projects, branches per project (default and parent included) %v",
		customers, limit, len(perProject), counts(f.srv))
	if len(perProject) != 3 {
		t.Errorf("%d projects, want 3 (8 + 9 + 8 customers)", len(perProject))
	}
	for _, id := range ids {
		bs := f.srv.Branches(names.Database(id))
		if len(bs) != 1 {
			t.Fatalf("%s has %d branches, want 1", id, len(bs))
		}
		checkSchema(t, f.storedURL(t, id))
	}
	// A repeated create finds the branch in its recorded shard.
	before := counts(f.srv)
	for _, id := range ids[:3] {
		if _, err := f.driver.Create(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if after := counts(f.srv); !slices.Equal(before, after) {
		t.Errorf("repeated creates changed branches per project: %v → %v", before, after)
	}
	// Deleting a customer of the first shard frees its slot: the next
	// customer goes there, not into a new project.
	first := f.srv.Branches(names.Database(ids[0]))[0].Project
	if err := f.driver.Delete(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	next := f.newCustomer(t)
	if _, err := f.driver.Create(ctx, next); err != nil {
		t.Fatal(err)
	}
	if got := f.srv.Branches(names.Database(next))[0].Project; got != first {
		t.Errorf("the next customer went to %s, want the freed slot in %s", got, first)
	}
	if n := len(f.srv.Projects()); n != 3 {
		t.Errorf("%d projects after delete and create, want 3", n)
	}
	// Suspend and resume find the customer in its shard.
	last := ids[customers-1]
	if err := f.driver.Suspend(ctx, last); err != nil {
		t.Fatal(err)
	}
	if err := f.driver.Resume(ctx, last); err != nil {
		t.Fatal(err)
	}
}

// TestShardedPlacementSurvivesBranchesMadeByHand: when Neon refuses a
// branch under the recorded capacity (someone made branches in the shard),
// the shard is marked full and the customer goes to the next one.
func TestShardedPlacementSurvivesBranchesMadeByHand(t *testing.T) {
	t.Parallel()
	f := newFixtureOn(t, neontest.Options{BranchLimit: 2}, func(c *neon.Config) {
		sharded(t)(c)
		c.BranchesPerProject = 4 // wrong: the plan allows 2, which main and parent take
	})
	id := f.newCustomer(t)
	if _, err := f.driver.Create(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	home := f.srv.Settings()["NEON_PROJECT_ID"]
	if p := f.srv.Branches(names.Database(id))[0].Project; p == home {
		t.Fatalf("the customer went to the full home project")
	}
	if n := f.srv.BranchCount(home); n != 2 {
		t.Errorf("home project holds %d branches, want 2", n)
	}
}

// TestBranchPlacementHitsTheLimit: one project, branch per customer; the
// customer over the limit fails for good, naming the limit and the way out.
func TestBranchPlacementHitsTheLimit(t *testing.T) {
	t.Parallel()
	f := newFixtureOn(t, neontest.Options{BranchLimit: limit}, nil)
	ctx := t.Context()
	// main and parent take two of the ten.
	for i := range limit - 2 {
		if _, err := f.driver.Create(ctx, f.newCustomer(t)); err != nil {
			t.Fatalf("customer %d: %v", i, err)
		}
	}
	_, err := f.driver.Create(ctx, f.newCustomer(t))
	if !errors.Is(err, app.ErrRejected) {
		t.Fatalf("create over the limit = %v, want a permanent failure", err)
	}
	for _, want := range []string{"HTTP 422", "BRANCHES_LIMIT_EXCEEDED", "NEON_PLACEMENT=sharded"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	t.Logf("the %dth customer: %v", limit-1, err)
}

// TestProjectPlacement gives each customer a project of its own, migrated
// to the customer schema; the project limit fails for good; delete removes
// the project and a repeated create finds it.
func TestProjectPlacement(t *testing.T) {
	t.Parallel()
	f := newFixtureOn(t, neontest.Options{ProjectLimit: 3}, func(c *neon.Config) {
		c.Placement, c.ProjectID, c.ParentBranchID = neon.PlaceProject, "", ""
	})
	ctx := t.Context()
	a, b := f.newCustomer(t), f.newCustomer(t)
	for _, id := range []string{a, b} {
		if _, err := f.driver.Create(ctx, id); err != nil {
			t.Fatal(err)
		}
		checkSchema(t, f.storedURL(t, id))
	}
	if n := len(f.srv.Projects()); n != 3 {
		t.Fatalf("%d projects, want 3 (the first and one per customer)", n)
	}
	urlA := f.storedURL(t, a)
	if _, err := f.driver.Create(ctx, a); err != nil {
		t.Fatal(err)
	}
	if f.storedURL(t, a) != urlA || len(f.srv.Projects()) != 3 {
		t.Error("a repeated create made a project or changed the URL")
	}
	_, err := f.driver.Create(ctx, f.newCustomer(t))
	if !errors.Is(err, app.ErrRejected) || !strings.Contains(err.Error(), "PROJECTS_LIMIT_EXCEEDED") {
		t.Fatalf("create over the project limit = %v, want PROJECTS_LIMIT_EXCEEDED, permanent", err)
	}
	if err := f.driver.Delete(ctx, a); err != nil {
		t.Fatal(err)
	}
	if n := len(f.srv.Projects()); n != 2 {
		t.Errorf("%d projects after delete, want 2", n)
	}
	conn, err := pgx.Connect(ctx, urlA)
	if err == nil {
		conn.Close(ctx)
		t.Error("the deleted customer's URL still connects")
	}
}

// checkSchema connects with url and finds the customer schema there.
func checkSchema(t *testing.T, url string) {
	t.Helper()
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect with the stored URL: %v", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var tables int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables == 0 {
		t.Error("the customer's database has no tables: not migrated")
	}
}

// counts lists the branch count of every project, in order.
func counts(srv *neontest.Server) []int {
	var out []int
	for _, p := range srv.Projects() {
		out = append(out, srv.BranchCount(p))
	}
	return out
}

// TestShardedPlacementHitsTheProjectLimit: when every shard is full and
// Neon refuses another project, the create fails for good, saying so.
func TestShardedPlacementHitsTheProjectLimit(t *testing.T) {
	t.Parallel()
	f := newFixtureOn(t, neontest.Options{BranchLimit: 3, ProjectLimit: 1}, func(c *neon.Config) {
		sharded(t)(c)
		c.BranchesPerProject = 3
	})
	ctx := t.Context()
	if _, err := f.driver.Create(ctx, f.newCustomer(t)); err != nil {
		t.Fatal(err)
	}
	_, err := f.driver.Create(ctx, f.newCustomer(t))
	if !errors.Is(err, app.ErrRejected) || !strings.Contains(err.Error(), "PROJECTS_LIMIT_EXCEEDED") ||
		!strings.Contains(err.Error(), "every shard is full") {
		t.Fatalf("create with every shard full = %v", err)
	}
}
