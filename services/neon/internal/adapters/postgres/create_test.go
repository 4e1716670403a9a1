package postgres_test

import (
	"net"
	"net/url"
	"strconv"
	"testing"

	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/services/neon/internal/adapters/postgres"
)

func TestMissingSecretResetsPassword(t *testing.T) {
	f := newFixture(t, "")
	id := f.newCustomer(t)
	db := f.create(t, id)
	oldURL := f.url(t, db)
	putMarker(t, oldURL)
	if err := f.secrets.Delete(t.Context(), db.Ref); err != nil {
		t.Fatal(err)
	}

	f.create(t, id)
	newURL := f.url(t, db)
	if newURL == oldURL {
		t.Fatal("the role kept its password although its URL was lost")
	}
	if err := connectErr(t, oldURL); sqlState(err) != "28P01" {
		t.Errorf("old URL after the reset: got %v, want password authentication failed", err)
	}
	var n int
	if err := connect(t, newURL).QueryRow(t.Context(), "SELECT count(*) FROM workspace_files WHERE path = 'marker'").Scan(&n); err != nil || n != 1 {
		t.Errorf("the database behind the new URL lost its data (count %d, err %v)", n, err)
	}
}

func TestStaleSecretIsReplaced(t *testing.T) {
	f := newFixture(t, "")
	id := f.newCustomer(t)
	db := f.create(t, id)
	u, _ := url.Parse(f.url(t, db))
	u.User = url.UserPassword(db.Name, "not-the-password")
	if err := f.secrets.Put(t.Context(), db.Ref, []byte(u.String())); err != nil {
		t.Fatal(err)
	}
	f.create(t, id)
	if err := connectErr(t, f.url(t, db)); err != nil {
		t.Errorf("the URL stored after repairing a stale one does not connect: %v", err)
	}
}

func TestRepeatedCreateKeepsTheURL(t *testing.T) {
	f := newFixture(t, "")
	id := f.newCustomer(t)
	db := f.create(t, id)
	first := f.url(t, db)
	f.create(t, id)
	if f.url(t, db) != first {
		t.Error("a repeated create changed a working URL")
	}
}

func TestTablesAreClosedToOtherCustomers(t *testing.T) {
	f := newFixture(t, "")
	a, b := f.create(t, f.newCustomer(t)), f.create(t, f.newCustomer(t))
	urlA := f.url(t, a)
	if err := connectErr(t, withDatabase(t, urlA, b.Name)); sqlState(err) != "42501" {
		t.Fatalf("A's credentials on B's database: got %v, want permission denied for database (42501)", err)
	}
	// Even if B's database let A in, B's tables would not.
	if _, err := f.admin.Exec(t.Context(), "GRANT CONNECT ON DATABASE "+b.Name+" TO "+a.Name); err != nil {
		t.Fatal(err)
	}
	conn := connect(t, withDatabase(t, urlA, b.Name))
	for _, table := range []string{"workspace_files", "api_keys", "usage_tracking"} {
		_, err := conn.Exec(t.Context(), "SELECT * FROM "+table)
		if sqlState(err) != "42501" {
			t.Errorf("A reading B's %s: got %v, want permission denied", table, err)
		}
	}
	if _, err := conn.Exec(t.Context(), "CREATE TABLE intruder (x int)"); sqlState(err) != "42501" {
		t.Errorf("A creating a table in B's database: got %v, want permission denied", err)
	}
}

func TestCustomerURL(t *testing.T) {
	admin, _ := url.Parse(pgtest.AdminURL(t))
	for _, tc := range []struct{ override, wantHost string }{
		{"", admin.Host},
		{"db.customers.internal", net.JoinHostPort("db.customers.internal", admin.Port())},
		{"db.example:6543", "db.example:6543"},
	} {
		t.Run(strconv.Quote(tc.override), func(t *testing.T) {
			f := newFixture(t, tc.override)
			db := f.create(t, f.newCustomer(t))
			u, err := url.Parse(f.url(t, db))
			if err != nil {
				t.Fatal("stored URL does not parse")
			}
			pw, _ := u.User.Password()
			if u.Scheme != "postgres" || u.Host != tc.wantHost || u.Path != "/"+db.Name || u.User.Username() != db.Name || len(pw) < 40 {
				t.Errorf("stored URL postgres://%s:<%d chars>@%s%s, want postgres://%s:<password>@%s/%s",
					u.User.Username(), len(pw), u.Host, u.Path, db.Name, tc.wantHost, db.Name)
			}
			if got, want := u.Query().Get("sslmode"), admin.Query().Get("sslmode"); got != want {
				t.Errorf("sslmode %q, want the admin URL's %q", got, want)
			}
		})
	}
}

func TestCustomerHostChangeRewritesURL(t *testing.T) {
	f := newFixture(t, "")
	id := f.newCustomer(t)
	db := f.create(t, id)
	before, _ := url.Parse(f.url(t, db))

	moved, err := postgres.Open(t.Context(), postgres.Config{AdminURL: pgtest.AdminURL(t), CustomerHost: "db.moved.example:5433", Secrets: f.secrets})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(moved.Close)
	if _, err := moved.Create(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	after, _ := url.Parse(f.url(t, db))
	if after.Host != "db.moved.example:5433" {
		t.Errorf("host %s, want db.moved.example:5433", after.Host)
	}
	pb, _ := before.User.Password()
	pa, _ := after.User.Password()
	if pa != pb {
		t.Error("moving the host changed a working password")
	}
}

func TestRejectsEmptyCustomer(t *testing.T) {
	f := newFixture(t, "")
	if _, err := f.driver.Create(t.Context(), ""); err == nil {
		t.Error("Create accepted an empty customer id")
	}
}

// putMarker writes a row through connURL.
func putMarker(t *testing.T, connURL string) {
	t.Helper()
	if _, err := connect(t, connURL).Exec(t.Context(), "INSERT INTO workspace_files (path, content) VALUES ('marker', 'm')"); err != nil {
		t.Fatal(err)
	}
}
