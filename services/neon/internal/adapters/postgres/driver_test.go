package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/pkg/secrets"
	"clawdbot.cloud/services/neon/internal/adapters/postgres"
	"clawdbot.cloud/services/neon/internal/drivertest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestContract(t *testing.T) {
	drivertest.RunDriverContract(t, func(t *testing.T) drivertest.Subject {
		f := newFixture(t, "")
		return drivertest.Subject{Driver: f.driver, Secrets: f.secrets, Exists: f.exists}
	})
}

// fixture is a driver on the test server with its own secret store.
type fixture struct {
	driver  *postgres.Driver
	secrets *secrets.Store
	admin   *pgxpool.Pool // superuser, database postgres
}

func newFixture(t *testing.T, customerHost string) *fixture {
	t.Helper()
	return openFixture(t, postgres.Config{CustomerHost: customerHost})
}

// openFixture is newFixture with more of the driver's configuration: its
// AdminURL and Secrets are the fixture's own.
func openFixture(t testing.TB, cfg postgres.Config) *fixture {
	t.Helper()
	key, err := secrets.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := secrets.ParseKey(key)
	if err != nil {
		t.Fatal(err)
	}
	store, err := secrets.Open(t.Context(), pgtest.NewPool(t), raw)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AdminURL == "" {
		cfg.AdminURL = pgtest.AdminURL(t)
	}
	cfg.Secrets = store
	d, err := postgres.Open(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(d.Close)
	return &fixture{driver: d, secrets: store, admin: pgtest.AdminPool(t)}
}

// exists reports whether the customer's database and role exist.
func (f *fixture) exists(ctx context.Context, customerID string) (database, role bool, err error) {
	name := names.Database(customerID)
	err = f.admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1),
		EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, name).Scan(&database, &role)
	return database, role, err
}
