package app_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/servicetest"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
	"clawdbot.cloud/services/railway/internal/app"
)

func prepareStep(customer string) *pb.Step {
	return &pb.Step{SagaId: "signup-cs_" + customer, CustomerId: customer, Name: "prepare", Attempt: 1}
}

func (f *fixture) prepare(t *testing.T, cmd *pb.PrepareCompute, msgID string) {
	t.Helper()
	if _, err := f.bus.Publish(context.Background(), subjects.CmdComputePrepare, cmd,
		bus.Envelope{MsgID: msgID, SagaID: cmd.GetStep().GetSagaId()}); err != nil {
		t.Fatal(err)
	}
}

func (f *fakeDriver) prepareCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.prepares
}

func TestPreparePublishesPrepared(t *testing.T) {
	drv := &fakeDriver{}
	f := start(t, drv)
	cmd := &pb.PrepareCompute{Step: prepareStep("cus_P"), Plan: "pro"}
	f.prepare(t, cmd, "prep-1")
	f.waitFor(t, subjects.ComputePrepared, 1)

	var got pb.ComputePrepared
	f.events.Last(t, subjects.ComputePrepared, &got)
	want := &pb.ComputePrepared{Step: cmd.GetStep(), ServiceId: "svc-cus_P", InstanceUrl: "https://svc-cus_P.example"}
	if diff := cmp.Diff(want, &got, protocmp.Transform()); diff != "" {
		t.Errorf("compute.prepared (-want +got):\n%s", diff)
	}
	if provisions, deletes := drv.calls(); provisions != 0 || deletes != 0 || drv.prepareCalls() != 1 {
		t.Errorf("driver calls: prepare %d provision %d delete %d, want 1 0 0", drv.prepareCalls(), provisions, deletes)
	}
}

func TestPrepareFailures(t *testing.T) {
	tests := []struct {
		name       string
		fail       func(n int) (app.Instance, error)
		plan       string
		wantCalls  int
		wantReason string
	}{{
		name: "rejected by the driver",
		fail: func(int) (app.Instance, error) {
			return app.Instance{}, fmt.Errorf("%w: no such size", app.ErrRejected)
		},
		plan: "starter", wantCalls: 1, wantReason: "no such size",
	}, {
		name: "unknown plan",
		plan: "gold", wantCalls: 0, wantReason: `unknown plan: "gold"`,
	}, {
		name: "failing on every delivery",
		fail: func(int) (app.Instance, error) { return app.Instance{}, errFlaky },
		plan: "starter", wantCalls: maxDeliver, wantReason: errFlaky.Error(),
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			drv := &fakeDriver{onPrepare: tt.fail}
			f := start(t, drv)
			cmd := &pb.PrepareCompute{Step: prepareStep("cus_F"), Plan: tt.plan}
			f.prepare(t, cmd, "prep-f")
			f.waitFor(t, subjects.ComputeFailed, 1)
			f.waitDead(t, 1)

			var got pb.StepFailed
			f.events.Last(t, subjects.ComputeFailed, &got)
			if diff := cmp.Diff(cmd.GetStep(), got.GetStep(), protocmp.Transform()); diff != "" {
				t.Errorf("compute.failed step (-want +got):\n%s", diff)
			}
			wantContains(t, got.GetReason(), tt.wantReason)
			if n := drv.prepareCalls(); n != tt.wantCalls {
				t.Errorf("%d Prepare calls, want %d", n, tt.wantCalls)
			}
			// A service the driver may have half-created is removed.
			if _, deletes := drv.calls(); (deletes == 1) != (tt.wantCalls > 0) {
				t.Errorf("%d cleanup deletes after %d prepares", deletes, tt.wantCalls)
			}
			if n := f.events.Published(t, subjects.ComputePrepared); n != 0 {
				t.Errorf("%d compute.prepared after a failure", n)
			}
		})
	}
}

// TestPrepareAfterDeleteDoesNothing: the saga compensated the prepare step
// (the database failed) before the prepare command was handled; a service
// created now would never be deleted.
func TestPrepareAfterDeleteDoesNothing(t *testing.T) {
	drv := &fakeDriver{}
	f := start(t, drv)
	f.delete(t, &pb.DeleteCompute{Step: prepareStep("cus_L")}, "del-1")
	f.waitFor(t, subjects.ComputeDeleted, 1)
	f.prepare(t, &pb.PrepareCompute{Step: prepareStep("cus_L"), Plan: "pro"}, "prep-late")
	servicetest.Eventually(t, 20*time.Second, "the late prepare to be handled", func() bool {
		return f.ops(t, "prepare", "ok") == 1
	})
	if n := drv.prepareCalls(); n != 0 {
		t.Errorf("%d Prepare calls after the saga's delete, want 0", n)
	}
	if n := f.events.Published(t, subjects.ComputePrepared); n != 0 {
		t.Errorf("%d compute.prepared after the saga's delete", n)
	}
}
