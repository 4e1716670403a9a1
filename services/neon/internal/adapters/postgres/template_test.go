package postgres_test

import (
	"strconv"
	"strings"
	"sync"
	"testing"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/pkg/secrets"
	"clawdbot.cloud/services/neon/internal/adapters/postgres"
)

// checkTemplate checks the template is a closed, up-to-date template owned
// by the admin role, not by the template role (see postgres.TemplateOwner).
func checkTemplate(t *testing.T, f *fixture) {
	t.Helper()
	var owner, admin, comment string
	var isTemplate, allowConn bool
	err := f.admin.QueryRow(t.Context(), `SELECT pg_get_userbyid(datdba), current_user, datistemplate, datallowconn,
		coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database WHERE datname = $1`,
		postgres.TemplateDatabase).Scan(&owner, &admin, &isTemplate, &allowConn, &comment)
	if err != nil {
		t.Fatalf("inspect template: %v", err)
	}
	if owner != admin || !isTemplate || allowConn {
		t.Errorf("template: owner %s, is_template %v, allow_connections %v; want %s, true, false",
			owner, isTemplate, allowConn, admin)
	}
	if want := strconv.Itoa(customerdb.LatestVersion()); !strings.HasSuffix(comment, "version "+want) {
		t.Errorf("template comment %q does not record customerdb version %s", comment, want)
	}
}

func TestTemplateIsPreparedAndKeptAfterCreates(t *testing.T) {
	f := newFixture(t, "")
	checkTemplate(t, f)
	id := f.newCustomer(t)
	db := f.create(t, id)

	// REASSIGN OWNED in the clone must not have touched the template.
	checkTemplate(t, f)

	conn := adminConn(t, db.Name)
	var leftover int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE pg_get_userbyid(c.relowner) = $1`, postgres.TemplateOwner).Scan(&leftover); err != nil {
		t.Fatal(err)
	}
	if leftover != 0 {
		t.Errorf("%d relations in the customer database still belong to %s", leftover, postgres.TemplateOwner)
	}
	// Nothing in the clone refers to the template role any more: no owner,
	// no privilege.
	if err := f.admin.QueryRow(t.Context(), `SELECT count(*) FROM pg_shdepend s JOIN pg_database db ON db.oid = s.dbid
		WHERE db.datname = $1 AND s.refobjid = (SELECT oid FROM pg_roles WHERE rolname = $2)`,
		db.Name, postgres.TemplateOwner).Scan(&leftover); err != nil {
		t.Fatal(err)
	}
	if leftover != 0 {
		t.Errorf("%d objects or privileges in the customer database still refer to %s", leftover, postgres.TemplateOwner)
	}
	var schemaOwner string
	if err := conn.QueryRow(t.Context(), `SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'public'`).Scan(&schemaOwner); err != nil {
		t.Fatal(err)
	}
	if schemaOwner != db.Name && schemaOwner != "pg_database_owner" {
		t.Errorf("schema public belongs to %s, want the customer's role %s", schemaOwner, db.Name)
	}
	for _, table := range []string{"workspace_files", "api_keys", "usage_tracking", "schema_migrations"} {
		var owner string
		if err := conn.QueryRow(t.Context(), `SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = to_regclass($1)`, table).Scan(&owner); err != nil {
			t.Fatalf("owner of %s: %v", table, err)
		}
		if owner != db.Name {
			t.Errorf("table %s belongs to %s, want the customer's role %s", table, owner, db.Name)
		}
	}
	var super, createDB, createRole bool
	if err := f.admin.QueryRow(t.Context(), `SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = $1`,
		db.Name).Scan(&super, &createDB, &createRole); err != nil {
		t.Fatal(err)
	}
	if super || createDB || createRole {
		t.Errorf("customer role: superuser %v, createdb %v, createrole %v; want none", super, createDB, createRole)
	}
}

func TestConcurrentOpens(t *testing.T) {
	store, err := secrets.Open(t.Context(), pgtest.NewPool(t), make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			d, err := postgres.Open(t.Context(), postgres.Config{AdminURL: pgtest.AdminURL(t), Secrets: store})
			if err == nil {
				d.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open #%d: %v", i+1, err)
		}
	}
}

func TestOpenMigratesAnOutdatedTemplate(t *testing.T) {
	f := newFixture(t, "")
	// Make the template look like one from an older build that lacked
	// migration 0001: its tables gone, its version unrecorded (later
	// migrations stay recorded, so only 0001 is applied again). The open
	// connection also keeps anyone from cloning the damaged template meanwhile.
	ctx := t.Context()
	if _, err := f.admin.Exec(ctx, "ALTER DATABASE "+postgres.TemplateDatabase+" WITH ALLOW_CONNECTIONS true"); err != nil {
		t.Fatal(err)
	}
	conn := adminConn(t, postgres.TemplateDatabase)
	for _, q := range []string{"DROP TABLE api_keys, workspace_files, usage_tracking", "DELETE FROM schema_migrations WHERE version = 1"} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if _, err := f.admin.Exec(ctx, "COMMENT ON DATABASE "+postgres.TemplateDatabase+" IS 'customerdb version 0'"); err != nil {
		t.Fatal(err)
	}

	g := newFixture(t, "") // opens a second driver, which re-migrates
	var owner *string
	if err := conn.QueryRow(ctx, "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = to_regclass('api_keys')").Scan(&owner); err != nil {
		t.Fatal(err)
	}
	if owner == nil || *owner != postgres.TemplateOwner {
		t.Errorf("after Open the template's api_keys belongs to %v, want %s", owner, postgres.TemplateOwner)
	}
	conn.Close(ctx) //nolint:errcheck
	checkTemplate(t, g)
	g.create(t, g.newCustomer(t))
}
