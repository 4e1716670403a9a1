package main

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"clawdbot.cloud/pkg/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestDBBootstrap: `clawctl db bootstrap` creates the roles idempotently and
// `clawctl db url` prints a URL that logs in as the service's role, which
// is not a superuser; without the role secret both refuse with exit 2.
func TestDBBootstrap(t *testing.T) {
	adminURL := pgtest.NewDatabase(t)
	if _, _, code := runCLI(t, "", false, "db", "bootstrap", "--control-admin-url", adminURL); code != 2 {
		t.Fatalf("bootstrap without %s: exit %d, want 2", roleSecretEnv, code)
	}
	t.Setenv(roleSecretEnv, "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	for range 2 {
		out, errOut, code := runCLI(t, "", false, "db", "bootstrap", "--control-admin-url", adminURL)
		if code != 0 || !strings.Contains(out, "role clawsvc_saga") {
			t.Fatalf("bootstrap: exit %d\n%s%s", code, out, errOut)
		}
	}
	out, errOut, code := runCLI(t, "", false, "db", "url", "saga", "--base", adminURL)
	if code != 0 {
		t.Fatalf("url: exit %d %s", code, errOut)
	}
	conn, err := pgx.Connect(context.Background(), strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("the printed URL does not log in: %v", err)
	}
	defer conn.Close(context.Background()) //nolint:errcheck
	var user string
	var super bool
	if err := conn.QueryRow(context.Background(), `SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&user, &super); err != nil {
		t.Fatal(err)
	}
	if user != "clawsvc_saga" || super {
		t.Errorf("logged in as %s (superuser %v), want clawsvc_saga", user, super)
	}
	if _, _, code := runCLI(t, "", false, "db", "url", "nosuch"); code != 2 {
		t.Errorf("url of an unknown service: exit %d, want 2", code)
	}
}
