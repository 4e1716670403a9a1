package postgres_test

import (
	"context"
	"os"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"

	"clawdbot.cloud/pkg/dbroles"
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
