package process_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/railway/internal/adapters/process"
)

// TestCgroupHasThePlanLimits: the runtime sits in a cgroup of its own with
// its plan's memory, CPU and pids limits, a resize gives it the new plan's,
// and the group, the private directory and the uid are gone after Delete.
func TestCgroupHasThePlanLimits(t *testing.T) {
	h := newHarness(t)
	d := h.helperDriver(t)
	req, _ := h.request(t)
	provision(t, d, req)
	pid := status(t, d, req.CustomerID).PID
	dirs := cgroupDirs(t, pid)
	checkLimits(t, dirs, req.Plan)
	inst := provision(t, d, req)
	w := who(t, inst)
	home := w.Home
	if w.StartCgroup != w.Cgroup {
		t.Errorf("the runtime began in cgroups\n%s\nand runs in\n%s\nwant it in its own from its first instruction", w.StartCgroup, w.Cgroup)
	}

	// The limits hold, not only read back: the pids limit stops a spawner
	// and the CPU quota throttles two busy threads on a 0.5 vCPU plan.
	got := get(t, "POST", inst.URL+"/spawn?n="+strconv.Itoa(process.DefaultPids+50))
	if n, _ := strconv.Atoi(strings.Fields(got)[0]); n >= process.DefaultPids || !strings.Contains(got, "resource temporarily unavailable") {
		t.Errorf("spawning %d processes: %q; want stopped below %d", process.DefaultPids+50, got, process.DefaultPids)
	}
	get(t, "POST", inst.URL+"/burn?for=500ms")
	if throttled := cpuThrottled(t, dirs); throttled == 0 {
		t.Errorf("two busy threads on a %.1f vCPU plan were never throttled", req.Plan.VCPUs)
	}

	pro, err := plans.Lookup(plans.Pro)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Resize(context.Background(), req.CustomerID, pro); err != nil {
		t.Fatal(err)
	}
	checkLimits(t, cgroupDirs(t, status(t, d, req.CustomerID).PID), pro)

	if err := d.Delete(context.Background(), req.CustomerID); err != nil {
		t.Fatal(err)
	}
	for _, dir := range dirs {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("cgroup %s after Delete: %v", dir, err)
		}
	}
	if _, err := os.Stat(home); !os.IsNotExist(err) {
		t.Errorf("runtime directory %s after Delete: %v", home, err)
	}
	var held int
	if err := h.pool.QueryRow(context.Background(), `SELECT count(*) FROM railway.tenant_ids WHERE customer_id = $1`,
		req.CustomerID).Scan(&held); err != nil || held != 0 {
		t.Errorf("uid rows after Delete = %d, %v; want 0", held, err)
	}
}

// cgroupDirs returns the cgroup directories of pid by controller (v1:
// memory, cpu, pids; v2: "" for the unified group), failing when pid sits
// in a hierarchy's root, as it would without its own group.
func cgroupDirs(t *testing.T, pid int) map[string]string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range []string{"memory", "cpu", "pids"} {
			if parts[1] == c || strings.HasPrefix(parts[1], c+",") || strings.HasSuffix(parts[1], ","+c) {
				out[c] = filepath.Join("/sys/fs/cgroup", c, parts[2])
			}
		}
		if parts[0] == "0" && len(out) == 0 {
			out[""] = filepath.Join("/sys/fs/cgroup", parts[2])
		}
	}
	for c, dir := range out {
		if !strings.Contains(dir, "/"+testCgroupParent+"/claw-") {
			t.Errorf("runtime's %q cgroup is %s, not its own under %s", c, dir, testCgroupParent)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no memory, cpu or pids cgroup in %q", b)
	}
	return out
}

// checkLimits compares a group's control files with plan's compute size.
func checkLimits(t *testing.T, dirs map[string]string, plan plans.Plan) {
	t.Helper()
	mem := strconv.Itoa(plan.MemoryMB << 20)
	quota := strconv.Itoa(int(plan.VCPUs * 100000))
	want := map[string]string{}
	if dir, ok := dirs[""]; ok {
		want[dir+"/memory.max"] = mem
		want[dir+"/cpu.max"] = quota + " 100000"
		want[dir+"/pids.max"] = strconv.Itoa(process.DefaultPids)
	} else {
		want[dirs["memory"]+"/memory.limit_in_bytes"] = mem
		want[dirs["cpu"]+"/cpu.cfs_quota_us"] = quota
		want[dirs["cpu"]+"/cpu.cfs_period_us"] = "100000"
		want[dirs["pids"]+"/pids.max"] = strconv.Itoa(process.DefaultPids)
	}
	for file, v := range want {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if got := strings.TrimSpace(string(b)); got != v {
			t.Errorf("%s = %s, want %s (plan %s)", file, got, v, plan.ID)
		}
	}
}

// cpuThrottled returns how many CPU periods of the group were throttled.
func cpuThrottled(t *testing.T, dirs map[string]string) int {
	t.Helper()
	dir, ok := dirs["cpu"]
	if !ok {
		dir = dirs[""]
	}
	b, err := os.ReadFile(filepath.Join(dir, "cpu.stat"))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "nr_throttled "); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	t.Fatalf("no nr_throttled in %s/cpu.stat", dir)
	return 0
}
