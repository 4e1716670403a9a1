package pgdump

import (
	"slices"
	"strings"
	"testing"
)

// TestCredentialsGoInTheEnvironment: a Neon URI becomes libpq variables;
// the command line carries no credential.
func TestCredentialsGoInTheEnvironment(t *testing.T) {
	const uri = "postgresql://claw_app:npg_s3cret@ep-cool-1.eu-central-1.aws.neon.tech/clawdbot?sslmode=require&channel_binding=require"
	cmd, err := command(t.Context(), "/usr/lib/postgresql/17/bin", "pg_dump", uri, "--format=custom")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"PGHOST=ep-cool-1.eu-central-1.aws.neon.tech", "PGPORT=5432", "PGUSER=claw_app", "PGPASSWORD=npg_s3cret",
		"PGDATABASE=clawdbot", "PGSSLMODE=require", "PGCHANNELBINDING=require", "PGPASSFILE=/dev/null",
	} {
		if !slices.Contains(cmd.Env, want) {
			t.Errorf("environment lacks %s: %v", want, cmd.Env)
		}
	}
	if strings.Contains(strings.Join(cmd.Args, " "), "s3cret") {
		t.Errorf("the password is on the command line: %v", cmd.Args)
	}
	for _, bad := range []string{"mysql://a:b@h/d", "postgres:///nohost", "not a uri"} {
		if _, err := command(t.Context(), "/bin", "pg_dump", bad); err == nil || strings.Contains(err.Error(), "b@h") {
			t.Errorf("command(%q) = %v", bad, err)
		}
	}
	if _, err := command(t.Context(), "", "pg_dump", uri); err == nil {
		t.Error("no binaries, no error")
	}
}
