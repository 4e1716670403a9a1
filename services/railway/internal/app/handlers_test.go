package app_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	"clawdbot.cloud/pkg/servicetest"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
	"clawdbot.cloud/services/railway/internal/app"
)

func TestProvisionPublishesProvisioned(t *testing.T) {
	drv := &fakeDriver{}
	f := start(t, drv)
	cmd := &pb.ProvisionCompute{Step: step("cus_A"), Plan: "pro", DatabaseRef: "db/cus_A"}
	f.provision(t, cmd, "cmd-1")
	f.waitFor(t, subjects.ComputeProvisioned, 1)

	var got pb.ComputeProvisioned
	f.events.Last(t, subjects.ComputeProvisioned, &got)
	want := &pb.ComputeProvisioned{Step: cmd.GetStep(), ServiceId: "svc-cus_A", InstanceUrl: "http://127.0.0.1:1"}
	if diff := cmp.Diff(want, &got, protocmp.Transform()); diff != "" {
		t.Errorf("compute.provisioned (-want +got):\n%s", diff)
	}

	// The same command again (a redelivery, a replay) republishes the same
	// message id, which the stream stores once.
	f.provision(t, cmd, "cmd-1-replayed")
	servicetest.Eventually(t, 20*time.Second, "the replayed command to be handled", func() bool {
		return f.ops(t, "provision", "ok") == 2
	})
	if n := f.events.Published(t, subjects.ComputeProvisioned); n != 1 {
		t.Errorf("%d compute.provisioned events, want 1", n)
	}
}

func TestProvisionFailures(t *testing.T) {
	tests := []struct {
		name string
		// fail answers the n-th Provision call.
		fail      func(n int) (app.Instance, error)
		plan      string
		wantCalls int
		// wantFailed: compute.failed published and the command dead-lettered;
		// otherwise compute.provisioned.
		wantFailed  bool
		wantReason  string
		wantCleanup bool
	}{{
		name: "rejected by the driver",
		fail: func(int) (app.Instance, error) {
			return app.Instance{}, fmt.Errorf("%w: no such size", app.ErrRejected)
		},
		plan: "starter", wantCalls: 1, wantFailed: true, wantReason: "no such size", wantCleanup: true,
	}, {
		name: "unknown plan",
		plan: "gold", wantCalls: 0, wantFailed: true, wantReason: `unknown plan: "gold"`,
	}, {
		name: "transient failure, then success",
		fail: func(n int) (app.Instance, error) {
			if n == 1 {
				return app.Instance{}, errFlaky
			}
			return app.Instance{ServiceID: "svc", URL: "http://127.0.0.1:1"}, nil
		},
		plan: "team", wantCalls: 2,
	}, {
		name: "failing on every delivery",
		fail: func(int) (app.Instance, error) { return app.Instance{}, errFlaky },
		plan: "starter", wantCalls: maxDeliver, wantFailed: true, wantReason: errFlaky.Error(), wantCleanup: true,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			drv := &fakeDriver{onProvision: tt.fail}
			f := start(t, drv)
			f.provision(t, &pb.ProvisionCompute{Step: step("cus_B"), Plan: tt.plan, DatabaseRef: "db/cus_B"}, "cmd-1")
			if tt.wantFailed {
				f.waitDead(t, 1)
				f.waitFor(t, subjects.ComputeFailed, 1)
				var failed pb.StepFailed
				f.events.Last(t, subjects.ComputeFailed, &failed)
				wantContains(t, failed.GetReason(), tt.wantReason)
				if failed.GetStep().GetCustomerId() != "cus_B" {
					t.Errorf("compute.failed for step %v", failed.GetStep())
				}
			} else {
				f.waitFor(t, subjects.ComputeProvisioned, 1)
			}
			provisions, deletes := drv.calls()
			if provisions != tt.wantCalls {
				t.Errorf("%d Provision calls, want %d", provisions, tt.wantCalls)
			}
			if got := deletes == 1; got != tt.wantCleanup {
				t.Errorf("%d Delete calls (cleanup wanted: %v)", deletes, tt.wantCleanup)
			}
			if !tt.wantFailed && f.events.Published(t, subjects.ComputeFailed) != 0 {
				t.Errorf("compute.failed published for a command that succeeded")
			}
		})
	}
}

func TestCommandWithoutSagaIsDeadLettered(t *testing.T) {
	drv := &fakeDriver{}
	f := start(t, drv)
	f.provision(t, &pb.ProvisionCompute{Step: &pb.Step{CustomerId: "cus_C"}, Plan: "starter", DatabaseRef: "db/cus_C"}, "cmd-1")
	f.waitDead(t, 1)
	if n := f.events.Published(t, subjects.ComputeFailed); n != 0 {
		t.Errorf("%d compute.failed for a command no saga can hear", n)
	}
	if provisions, _ := drv.calls(); provisions != 0 {
		t.Errorf("Provision called for an invalid command")
	}
}

func TestDeletePublishesDeleted(t *testing.T) {
	drv := &fakeDriver{onDelete: func(n int) error {
		if n == 1 {
			return errFlaky
		}
		return nil
	}}
	f := start(t, drv)
	cmd := &pb.DeleteCompute{Step: step("cus_D")}
	f.delete(t, cmd, "cmd-1")
	f.waitFor(t, subjects.ComputeDeleted, 1)
	var got pb.ComputeDeleted
	f.events.Last(t, subjects.ComputeDeleted, &got)
	if diff := cmp.Diff(&pb.ComputeDeleted{Step: cmd.GetStep()}, &got, protocmp.Transform()); diff != "" {
		t.Errorf("compute.deleted (-want +got):\n%s", diff)
	}
	if _, deletes := drv.calls(); deletes != 2 {
		t.Errorf("%d Delete calls, want 2 (one retry)", deletes)
	}
	if got := f.ops(t, "delete", "retry"); got != 1 {
		t.Errorf("operations{delete,retry} = %v, want 1", got)
	}
}

func TestDeleteFailingForGoodPublishesFailed(t *testing.T) {
	drv := &fakeDriver{onDelete: func(int) error { return errFlaky }}
	f := start(t, drv)
	f.delete(t, &pb.DeleteCompute{Step: step("cus_E")}, "cmd-1")
	f.waitDead(t, 1)
	f.waitFor(t, subjects.ComputeFailed, 1)
	if _, deletes := drv.calls(); deletes != maxDeliver {
		t.Errorf("%d Delete calls, want %d", deletes, maxDeliver)
	}
	if n := f.events.Published(t, subjects.ComputeDeleted); n != 0 {
		t.Errorf("compute.deleted published for a failed delete")
	}
}
