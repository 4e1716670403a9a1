package postgres_test

import (
	"sync"
	"testing"

	"clawdbot.cloud/services/neon/internal/adapters/postgres"
)

// TestOpenMovesTheTemplateOffItsRole covers clusters prepared by earlier
// builds, whose template database belongs to the template role: a create
// meanwhile gives the template back instead of leaving it to the customer,
// and the next Open moves it to the admin role.
func TestOpenMovesTheTemplateOffItsRole(t *testing.T) {
	f := newFixture(t, "")
	ctx := t.Context()
	if _, err := f.admin.Exec(ctx, "ALTER DATABASE "+postgres.TemplateDatabase+" OWNER TO "+postgres.TemplateOwner); err != nil {
		t.Fatal(err)
	}
	db := f.create(t, f.newCustomer(t))
	var owner string
	if err := f.admin.QueryRow(ctx, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1",
		postgres.TemplateDatabase).Scan(&owner); err != nil {
		t.Fatal(err)
	}
	if owner == db.Name {
		t.Fatalf("the template database was handed to customer role %s", db.Name)
	}

	g := newFixture(t, "") // opens a second driver, which moves the template
	checkTemplate(t, g)
	g.create(t, g.newCustomer(t))
	checkTemplate(t, g)
}

// TestConcurrentCreatesOfDifferentCustomers clones the template for several
// customers at once: every database ends up with its own role's objects and
// the template stays as it was.
func TestConcurrentCreatesOfDifferentCustomers(t *testing.T) {
	f := newFixture(t, "")
	ids := make([]string, 8)
	for i := range ids {
		ids[i] = f.newCustomer(t)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(ids))
	for i, id := range ids {
		wg.Go(func() {
			_, errs[i] = f.driver.Create(t.Context(), id)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Create #%d: %v", i+1, err)
		}
	}
	checkTemplate(t, f)
	for _, id := range ids {
		db := f.create(t, id) // repeated: finds everything in place
		var n int
		err := connect(t, f.url(t, db)).QueryRow(t.Context(), `SELECT count(*) FROM pg_class
			WHERE relnamespace = 'public'::regnamespace AND relowner <> (SELECT oid FROM pg_roles WHERE rolname = current_user)`).Scan(&n)
		if err != nil || n != 0 {
			t.Errorf("database %s: %d relations not owned by its role (err %v)", db.Name, n, err)
		}
	}
}
