package app_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"clawdbot.cloud/pkg/servicetest"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
	"clawdbot.cloud/services/railway/internal/app"
)

// A provision of a saga whose compute was already deleted (redelivered,
// replayed) starts nothing.
func TestProvisionAfterDeleteIsIgnored(t *testing.T) {
	drv := &fakeDriver{}
	f := start(t, drv)
	f.delete(t, &pb.DeleteCompute{Step: step("cus_A")}, "del-1")
	f.waitFor(t, subjects.ComputeDeleted, 1)
	f.provision(t, &pb.ProvisionCompute{Step: step("cus_A"), Plan: "pro", DatabaseRef: "db/cus_A"}, "prov-1")
	servicetest.Eventually(t, 20*time.Second, "the provision to be handled", func() bool {
		return f.ops(t, "provision", "ok") == 1
	})
	if p, _ := drv.calls(); p != 0 {
		t.Errorf("driver provisioned %d times after the saga's delete", p)
	}
	if n := f.events.Published(t, subjects.ComputeProvisioned); n != 0 {
		t.Errorf("%d compute.provisioned after the delete", n)
	}
}

// A provision still running when its saga's delete arrives removes what it
// started instead of reporting it.
func TestDeleteDuringProvisionRemovesTheRuntime(t *testing.T) {
	drv := &fakeDriver{}
	slow := &blockingDriver{fakeDriver: drv, started: make(chan struct{}), release: make(chan struct{})}
	f := start(t, slow)
	defer slow.unblock()
	f.provision(t, &pb.ProvisionCompute{Step: step("cus_B"), Plan: "pro", DatabaseRef: "db/cus_B"}, "prov-1")
	<-slow.started
	f.delete(t, &pb.DeleteCompute{Step: step("cus_B")}, "del-1")
	f.waitFor(t, subjects.ComputeDeleted, 1)
	slow.unblock()
	servicetest.Eventually(t, 20*time.Second, "the runtime to be removed", func() bool {
		_, d := drv.calls()
		return d == 2 // the delete command's, then the provision's own clean-up
	})
	if n := f.events.Published(t, subjects.ComputeProvisioned); n != 0 {
		t.Errorf("%d compute.provisioned for a deleted saga", n)
	}
}

// blockingDriver holds the first Provision until unblock, outside the fake
// driver's lock so Delete can run meanwhile.
type blockingDriver struct {
	*fakeDriver
	started, release chan struct{}
	once, relOnce    sync.Once
}

func (b *blockingDriver) Provision(ctx context.Context, req app.ProvisionRequest) (app.Instance, error) {
	b.once.Do(func() { close(b.started) })
	<-b.release
	return b.fakeDriver.Provision(ctx, req)
}

func (b *blockingDriver) unblock() { b.relOnce.Do(func() { close(b.release) }) }
