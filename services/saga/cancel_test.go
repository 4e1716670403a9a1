package saga_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/servicetest"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
)

const day = 24 * time.Hour

func TestCancelArchiveAtDay7DeleteAtDay30(t *testing.T) {
	f := newLifecycle(t, always(reply))
	env, _ := f.start()
	cus := f.active("cs_cancel")
	cancel := &pb.CustomerCanceled{Stripe: ref("cs_cancel", "evt_del", 10), CustomerId: cus}
	f.publish(subjects.CustomerCanceled, cancel, "del-1")
	c := f.waitCustomer(cus, "canceled")
	var stop pb.StopCompute
	f.last(subjects.CmdComputeStop, &stop)
	if stop.Reason != "canceled" {
		t.Errorf("stop reason %q", stop.Reason)
	}
	var revoke pb.RevokeKeys
	f.last(subjects.CmdWorkspaceRevoke, &revoke)
	if revoke.DatabaseRef != "db/"+cus {
		t.Errorf("revoke = %v", &revoke)
	}
	now := f.clock.Now()
	if c.Archive == nil || !c.Archive.Equal(now.Add(7*day)) || c.Delete == nil || !c.Delete.Equal(now.Add(30*day)) {
		t.Fatalf("timers archive %v delete %v", c.Archive, c.Delete)
	}
	f.publish(subjects.CustomerCanceled, cancel, "del-2") // duplicate

	f.clock.Advance(7 * day)
	c = f.waitCustomer(cus, "archived")
	if c.ArchiveRef != names.ArchiveRef(cus) {
		t.Errorf("archive ref %q", c.ArchiveRef)
	}
	f.clock.Advance(23 * day)
	c = f.waitCustomer(cus, "deleted")
	var drop pb.DeleteArchive
	f.last(subjects.CmdDatabaseDropArchive, &drop)
	if drop.ArchiveRef != names.ArchiveRef(cus) {
		t.Errorf("delete_archive = %v", &drop)
	}
	if c.Archive != nil || c.Delete != nil || c.Grace != nil {
		t.Errorf("timers left: %+v", c)
	}
	for subject, want := range map[string]int{
		subjects.CmdComputeStop: 1, subjects.CmdWorkspaceRevoke: 1, subjects.CmdDatabaseArchive: 1,
		subjects.CmdDatabaseDropArchive: 1, subjects.CmdComputeDelete: 1,
	} {
		if got := len(f.commands(subject)); got != want {
			t.Errorf("%s sent %d times, want %d", subject, got, want)
		}
	}
	if got, want := f.states(cus), []string{"provisioning", "active", "canceled", "archived", "deleted"}; !cmp.Equal(got, want) {
		t.Errorf("states %v, want %v", got, want)
	}
	if got, want := f.notices(cus), []string{"welcome", "canceled", "deleted"}; !cmp.Equal(got, want) {
		t.Errorf("notices %v, want %v", got, want)
	}
	for _, m := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"claw_saga_kind_started_total", map[string]string{"kind": "cancel"}, 1},
		{"claw_saga_kind_started_total", map[string]string{"kind": "delete"}, 1},
		{"claw_saga_timers_fired_total", map[string]string{"timer": "archive"}, 1},
		{"claw_saga_timers_fired_total", map[string]string{"timer": "delete"}, 1},
		{"claw_saga_customer_transitions_total", map[string]string{"from": "archived", "to": "deleted"}, 1},
		{"claw_saga_customer_events_total", map[string]string{"subject": subjects.CustomerCanceled, "outcome": "applied"}, 1},
		{"claw_saga_notices_total", map[string]string{"kind": "canceled"}, 1},
	} {
		if got := servicetest.Counter(t, env.Metrics, m.name, m.labels); got != m.want {
			t.Errorf("%s%v = %v, want %v", m.name, m.labels, got, m.want)
		}
	}
	f.drained()
	if got := servicetest.Counter(t, env.Metrics, "claw_saga_customer_events_total", map[string]string{"subject": subjects.CustomerCanceled, "outcome": "duplicate"}); got != 1 {
		t.Errorf("duplicate cancellations counted %v, want 1", got)
	}
}

