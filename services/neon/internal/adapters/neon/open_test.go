package neon_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"clawdbot.cloud/services/neon/internal/adapters/neon"
	"clawdbot.cloud/services/neon/internal/app"
	"clawdbot.cloud/services/neon/internal/neontest"
)

func TestOpenChecksTheParent(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	for _, tc := range []struct {
		name      string
		configure func(*neon.Config)
		want      string
	}{
		{"wrong key", func(c *neon.Config) { c.APIKey = "nope" }, "401"},
		{"unknown parent", func(c *neon.Config) { c.ParentBranchID = "br-missing-1" }, "br-missing-1"},
		{"no such database", func(c *neon.Config) { c.DatabaseName = "other" }, "database other"},
		{"no such role", func(c *neon.Config) { c.RoleName = "other" }, "role other"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := f.srv.Settings()
			cfg := neon.Config{
				APIURL: s["NEON_API_URL"], APIKey: s["NEON_API_KEY"], ProjectID: s["NEON_PROJECT_ID"],
				ParentBranchID: s["NEON_PARENT_BRANCH_ID"], DatabaseName: dbName, RoleName: roleName, Secrets: f.secrets,
			}
			tc.configure(&cfg)
			_, err := neon.Open(t.Context(), cfg)
			if !errors.Is(err, app.ErrRejected) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open = %v, want a rejection naming %s", err, tc.want)
			}
		})
	}
}

func TestOpenListsEveryMissingSetting(t *testing.T) {
	t.Parallel()
	_, err := neon.Open(t.Context(), neon.Config{APIURL: "ftp://x"})
	if err == nil {
		t.Fatal("Open without settings succeeded")
	}
	for _, want := range []string{"API key", "project id", "parent branch id", "database name", "role name", "API URL", "secret store"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention the %s", err, want)
		}
	}
}

func TestPingReportsARefusedKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	if err := f.driver.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	f.srv.Inject(neontest.Fault{Operation: "listProjectBranches", Status: http.StatusUnauthorized})
	_, _ = f.driver.Create(t.Context(), f.newCustomer(t))
	if err := f.driver.Ping(t.Context()); err == nil {
		t.Error("Ping passes while Neon refuses the key")
	}
}
