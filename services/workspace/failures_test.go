package workspace_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/pkg/servicetest"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
)

func TestBuildFailsForGood(t *testing.T) {
	f := newFixture(t, nil)
	const cust = "cus_Fail"
	db := f.customerDB(cust)

	tests := []struct {
		name       string
		cmd        func(*pb.Step) *pb.BuildWorkspace
		wantReason string
	}{
		{"unknown plan", func(st *pb.Step) *pb.BuildWorkspace { return buildCmd(st, "enterprise") }, "unknown plan"},
		{"plan in the wrong case", func(st *pb.Step) *pb.BuildWorkspace { return buildCmd(st, "Pro") }, "unknown plan"},
		{"another customer's database", func(st *pb.Step) *pb.BuildWorkspace {
			c := buildCmd(st, plans.Pro)
			c.DatabaseRef = names.DatabaseRef("cus_Other")
			return c
		}, "not the database of customer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			saga := "signup-" + strings.ReplaceAll(tt.name, " ", "_")
			st := step(saga, cust, 1)
			f.send(subjects.CmdWorkspaceBuild, tt.cmd(st), st)
			failed := servicetest.WaitStep[pb.StepFailed](t, f.events, subjects.WorkspaceFailed, saga, 1, waitFor)
			if !strings.Contains(failed.GetReason(), tt.wantReason) {
				t.Errorf("reason = %q, want it to contain %q", failed.GetReason(), tt.wantReason)
			}
			if failed.GetStep().GetAttempt() != 1 || failed.GetStep().GetCustomerId() != cust {
				t.Errorf("failed event does not echo the step: %v", failed.GetStep())
			}
			servicetest.Eventually(t, waitFor, "the command dead-lettered", func() bool { return len(f.events.DeadLettersOf(saga)) == 1 })
			if n := len(servicetest.Steps[pb.WorkspaceBuilt](t, f.events, subjects.WorkspaceBuilt, saga)); n != 0 {
				t.Errorf("%d workspace.built for a failed build", n)
			}
		})
	}
	if n := len(workspaceFiles(t, db)); n != 0 {
		t.Errorf("failed builds wrote %d files", n)
	}
	if n := countKeys(t, db); n != 0 {
		t.Errorf("failed builds stored %d keys", n)
	}
}

func TestBuildWithoutDatabaseSecretFails(t *testing.T) {
	f := newFixture(t, nil)
	const cust, saga = "cus_NoDB", "signup-nodb"
	st := step(saga, cust, 1)
	f.send(subjects.CmdWorkspaceBuild, buildCmd(st, plans.Starter), st)
	failed := servicetest.WaitStep[pb.StepFailed](t, f.events, subjects.WorkspaceFailed, saga, 1, waitFor)
	if !strings.Contains(failed.GetReason(), names.DatabaseRef(cust)) {
		t.Errorf("reason = %q, want it to name the missing secret", failed.GetReason())
	}
}

// An unreachable database is retried, and the build succeeds once the
// database answers.
func TestBuildRetriesUnreachableDatabase(t *testing.T) {
	f := newFixture(t, map[string]string{"WORKSPACE_DB_CONNECT_TIMEOUT": "1s"})
	const cust, saga = "cus_Later", "signup-later"
	const secretPassword = "hunter2-not-for-logs"
	// Port 1 on loopback refuses connections at once.
	f.putSecret(names.DatabaseRef(cust), "postgres://claw:"+secretPassword+"@127.0.0.1:1/claw?sslmode=disable")
	st := step(saga, cust, 1)
	f.send(subjects.CmdWorkspaceBuild, buildCmd(st, plans.Team), st)

	servicetest.Eventually(t, waitFor, "a retried build", func() bool {
		return servicetest.Counter(t, f.svc.Metrics, "claw_step_commands_total", buildResult("retry")) >= 1
	})
	if n := len(servicetest.Steps[pb.StepFailed](t, f.events, subjects.WorkspaceFailed, saga)); n != 0 {
		t.Fatalf("an unreachable database failed the step for good")
	}

	db := f.customerDB(cust) // the database comes up and its URL is stored
	servicetest.WaitStep[pb.WorkspaceBuilt](t, f.events, subjects.WorkspaceBuilt, saga, 1, waitFor)
	files := workspaceFiles(t, db)
	team, _ := plans.Lookup(plans.Team)
	for _, skill := range team.Skills {
		if _, ok := files["skills/"+skill+"/SKILL.md"]; !ok {
			t.Errorf("skill %s of the team plan not delivered", skill)
		}
	}
	if subs := leaks(f.events, secretPassword); len(subs) > 0 {
		t.Errorf("database password found in messages on %v", subs)
	}
}

func TestDeleteWithoutDatabaseSucceeds(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()

	t.Run("no stored URL", func(t *testing.T) {
		st := step("signup-never", "cus_Never", 1)
		f.send(subjects.CmdWorkspaceDelete, &pb.DeleteWorkspace{Step: st}, st)
		servicetest.WaitStep[pb.WorkspaceDeleted](t, f.events, subjects.WorkspaceDeleted, "signup-never", 1, waitFor)
	})
	t.Run("database dropped", func(t *testing.T) {
		const cust = "cus_Dropped"
		db := f.customerDB(cust)
		var name string
		if err := db.QueryRow(ctx, "SELECT current_database()").Scan(&name); err != nil {
			t.Fatal(err)
		}
		db.Close()
		url, err := f.saga.Secrets.Get(ctx, names.DatabaseRef(cust))
		if err != nil {
			t.Fatal(err)
		}
		// Point the secret at a database of that server that does not exist.
		f.putSecret(names.DatabaseRef(cust), strings.Replace(string(url), "/"+name, "/"+name+"_gone", 1))
		st := step("signup-dropped", cust, 1)
		f.send(subjects.CmdWorkspaceDelete, &pb.DeleteWorkspace{Step: st, DatabaseRef: names.DatabaseRef(cust)}, st)
		servicetest.WaitStep[pb.WorkspaceDeleted](t, f.events, subjects.WorkspaceDeleted, "signup-dropped", 1, waitFor)
	})
}

// A database that never answers fails the step on the last delivery, so the
// saga compensates without waiting for its own timeout.
func TestBuildGivesUpOnLastDelivery(t *testing.T) {
	f := newFixture(t, map[string]string{"WORKSPACE_RETRY_BASE": "5ms", "WORKSPACE_RETRY_MAX": "20ms"})
	const cust, saga = "cus_Never", "signup-never-answers"
	f.putSecret(names.DatabaseRef(cust), "postgres://claw:pw@127.0.0.1:1/claw?sslmode=disable")
	st := step(saga, cust, 1)
	f.send(subjects.CmdWorkspaceBuild, buildCmd(st, plans.Starter), st)
	failed := servicetest.WaitStep[pb.StepFailed](t, f.events, subjects.WorkspaceFailed, saga, 1, waitFor)
	if want := fmt.Sprintf("gave up after %d attempts", bus.DefaultMaxDeliver); !strings.Contains(failed.GetReason(), want) {
		t.Errorf("reason = %q", failed.GetReason())
	}
	if strings.Contains(failed.GetReason(), ":pw@") {
		t.Errorf("reason carries the database URL: %q", failed.GetReason())
	}
	if got := servicetest.Counter(t, f.svc.Metrics, "claw_step_commands_total", buildResult("retry")); got != bus.DefaultMaxDeliver-1 {
		t.Errorf("retries = %v, want %d", got, bus.DefaultMaxDeliver-1)
	}
}
