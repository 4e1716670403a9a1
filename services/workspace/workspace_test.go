package workspace_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"clawdbot.cloud/pkg/apikey"
	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/pkg/secrets"
	"clawdbot.cloud/pkg/servicetest"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
)

func buildCmd(st *pb.Step, plan string) *pb.BuildWorkspace {
	return &pb.BuildWorkspace{
		Step:        st,
		Plan:        plan,
		Name:        "Ada Lovelace",
		Email:       "ada@example.com",
		Timezone:    "Europe/London",
		DatabaseRef: names.DatabaseRef(st.GetCustomerId()),
	}
}

func TestBuildThenRebuildThenDelete(t *testing.T) {
	f := newFixture(t, nil)
	const cust, saga = "cus_Ada1", "signup-cs_test_ada"
	db := f.customerDB(cust)
	ctx := context.Background()

	f.send(subjects.CmdWorkspaceBuild, buildCmd(step(saga, cust, 1), plans.Pro), step(saga, cust, 1))
	built := servicetest.WaitStep[pb.WorkspaceBuilt](t, f.events, subjects.WorkspaceBuilt, saga, 1, waitFor)

	if built.GetApiKeyRef() != names.APIKeyRevealRef(saga) {
		t.Errorf("api_key_ref = %q, want %q", built.GetApiKeyRef(), names.APIKeyRevealRef(saga))
	}
	files := workspaceFiles(t, db)
	if int(built.GetFiles()) != len(files) {
		t.Errorf("event says %d files, database has %d", built.GetFiles(), len(files))
	}
	if _, ok := files["AGENTS.md"]; !ok {
		t.Error("AGENTS.md not delivered")
	}
	if !strings.Contains(files["USER.md"], "Ada") {
		t.Errorf("USER.md does not name the customer:\n%s", files["USER.md"])
	}
	pro, _ := plans.Lookup(plans.Pro)
	for _, skill := range pro.Skills {
		if _, ok := files["skills/"+skill+"/SKILL.md"]; !ok {
			t.Errorf("skill %s of the pro plan not delivered", skill)
		}
	}
	if _, ok := files["skills/"+plans.SkillSlack+"/SKILL.md"]; ok {
		t.Error("team-only skill slack delivered to a pro workspace")
	}

	// The key: plaintext only in the secret store, its hash in the database.
	key := revealed(t, f, saga)
	if !apikey.Valid(key) {
		t.Fatalf("revealed key is not a well-formed key")
	}
	if built.GetApiKeyPrefix() != apikey.Prefix(key) {
		t.Errorf("api_key_prefix = %q, want %q", built.GetApiKeyPrefix(), apikey.Prefix(key))
	}
	if !keyWorks(t, db, key) {
		t.Error("the revealed key's hash is not an active key in the customer database")
	}
	if n := countKeys(t, db); n != 1 {
		t.Errorf("%d api keys stored, want 1", n)
	}
	assertNoLeak(t, f, key)

	// A retried command (the saga's attempt 2) reports the same build.
	f.send(subjects.CmdWorkspaceBuild, buildCmd(step(saga, cust, 2), plans.Pro), step(saga, cust, 2))
	again := servicetest.WaitStep[pb.WorkspaceBuilt](t, f.events, subjects.WorkspaceBuilt, saga, 2, waitFor)
	if again.GetApiKeyPrefix() != built.GetApiKeyPrefix() || again.GetFiles() != built.GetFiles() {
		t.Errorf("rebuild reported %d files, key %s; first build %d files, key %s",
			again.GetFiles(), again.GetApiKeyPrefix(), built.GetFiles(), built.GetApiKeyPrefix())
	}
	if got := revealed(t, f, saga); got != key {
		t.Error("rebuild changed the key waiting for reveal")
	}
	if n := countKeys(t, db); n != 1 {
		t.Errorf("after rebuild %d api keys stored, want 1", n)
	}
	if n := len(workspaceFiles(t, db)); n != len(files) {
		t.Errorf("after rebuild %d files, want %d", n, len(files))
	}
	if got := servicetest.Counter(t, f.svc.Metrics, "claw_step_commands_total", buildResult("ok")); got != 1 {
		t.Errorf("builds done = %v, want 1", got)
	}

	// Compensation.
	f.send(subjects.CmdWorkspaceDelete, &pb.DeleteWorkspace{Step: step(saga, cust, 1), DatabaseRef: names.DatabaseRef(cust)}, step(saga, cust, 1))
	servicetest.WaitStep[pb.WorkspaceDeleted](t, f.events, subjects.WorkspaceDeleted, saga, 1, waitFor)
	if n := len(workspaceFiles(t, db)); n != 0 {
		t.Errorf("%d files left after delete", n)
	}
	if keyWorks(t, db, key) {
		t.Error("key still active after delete")
	}
	if _, err := f.saga.Secrets.Get(ctx, names.APIKeyRevealRef(saga)); !errors.Is(err, secrets.ErrNotFound) {
		t.Errorf("reveal secret after delete: err = %v, want ErrNotFound", err)
	}

	// A build of the deleted saga replayed later is refused.
	f.send(subjects.CmdWorkspaceBuild, buildCmd(step(saga, cust, 3), plans.Pro), step(saga, cust, 3))
	failed := servicetest.WaitStep[pb.StepFailed](t, f.events, subjects.WorkspaceFailed, saga, 1, waitFor)
	if !strings.Contains(failed.GetReason(), "deleted") {
		t.Errorf("reason = %q, want it to say the workspace was deleted", failed.GetReason())
	}
	if n := len(workspaceFiles(t, db)); n != 0 {
		t.Errorf("replayed build after delete wrote %d files", n)
	}
	assertNoLeak(t, f, key)
}

