package workspace_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/googletest"
	"clawdbot.cloud/pkg/googletoken"
	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/pkg/servicetest"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
)

// A downgrade re-renders the skills: the new plan's SKILL.md files and
// openclaw.json, no SKILL.md of a skill the plan lost, and the customer's
// own files and memories exactly as they were. A duplicate changes nothing.
func TestRenderSkillsOnDowngradeKeepsCustomerFiles(t *testing.T) {
	f := newFixture(t, nil)
	const cust, signup, change = "cus_Skills1", "signup-cs_test_skills", "plan-evt_downgrade"
	db := f.customerDB(cust)
	ctx := context.Background()

	f.send(subjects.CmdWorkspaceBuild, buildCmd(step(signup, cust, 1), plans.Team), step(signup, cust, 1))
	servicetest.WaitStep[pb.WorkspaceBuilt](t, f.events, subjects.WorkspaceBuilt, signup, 1, waitFor)
	if _, err := customerdb.AddMemory(ctx, db, "likes green tea", []string{"food"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	own := []customerdb.File{
		{Path: "USER.md", Content: "# Me\nI edited this myself.\n"},
		{Path: "notes/plan.md", Content: "my own notes"},
		{Path: "skills/my-own/SKILL.md", Content: "my own skill"},
	}
	if err := customerdb.PutFiles(ctx, db, own...); err != nil {
		t.Fatal(err)
	}
	before := workspaceFiles(t, db)

	st := &pb.Step{SagaId: change, CustomerId: cust, Name: "render_skills", Attempt: 1}
	cmd := &pb.RenderSkills{Step: st, Plan: plans.Starter, DatabaseRef: names.DatabaseRef(cust)}
	f.send(subjects.CmdWorkspaceSkills, cmd, st)
	got := servicetest.WaitStep[pb.SkillsRendered](t, f.events, subjects.SkillsRendered, change, 1, waitFor)
	if got.GetStep().GetName() != "render_skills" {
		t.Errorf("step not echoed: %v", got.GetStep())
	}
	after := workspaceFiles(t, db)
	starter, _ := plans.Lookup(plans.Starter)
	for _, s := range starter.Skills {
		if _, ok := after["skills/"+s+"/SKILL.md"]; !ok {
			t.Errorf("starter skill %s missing", s)
		}
	}
	for _, s := range []string{plans.SkillGmail, plans.SkillSlack, plans.SkillDocuments} {
		if _, ok := after["skills/"+s+"/SKILL.md"]; ok {
			t.Errorf("skill %s of the old plan still in the workspace", s)
		}
	}
	if after["openclaw.json"] == before["openclaw.json"] {
		t.Error("openclaw.json not re-rendered")
	}
	for path, content := range before {
		if path == "openclaw.json" || len(path) > 7 && path[:7] == "skills/" && path != "skills/my-own/SKILL.md" {
			continue
		}
		if after[path] != content {
			t.Errorf("customer file %s changed by the re-render", path)
		}
	}
	if after["skills/my-own/SKILL.md"] != "my own skill" {
		t.Error("the customer's own skill was touched")
	}
	// The running runtime follows the plan from the database.
	if plan, err := customerdb.StoredPlan(ctx, db); err != nil || plan != plans.Starter {
		t.Errorf("stored plan = %q, %v; want starter", plan, err)
	}
	mems, err := customerdb.ListMemories(ctx, db, 10, 0)
	if err != nil || len(mems) != 1 {
		t.Errorf("memories after re-render: %v, %v", mems, err)
	}

	// The saga retries the step: same files.
	st2 := &pb.Step{SagaId: change, CustomerId: cust, Name: "render_skills", Attempt: 2}
	f.send(subjects.CmdWorkspaceSkills, &pb.RenderSkills{Step: st2, Plan: plans.Starter, DatabaseRef: names.DatabaseRef(cust)}, st2)
	servicetest.WaitStep[pb.SkillsRendered](t, f.events, subjects.SkillsRendered, change, 2, waitFor)
	if diff := cmp.Diff(after, workspaceFiles(t, db)); diff != "" {
		t.Errorf("duplicate render changed the workspace (-first +second):\n%s", diff)
	}
}

// Revoking keys makes the customer's key useless; a duplicate is harmless.
// After the signup saga's workspace is deleted, a new saga of the same
// customer (a re-subscription) builds again.
func TestRevokeKeysAndRebuildByNewSaga(t *testing.T) {
	f := newFixture(t, nil)
	const cust, signup, cancel, again = "cus_Revoke1", "signup-cs_test_rv1", "cancel-evt_rv1", "signup-cs_test_rv2"
	db := f.customerDB(cust)

	f.send(subjects.CmdWorkspaceBuild, buildCmd(step(signup, cust, 1), plans.Pro), step(signup, cust, 1))
	servicetest.WaitStep[pb.WorkspaceBuilt](t, f.events, subjects.WorkspaceBuilt, signup, 1, waitFor)
	key := revealed(t, f, signup)
	if !keyWorks(t, db, key) {
		t.Fatal("key does not work after build")
	}

	for attempt := int32(1); attempt <= 2; attempt++ {
		st := &pb.Step{SagaId: cancel, CustomerId: cust, Name: "revoke_keys", Attempt: attempt}
		f.send(subjects.CmdWorkspaceRevoke, &pb.RevokeKeys{Step: st, DatabaseRef: names.DatabaseRef(cust)}, st)
		servicetest.WaitStep[pb.KeysRevoked](t, f.events, subjects.KeysRevoked, cancel, int(attempt), waitFor)
		if keyWorks(t, db, key) {
			t.Fatalf("key still works after revoke (attempt %d)", attempt)
		}
	}
	if n := countKeys(t, db); n != 1 {
		t.Errorf("%d keys stored, want the 1 revoked", n)
	}

	f.send(subjects.CmdWorkspaceDelete, &pb.DeleteWorkspace{Step: step(signup, cust, 1), DatabaseRef: names.DatabaseRef(cust)}, step(signup, cust, 1))
	servicetest.WaitStep[pb.WorkspaceDeleted](t, f.events, subjects.WorkspaceDeleted, signup, 1, waitFor)
	f.send(subjects.CmdWorkspaceBuild, buildCmd(step(again, cust, 1), plans.Starter), step(again, cust, 1))
	servicetest.WaitStep[pb.WorkspaceBuilt](t, f.events, subjects.WorkspaceBuilt, again, 1, waitFor)
	if !keyWorks(t, db, revealed(t, f, again)) {
		t.Error("the new saga's key does not work")
	}
	if keyWorks(t, db, key) {
		t.Error("the old key works again")
	}
}

// A returning customer's new saga builds again to issue a new key: their
// own files (memories, a BOOTSTRAP.md the agent deleted) stay as they are.
func TestRebuildKeepsTheCustomersFiles(t *testing.T) {
	f := newFixture(t, nil)
	const cust, first, again = "cus_Return1", "signup-cs_test_ret1", "signup-cs_test_ret2"
	db := f.customerDB(cust)
	f.send(subjects.CmdWorkspaceBuild, buildCmd(step(first, cust, 1), plans.Pro), step(first, cust, 1))
	servicetest.WaitStep[pb.WorkspaceBuilt](t, f.events, subjects.WorkspaceBuilt, first, 1, waitFor)

	ctx := context.Background()
	if _, err := db.Exec(ctx, `UPDATE workspace_files SET content = 'I remember the lighthouse.' WHERE path = 'MEMORY.md'`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `DELETE FROM workspace_files WHERE path = 'BOOTSTRAP.md'`); err != nil {
		t.Fatal(err)
	}
	f.send(subjects.CmdWorkspaceBuild, buildCmd(step(again, cust, 1), plans.Starter), step(again, cust, 1))
	servicetest.WaitStep[pb.WorkspaceBuilt](t, f.events, subjects.WorkspaceBuilt, again, 1, waitFor)

	var memory string
	if err := db.QueryRow(ctx, `SELECT content FROM workspace_files WHERE path = 'MEMORY.md'`).Scan(&memory); err != nil {
		t.Fatal(err)
	}
	if memory != "I remember the lighthouse." {
		t.Errorf("MEMORY.md = %q, the customer's memory was overwritten", memory)
	}
	var bootstrap bool
	if err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM workspace_files WHERE path = 'BOOTSTRAP.md')`).Scan(&bootstrap); err != nil {
		t.Fatal(err)
	}
	if bootstrap {
		t.Error("BOOTSTRAP.md came back for a returning customer")
	}
	var config string
	if err := db.QueryRow(ctx, `SELECT content FROM workspace_files WHERE path = 'openclaw.json'`).Scan(&config); err != nil {
		t.Fatal(err)
	}
	starter, err := plans.Lookup(plans.Starter)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(config, starter.Model) {
		t.Errorf("openclaw.json not re-rendered for the new plan: %s", config)
	}
	if !keyWorks(t, db, revealed(t, f, again)) {
		t.Error("the new saga's key does not work")
	}
}

// On cancellation the customer's Google grant is revoked at Google and its
// tokens deleted, with the keys; a duplicate command is harmless.
func TestRevokeKeysRevokesGoogle(t *testing.T) {
	g := googletest.New(t, googletest.Options{})
	f := newFixture(t, map[string]string{"GOOGLE_OAUTH_BASE_URL": g.URL})
	const cust, signup, cancel = "cus_RevokeG", "signup-cs_test_rg1", "cancel-evt_rg1"
	db := f.customerDB(cust)
	f.send(subjects.CmdWorkspaceBuild, buildCmd(step(signup, cust, 1), plans.Pro), step(signup, cust, 1))
	servicetest.WaitStep[pb.WorkspaceBuilt](t, f.events, subjects.WorkspaceBuilt, signup, 1, waitFor)

	const instanceToken = "instance-token-0123456789abcdefghijklmnop"
	f.putSecret(names.InstanceTokenRef(cust), instanceToken)
	tok := g.Grant(t, googletest.ScopeGmailReadonly)
	s, err := googletoken.NewSealer(instanceToken)
	if err != nil {
		t.Fatal(err)
	}
	err = customerdb.PutGoogleAccount(t.Context(), db, customerdb.GoogleAccount{Email: "ada@example.com", Scopes: []string{googletest.ScopeGmailReadonly},
		AccessToken: s.Seal("access", tok.AccessToken), RefreshToken: s.Seal("refresh", tok.RefreshToken), ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	for attempt := int32(1); attempt <= 2; attempt++ {
		st := &pb.Step{SagaId: cancel, CustomerId: cust, Name: "revoke_keys", Attempt: attempt}
		f.send(subjects.CmdWorkspaceRevoke, &pb.RevokeKeys{Step: st, DatabaseRef: names.DatabaseRef(cust)}, st)
		servicetest.WaitStep[pb.KeysRevoked](t, f.events, subjects.KeysRevoked, cancel, int(attempt), waitFor)
	}
	if g.Granted(tok.RefreshToken) || g.Count("revoke") != 1 {
		t.Errorf("the Google grant is still live (%d revocations)", g.Count("revoke"))
	}
	if _, err := customerdb.GoogleAccountFor(t.Context(), db); !errors.Is(err, customerdb.ErrNoGoogle) {
		t.Errorf("tokens after cancellation: %v", err)
	}
}
