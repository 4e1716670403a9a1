package postgres_test

import (
	"context"
	"os"
	"slices"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"

	"clawdbot.cloud/pkg/dbroles"
	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/services/neon/internal/adapters/postgres"
	"clawdbot.cloud/services/neon/internal/drivertest"
)

// customerAdminURL bootstraps pkg/dbroles' customer-database admin (LOGIN,
// CREATEROLE, CREATEDB, not superuser) on the test server and returns its
// URL.
func customerAdminURL(t *testing.T) string {
	t.Helper()
	set := dbroles.Set{Prefix: "clawsvc_n" + strconv.Itoa(os.Getpid()) + "_", Secret: []byte("a customer admin secret of 32+ bytes")}
	conn, err := pgx.Connect(t.Context(), pgtest.AdminURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background()) //nolint:errcheck
	if err := set.BootstrapCustomerAdmin(t.Context(), conn, postgres.TemplateDatabase); err != nil {
		t.Fatalf("BootstrapCustomerAdmin: %v", err)
	}
	u, err := set.URL(pgtest.AdminURL(t), set.CustomerAdmin())
	if err != nil {
		t.Fatal(err)
	}
	var super, createRole, createDB bool
	if err := connect(t, u).QueryRow(t.Context(), `SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = current_user`).
		Scan(&super, &createRole, &createDB); err != nil {
		t.Fatal(err)
	}
	if super || !createRole || !createDB {
		t.Fatalf("customer admin: superuser %v, createrole %v, createdb %v; want CREATEROLE and CREATEDB only", super, createRole, createDB)
	}
	return u
}

// TestContractAsCustomerAdmin runs the whole driver contract with the
// driver administering the server as a role that is not a superuser.
func TestContractAsCustomerAdmin(t *testing.T) {
	drivertest.RunDriverContract(t, func(t *testing.T) drivertest.Subject {
		f := openFixture(t, postgres.Config{AdminURL: customerAdminURL(t)})
		return drivertest.Subject{Driver: f.driver, Secrets: f.secrets, Exists: f.exists}
	})
}

// TestAdminIsAMemberOnlyWhileItWorks: an admin that is not a superuser takes
// a customer role's membership for the work that needs it and gives it up
// after — filling the pool, claiming an entry, cloning the template — so it
// is a member of no customer role between requests (each one made every
// later privilege check slower: see asMember). Memberships left by an
// earlier version or a crash end when a driver opens, except the ones of a
// customer whose lock another process holds.
func TestAdminIsAMemberOnlyWhileItWorks(t *testing.T) {
	adminURL := customerAdminURL(t)
	f := newPoolFixtureWith(t, postgres.Config{AdminURL: adminURL, Pool: postgres.PoolConfig{Size: 2}})
	var admin string
	if err := connect(t, adminURL).QueryRow(t.Context(), "SELECT current_user").Scan(&admin); err != nil {
		t.Fatal(err)
	}
	memberships := func(when string, want ...string) {
		t.Helper()
		rows, err := f.admin.Query(t.Context(), `SELECT r.rolname FROM pg_auth_members m
			JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles a ON a.oid = m.member
			WHERE a.rolname = $1 ORDER BY 1`, admin)
		if err != nil {
			t.Fatal(err)
		}
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		want = append([]string{postgres.TemplateOwner}, want...)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: the admin is a member of %v, want %v", when, got, want)
		}
	}

	f.waitReady(t, 2)
	memberships("after filling the pool")
	claimed := f.newCustomer(t)
	f.create(t, claimed)
	if got := f.claims("hit"); got != 1 {
		t.Fatalf("pool hits = %d, want 1", got)
	}
	memberships("after a claim")

	f.stop()
	f.create(t, f.newCustomer(t)) // the pool's last entry
	cloned := f.newCustomer(t)
	f.create(t, cloned)
	if got := f.claims("miss"); got != 1 {
		t.Fatalf("pool misses = %d, want 1 (the template clone)", got)
	}
	memberships("after a template clone")

	// As an earlier version left them: a member of every customer role.
	// Another replica is working on one of them (it holds its lock).
	for _, id := range []string{claimed, cloned} {
		if _, err := f.admin.Exec(t.Context(), "GRANT "+pgx.Identifier{names.Database(id)}.Sanitize()+" TO "+pgx.Identifier{admin}.Sanitize()); err != nil {
			t.Fatal(err)
		}
	}
	busy := adminConn(t, "postgres")
	busyLock := postgres.LockID("customer:" + names.Database(cloned))
	if _, err := busy.Exec(t.Context(), "SELECT pg_advisory_lock($1)", busyLock); err != nil {
		t.Fatal(err)
	}
	openFixture(t, postgres.Config{AdminURL: adminURL})
	memberships("after a start while another replica works on a customer", names.Database(cloned))
	if _, err := busy.Exec(t.Context(), "SELECT pg_advisory_unlock($1)", busyLock); err != nil {
		t.Fatal(err)
	}
	openFixture(t, postgres.Config{AdminURL: adminURL})
	memberships("after the next start")
}