// An attempt that stored the reveal secret but crashed before recording the
// build is finished with that same key.
func TestBuildReusesPendingRevealKey(t *testing.T) {
	f := newFixture(t, nil)
	const cust, saga = "cus_Grace", "signup-cs_test_grace"
	db := f.customerDB(cust)
	key, err := apikey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	f.putSecret(names.APIKeyRevealRef(saga), key)

	f.send(subjects.CmdWorkspaceBuild, buildCmd(step(saga, cust, 1), plans.Starter), step(saga, cust, 1))
	built := servicetest.WaitStep[pb.WorkspaceBuilt](t, f.events, subjects.WorkspaceBuilt, saga, 1, waitFor)
	if built.GetApiKeyPrefix() != apikey.Prefix(key) {
		t.Errorf("api_key_prefix = %q, want the pending key's %q", built.GetApiKeyPrefix(), apikey.Prefix(key))
	}
	if !keyWorks(t, db, key) {
		t.Error("pending key not added to the customer database")
	}
	if n := countKeys(t, db); n != 1 {
		t.Errorf("%d api keys stored, want 1", n)
	}
	files := workspaceFiles(t, db)
	if _, ok := files["skills/"+plans.SkillGmail+"/SKILL.md"]; ok {
		t.Error("pro-only skill gmail delivered to a starter workspace")
	}
	assertNoLeak(t, f, key)
}

func revealed(t *testing.T, f *fixture, sagaID string) string {
	t.Helper()
	b, err := f.saga.Secrets.Get(context.Background(), names.APIKeyRevealRef(sagaID))
	if err != nil {
		t.Fatalf("reveal secret: %v", err)
	}
	return string(b)
}

func workspaceFiles(t *testing.T, db *pgxpool.Pool) map[string]string {
	t.Helper()
	files, err := customerdb.ReadWorkspace(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]string, len(files))
	for _, f := range files {
		out[f.Path] = f.Content
	}
	return out
}

func keyWorks(t *testing.T, db *pgxpool.Pool, key string) bool {
	t.Helper()
	ok, err := customerdb.CheckAPIKey(context.Background(), db, apikey.Hash(key))
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func countKeys(t *testing.T, db *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), "SELECT count(*) FROM api_keys").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// assertNoLeak checks the plaintext key is in no message on the bus, the
// dead-letter stream included.
func assertNoLeak(t *testing.T, f *fixture, key string) {
	t.Helper()
	if subs := leaks(f.events, key); len(subs) > 0 {
		t.Errorf("plaintext API key found in messages on %v", subs)
	}
	if subs := leaks(f.events, key[len(apikey.KeyPrefix):]); len(subs) > 0 {
		t.Errorf("API key secret part found in messages on %v", subs)
	}
}