func TestResubscribeBeforeArchiveKeepsDatabase(t *testing.T) {
	f := newLifecycle(t, always(reply))
	f.start()
	cus := f.active("cs_back")
	f.publish(subjects.CustomerCanceled, &pb.CustomerCanceled{Stripe: ref("cs_back", "evt_c", 10), CustomerId: cus}, "c")
	f.waitCustomer(cus, "canceled")
	f.clock.Advance(3 * day)
	f.signupAs(cus, "cs_back2", "team")
	f.waitStatus(names.SignupSagaID("cs_back2"), "completed")
	c := f.waitCustomer(cus, "active")
	if c.Plan != "team" || c.Archive != nil || c.Delete != nil {
		t.Errorf("after resubscribing: %+v", c)
	}
	if got := f.commands(subjects.CmdDatabaseCreate); len(got) != 1 {
		t.Errorf("database created again: %v", got)
	}
	if got := f.commands(subjects.CmdDatabaseRestore); len(got) != 0 {
		t.Errorf("restored though never archived: %v", got)
	}
	var build pb.BuildWorkspace
	f.last(subjects.CmdWorkspaceBuild, &build)
	// The runtime is stopped while its key is re-issued: no instance to
	// hand the build to.
	if build.Step.GetName() != "rekey" || build.DatabaseRef != "db/"+cus || build.Plan != "team" || build.InstanceUrl != "" {
		t.Errorf("rekey = %v", &build)
	}
	var done pb.SagaCompleted
	f.last(subjects.SagaCompleted, &done)
	if done.SagaId != names.SignupSagaID("cs_back2") || done.ApiKeyRef != names.APIKeyRevealRef(done.SagaId) {
		t.Errorf("saga.completed = %v", &done)
	}
	// The old timers are gone: nothing is archived at day 7.
	f.clock.Advance(30 * day)
	f.publish(subjects.CustomerTrialWillEnd, &pb.CustomerTrialWillEnd{Stripe: ref("cs_back2", "evt_probe", 50), CustomerId: cus}, "probe")
	servicetest.Eventually(t, 20*time.Second, "probe", func() bool { st, _ := f.eventStatus("evt_probe"); return st == "applied" })
	if got := f.commands(subjects.CmdDatabaseArchive); len(got) != 0 {
		t.Errorf("archived after resubscribing: %v", got)
	}
}

func TestResubscribeAfterArchiveRestores(t *testing.T) {
	f := newLifecycle(t, always(reply))
	f.start()
	cus := f.active("cs_arch")
	f.publish(subjects.CustomerCanceled, &pb.CustomerCanceled{Stripe: ref("cs_arch", "evt_c", 10), CustomerId: cus}, "c")
	f.waitCustomer(cus, "canceled")
	f.clock.Advance(8 * day)
	f.waitCustomer(cus, "archived")
	f.signupAs(cus, "cs_arch2", "pro")
	f.waitStatus(names.SignupSagaID("cs_arch2"), "completed")
	c := f.waitCustomer(cus, "active")
	var restore pb.RestoreDatabase
	f.last(subjects.CmdDatabaseRestore, &restore)
	if restore.ArchiveRef != names.ArchiveRef(cus) {
		t.Errorf("restore = %v", &restore)
	}
	if c.ArchiveRef != "" || c.Delete != nil {
		t.Errorf("after restore: %+v", c)
	}
	want := []string{"cmd.database.restore#1", "cmd.workspace.build#1", "cmd.compute.start#1"}
	var got []string
	for _, s := range f.sim.seen("cmd.") {
		if s == want[0] || (len(got) > 0 && len(got) < 3) {
			got = append(got, s)
		}
	}
	if !cmp.Equal(got, want) {
		t.Errorf("reactivation commands %v, want %v", got, want)
	}
	f.clock.Advance(30 * day)
	f.publish(subjects.CustomerTrialWillEnd, &pb.CustomerTrialWillEnd{Stripe: ref("cs_arch2", "evt_probe", 50), CustomerId: cus}, "probe")
	servicetest.Eventually(t, 20*time.Second, "probe", func() bool { st, _ := f.eventStatus("evt_probe"); return st == "applied" })
	if got := f.commands(subjects.CmdDatabaseDropArchive); len(got) != 0 {
		t.Errorf("archive deleted after resubscribing: %v", got)
	}
}
