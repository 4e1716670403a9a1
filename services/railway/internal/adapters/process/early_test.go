package process_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/pkg/servicetest"
	"clawdbot.cloud/services/railway/internal/adapters/process"
	"clawdbot.cloud/services/railway/internal/testkit"
)

// early is the claw_compute_early_starts_total series of result.
func early(t *testing.T, h *harness, result string) float64 {
	t.Helper()
	return sum(t, h, "claw_compute_early_starts_total", map[string]string{"result": result})
}

// prepare runs the driver's Prepare for customerID on plan and returns
// the one runtime process it left running.
func prepare(t *testing.T, d *process.Driver, customerID string, plan plans.Plan) int {
	t.Helper()
	if _, err := d.Prepare(context.Background(), customerID, plan); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	// The start runs after Prepare has answered.
	var got []int
	servicetest.Eventually(t, wait, "the runtime Prepare started", func() bool {
		got = pids(t, customerID)
		return len(got) > 0
	})
	if len(got) != 1 {
		t.Fatalf("runtimes after Prepare = %v, want one started early", got)
	}
	return got[0]
}

// TestProvisionConfiguresTheRuntimePrepareStarted: Prepare starts the
// customer's runtime in its tenant (its own uid and cgroup), where it waits
// for its configuration; Provision gives it the configuration instead of
// starting another, and that process answers /health.
func TestProvisionConfiguresTheRuntimePrepareStarted(t *testing.T) {
	h := newHarness(t)
	d := h.driver(t)
	req, c := h.request(t)
	pid := prepare(t, d, req.CustomerID, req.Plan)
	if got := gauge(t, h, "claw_compute_instances", "prepared"); got != 1 {
		t.Errorf("instances prepared = %v, want 1", got)
	}
	if isolationMode() == process.IsolationOn {
		uid := procField(t, pid, "status", "Uid:")
		if uid == "" || strings.HasPrefix(uid, "0\t") {
			t.Errorf("runtime started early runs as uid %q, want the customer's own", uid)
		}
		// With cgroup v1 it enters its group stopped right after its exec,
		// which pids may have seen.
		servicetest.Eventually(t, wait, "the runtime started early in its cgroup", func() bool {
			return strings.Contains(procFile(t, pid, "cgroup"), c.ServiceID())
		})
	}
	// Prepared again (a redelivered command): still the same one.
	if again := prepare(t, d, req.CustomerID, req.Plan); again != pid {
		t.Errorf("a second Prepare started %d beside %d", again, pid)
	}

	inst := provision(t, d, req)
	if st := status(t, d, req.CustomerID); st.PID != pid {
		t.Errorf("Provision runs pid %d, want %d (the one Prepare started)", st.PID, pid)
	}
	if code, err := testkit.Health(inst.URL); err != nil || code != 200 {
		t.Errorf("GET /health = %d, %v; want 200", code, err)
	}
	if got := early(t, h, "used"); got != 1 {
		t.Errorf("early starts used = %v, want 1", got)
	}
	if got := gauge(t, h, "claw_compute_instances", "prepared"); got != 0 {
		t.Errorf("instances prepared after Provision = %v, want 0", got)
	}
}

// TestARuntimeStartedEarlyIsStoppedWhenNotUsed: a runtime Prepare started
// is stopped when no Provision comes within EarlyTTL, and when Provision
// asks for another plan (it was started with the first plan's limits);
// either way Provision still gets a runtime, started cold.
func TestARuntimeStartedEarlyIsStoppedWhenNotUsed(t *testing.T) {
	t.Run("expired", func(t *testing.T) {
		h := newHarness(t)
		d := h.driver(t, func(o *process.Options) { o.EarlyTTL = 300 * time.Millisecond })
		req, _ := h.request(t)
		prepare(t, d, req.CustomerID, req.Plan)
		servicetest.Eventually(t, wait, "the unused early runtime to expire", func() bool {
			return early(t, h, "expired") == 1
		})
		if got := pids(t, req.CustomerID); len(got) != 0 {
			t.Errorf("runtimes after the early one expired = %v, want none", got)
		}
		inst := provision(t, d, req)
		if code, err := testkit.Health(inst.URL); err != nil || code != 200 {
			t.Errorf("GET /health after a cold start = %d, %v; want 200", code, err)
		}
	})

	t.Run("another plan", func(t *testing.T) {
		h := newHarness(t)
		d := h.driver(t) // EarlyTTL at its default: only the plan decides
		req, _ := h.request(t)
		pro, err := plans.Lookup(plans.Pro)
		if err != nil {
			t.Fatal(err)
		}
		pid := prepare(t, d, req.CustomerID, pro)
		before := early(t, h, "discarded")
		provision(t, d, req) // starter
		if got := pids(t, req.CustomerID); len(got) != 1 || got[0] == pid {
			t.Errorf("runtimes after provisioning another plan = %v, want one that is not %d", got, pid)
		}
		if got := early(t, h, "discarded") - before; got != 1 {
			t.Errorf("early starts discarded = %v, want 1", got)
		}
	})
}

// procField returns the rest of the line of /proc/<pid>/name that starts
// with key.
func procField(t *testing.T, pid int, name, key string) string {
	t.Helper()
	for line := range strings.SplitSeq(procFile(t, pid, name), "\n") {
		if rest, ok := strings.CutPrefix(line, key); ok {
			return strings.TrimSpace(rest)
		}
	}
	return ""
}
