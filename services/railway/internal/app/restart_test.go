package app_test

import (
	"context"
	"testing"
	"time"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/servicetest"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
)

func TestRestartRequestsFromHealth(t *testing.T) {
	drv := &fakeDriver{}
	f := start(t, drv)
	send := func(customer, msgID string) {
		t.Helper()
		cmd := &pb.RestartCompute{Step: &pb.Step{SagaId: "health-inc1", CustomerId: customer, Name: "restart", Attempt: 1}, Reason: "3 failed probes"}
		if _, err := f.bus.Publish(context.Background(), subjects.CmdComputeRestart, cmd, bus.Envelope{MsgID: msgID}); err != nil {
			t.Fatal(err)
		}
	}
	send("cus_A", "r-1")
	f.waitFor(t, subjects.ComputeRestarted, 1)

	// An instance that no longer runs: acknowledged, nothing else.
	send("cus_gone", "r-2")
	servicetest.Eventually(t, 20*time.Second, "both restarts handled", func() bool {
		return f.ops(t, "restart", "ok") == 2
	})
	drv.mu.Lock()
	restarts := drv.restarts
	drv.mu.Unlock()
	if restarts != 2 {
		t.Errorf("driver restarted %d times, want 2", restarts)
	}
	if n := f.events.Published(t, subjects.ComputeFailed); n != 0 {
		t.Errorf("%d compute.failed for restart requests", n)
	}
	if n := f.events.DeadLetters(t, "railway"); n != 0 {
		t.Errorf("%d dead letters", n)
	}
}
