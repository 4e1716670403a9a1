package neon_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/url"
	"testing"

	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/pkg/secrets"
	"clawdbot.cloud/pkg/testbuf"
	"clawdbot.cloud/services/neon/internal/adapters/neon"
	"clawdbot.cloud/services/neon/internal/drivertest"
	"clawdbot.cloud/services/neon/internal/neontest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestContract(t *testing.T) {
	t.Parallel()
	runContract(t, newFixture)
}

// TestContractSharded runs the contract with PlaceSharded under a low
// branch limit, so the suite's customers span shards.
func TestContractSharded(t *testing.T) {
	t.Parallel()
	runContract(t, func(t *testing.T, _ func(*neon.Config)) *fixture {
		return newFixtureOn(t, neontest.Options{BranchLimit: 3}, func(c *neon.Config) {
			sharded(t)(c)
			c.BranchesPerProject = 3
		})
	})
}

// TestContractOwnProjects runs the contract with PlaceProject: a project
// per customer.
func TestContractOwnProjects(t *testing.T) {
	t.Parallel()
	runContract(t, func(t *testing.T, _ func(*neon.Config)) *fixture {
		return newFixture(t, func(c *neon.Config) {
			c.Placement, c.ProjectID, c.ParentBranchID = neon.PlaceProject, "", ""
		})
	})
}

func runContract(t *testing.T, newFixture func(*testing.T, func(*neon.Config)) *fixture) {
	drivertest.RunDriverContract(t, func(t *testing.T) drivertest.Subject {
		f := newFixture(t, nil)
		return drivertest.Subject{
			Driver:  f.driver,
			Secrets: f.secrets,
			Exists:  f.exists,
			// Every branch has the parent's database; the Postgres database
			// behind the customer's branch is what its URL must open.
			Database: func(customerID string) string {
				bs := f.srv.Branches(names.Database(customerID))
				if len(bs) != 1 {
					t.Fatalf("%d branches for %s, want 1", len(bs), customerID)
				}
				return bs[0].Database[dbName]
			},
			// Isolation is by branch: each has an endpoint of its own, so
			// A's credentials are tried on B's endpoint and database.
			Aim: func(t *testing.T, credsURL, targetURL string) string {
				creds, err := url.Parse(credsURL)
				if err != nil {
					t.Fatal("stored URL does not parse")
				}
				target, err := url.Parse(targetURL)
				if err != nil {
					t.Fatal("stored URL does not parse")
				}
				target.User = creds.User
				return target.String()
			},
		}
	})
}

// Names on the parent branch in every test.
const (
	dbName   = "clawdbot"
	roleName = "claw_app"
)

// fixture is a driver on its own test server and secret store.
type fixture struct {
	srv     *neontest.Server
	driver  *neon.Driver
	secrets *secrets.Store
	logs    *testbuf.Buffer
}

// newFixture starts a test server and opens a driver on it, waiting on the
// server's fake clock; configure may adjust the driver's configuration.
func newFixture(t *testing.T, configure func(*neon.Config)) *fixture {
	t.Helper()
	return newFixtureOn(t, neontest.Options{}, configure)
}

// newFixtureOn is newFixture with the test server's options (limits).
func newFixtureOn(t testing.TB, o neontest.Options, configure func(*neon.Config)) *fixture {
	t.Helper()
	o.AdminURL, o.DatabaseName, o.RoleName = pgtest.AdminURL(t), dbName, roleName
	srv := neontest.New(t, o)
	f := &fixture{srv: srv, secrets: newStore(t), logs: &testbuf.Buffer{}}
	cfg := neon.Config{
		APIURL:         srv.URL,
		APIKey:         srv.Settings()["NEON_API_KEY"],
		ProjectID:      srv.Settings()["NEON_PROJECT_ID"],
		ParentBranchID: srv.ParentBranchID(),
		DatabaseName:   dbName,
		RoleName:       roleName,
		Secrets:        f.secrets,
		Log:            slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Timing:         neon.Timing{Sleep: srv.Sleep},
	}
	if configure != nil {
		configure(&cfg)
	}
	d, err := neon.Open(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(d.Close)
	f.driver = d
	return f
}

func newStore(t testing.TB) *secrets.Store {
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
	return store
}

// exists reports whether the customer's branch holds the database and the
// role (both go with the branch).
func (f *fixture) exists(_ context.Context, customerID string) (database, role bool, err error) {
	for _, b := range f.srv.Branches(names.Database(customerID)) {
		_, database = b.Database[dbName]
		_, role = b.Passwords[roleName]
	}
	return database, role, nil
}

// newCustomer returns a fresh customer id whose branch is deleted when the
// test ends.
func (f *fixture) newCustomer(t testing.TB) string {
	t.Helper()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	id := "cus_N" + hex.EncodeToString(b)
	t.Cleanup(func() {
		if err := f.driver.Delete(context.WithoutCancel(t.Context()), id); err != nil {
			t.Errorf("cleanup: delete %s: %v", id, err)
		}
	})
	return id
}

// storedURL returns the customer's stored connection URI.
func (f *fixture) storedURL(t testing.TB, customerID string) string {
	t.Helper()
	u, err := f.secrets.Get(t.Context(), names.DatabaseRef(customerID))
	if err != nil {
		t.Fatalf("stored URL: %v", err)
	}
	return string(u)
}
