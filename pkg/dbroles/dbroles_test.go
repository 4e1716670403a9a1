package dbroles_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"clawdbot.cloud/pkg/dbroles"
	"clawdbot.cloud/pkg/migrate"
	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/pkg/secrets"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// roleSecret is the platform secret of these tests.
var roleSecret = []byte("0123456789abcdef0123456789abcdef")

// roles is these tests' role set, under a prefix of their own: roles
// belong to the server, which other test binaries may share.
var roles = dbroles.Set{Prefix: "clawsvc_t" + strconv.Itoa(os.Getpid()) + "_", Secret: roleSecret}

// bootstrapped returns the superuser URL of a fresh database bootstrapped
// twice (the second run must change nothing that matters).
func bootstrapped(t *testing.T) string {
	t.Helper()
	adminURL := pgtest.NewDatabase(t)
	admin, err := pgx.Connect(t.Context(), adminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background()) //nolint:errcheck
	for range 2 {
		if err := roles.Bootstrap(t.Context(), admin); err != nil {
			t.Fatalf("Bootstrap: %v", err)
		}
	}
	return adminURL
}

// pool connects to connURL, closed when the test ends.
func pool(t *testing.T, connURL string) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(t.Context(), connURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// servicePool connects as the service's role.
func servicePool(t *testing.T, adminURL, service string) *pgxpool.Pool {
	t.Helper()
	u, err := roles.URL(adminURL, roles.Role(service))
	if err != nil {
		t.Fatal(err)
	}
	p := pool(t, u)
	if err := p.Ping(t.Context()); err != nil {
		t.Fatalf("%s logs in with its derived password: %v", service, err)
	}
	return p
}

func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// TestServiceRolesOwnOnlyTheirSchemas proves each service's role migrates
// its own schema and cannot read, write or create anywhere else: another
// service's schema, schema public, a new schema.
func TestServiceRolesOwnOnlyTheirSchemas(t *testing.T) {
	adminURL := bootstrapped(t)
	pools := map[string]*pgxpool.Pool{}
	for _, s := range dbroles.Services {
		sp := servicePool(t, adminURL, s.Name)
		pools[s.Name] = sp
		for _, schema := range s.Schemas {
			fsys := fstest.MapFS{"0001_init.sql": {Data: []byte("CREATE TABLE private (v text); INSERT INTO private VALUES ('" + s.Name + "');")}}
			if err := migrate.Apply(t.Context(), sp, schema, fsys); err != nil {
				t.Fatalf("%s migrating its own schema %s: %v", s.Name, schema, err)
			}
		}
	}
	for _, s := range dbroles.Services {
		var role string
		var super, createRole, createDB, bypass bool
		err := pools[s.Name].QueryRow(t.Context(), `SELECT current_user, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls
			FROM pg_roles WHERE rolname = current_user`).Scan(&role, &super, &createRole, &createDB, &bypass)
		if err != nil {
			t.Fatal(err)
		}
		if role != roles.Role(s.Name) || super || createRole || createDB || bypass {
			t.Errorf("%s runs as %s (superuser %v, createrole %v, createdb %v, bypassrls %v)", s.Name, role, super, createRole, createDB, bypass)
		}
		for _, other := range dbroles.Services {
			if other.Name == s.Name {
				continue
			}
			for _, schema := range other.Schemas {
				if _, err := pools[s.Name].Exec(t.Context(), "SELECT * FROM "+schema+".private"); sqlState(err) != "42501" {
					t.Errorf("%s reading %s's schema %s: got %v, want permission denied (42501)", s.Name, other.Name, schema, err)
				}
				if _, err := pools[s.Name].Exec(t.Context(), "CREATE TABLE "+schema+".intruder (v int)"); sqlState(err) != "42501" {
					t.Errorf("%s creating in %s's schema: got %v, want permission denied", s.Name, other.Name, err)
				}
			}
		}
		for _, q := range []string{"CREATE TABLE public.intruder (v int)", "CREATE SCHEMA intruder", "CREATE TEMP TABLE intruder (v int)"} {
			if _, err := pools[s.Name].Exec(t.Context(), q); sqlState(err) != "42501" {
				t.Errorf("%s: %s: got %v, want permission denied", s.Name, q, err)
			}
		}
	}
}

// TestSecretsAreRestrictedByPrefix proves row-level security on the secret
// store: each service sees, writes and deletes only the references its
// Access lists, through the real pkg/secrets store.
func TestSecretsAreRestrictedByPrefix(t *testing.T) {
	adminURL := bootstrapped(t)
	ctx := t.Context()
	key := []byte("fedcba9876543210fedcba9876543210")
	admin, err := secrets.Open(ctx, pool(t, adminURL), key)
	if err != nil {
		t.Fatal(err)
	}
	refs := []string{"db/cus_1", "apikey/signup-1", "instance-token/cus_1", "other/x"}
	for _, ref := range refs {
		if err := admin.Put(ctx, ref, []byte("value of "+ref)); err != nil {
			t.Fatal(err)
		}
	}
	allowed := func(s dbroles.Service, ref, cmd string) bool {
		for _, a := range s.Secrets {
			if strings.HasPrefix(ref, a.Prefix) && slices.Contains(a.Commands, cmd) {
				return true
			}
		}
		return false
	}
	for _, s := range dbroles.Services {
		t.Run(s.Name, func(t *testing.T) {
			store, err := secrets.Open(ctx, servicePool(t, adminURL, s.Name), key)
			if err != nil {
				t.Fatalf("secrets.Open as %s: %v", s.Name, err)
			}
			for _, ref := range refs {
				_, err := store.Get(ctx, ref)
				if allowed(s, ref, "SELECT") != (err == nil) {
					t.Errorf("%s reading %s: err %v, allowed %v", s.Name, ref, err, allowed(s, ref, "SELECT"))
				}
				if !allowed(s, ref, "SELECT") && !errors.Is(err, secrets.ErrNotFound) {
					t.Errorf("%s reading %s: %v, want not found (the row is invisible)", s.Name, ref, err)
				}
				newRef := ref + "-" + s.Name
				err = store.Put(ctx, newRef, []byte("x"))
				if canWrite := allowed(s, ref, "INSERT"); canWrite != (err == nil) {
					t.Errorf("%s writing %s: err %v, allowed %v", s.Name, newRef, err, canWrite)
				}
				if err != nil && sqlState(err) != "42501" {
					t.Errorf("%s writing %s: %v, want a row-level security refusal (42501)", s.Name, newRef, err)
				}
			}
		})
	}
	// Deletes: only a role with DELETE on the prefix removes anything.
	for _, s := range dbroles.Services {
		sp := servicePool(t, adminURL, s.Name)
		for _, ref := range refs {
			tag, err := sp.Exec(ctx, `DELETE FROM secrets.secrets WHERE ref = $1`, ref)
			if err != nil && sqlState(err) != "42501" {
				t.Fatal(err)
			}
			if tag.RowsAffected() > 0 && !allowed(s, ref, "DELETE") {
				t.Errorf("%s deleted %s", s.Name, ref)
			}
			if tag.RowsAffected() > 0 {
				if err := admin.Put(ctx, ref, []byte("value of "+ref)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if _, err := admin.Get(ctx, "other/x"); err != nil {
		t.Errorf("a secret no service may touch: %v", err)
	}
}

// TestPasswordsAreDerived proves the password is a function of the secret
// and the role, and that a short secret is refused.
func TestPasswordsAreDerived(t *testing.T) {
	a, _ := dbroles.Password(roleSecret, "clawsvc_saga")
	b, _ := dbroles.Password(roleSecret, "clawsvc_saga")
	c, _ := dbroles.Password(roleSecret, "clawsvc_web")
	d, _ := dbroles.Password([]byte("another secret, 32 bytes or more!"), "clawsvc_saga")
	if a != b || a == c || a == d || len(a) < 40 {
		t.Errorf("derived passwords: %q %q %q %q", a, b, c, d)
	}
	if _, err := dbroles.Password([]byte("short"), "clawsvc_saga"); !errors.Is(err, dbroles.ErrShortSecret) {
		t.Errorf("a short secret: %v", err)
	}
}
