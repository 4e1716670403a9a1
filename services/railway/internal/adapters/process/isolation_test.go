package process_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/railway/internal/adapters/process"
	"clawdbot.cloud/services/railway/internal/app"
)

// The tests below run real processes under real uids and cgroups. They run
// as root (CI and the development machine do) and fail, not skip, when
// isolation is missing: each asserts what only isolation gives.

// helperDriver is a driver whose "runtime" is this test binary in helper
// mode (see runHelper), isolated like a real one.
func (h *harness) helperDriver(t *testing.T, tune ...func(*process.Options)) *process.Driver {
	t.Helper()
	requireIsolation(t)
	return h.driver(t, append([]func(*process.Options){func(o *process.Options) {
		o.Binary = helperBin
		o.Env = []string{helperEnv + "=tenant"}
		o.StopGrace = time.Second
	}}, tune...)...)
}

// requireIsolation fails the test when isolation is off: these tests must
// not pass by skipping. CLAW_SKIP_ISOLATION_TESTS=1 skips them explicitly.
func requireIsolation(t *testing.T) {
	t.Helper()
	if isolationMode() == process.IsolationOff {
		t.Skip("CLAW_SKIP_ISOLATION_TESTS=1")
	}
	if os.Geteuid() != 0 {
		t.Fatal("isolation tests need root (CI and the development machine run as root); CLAW_SKIP_ISOLATION_TESTS=1 skips them")
	}
}

// get returns the body of GET (or POST) url.
func get(t *testing.T, method, u string) string {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func who(t *testing.T, inst app.Instance) whoami {
	t.Helper()
	var w whoami
	if err := json.Unmarshal([]byte(get(t, "GET", inst.URL+"/whoami")), &w); err != nil {
		t.Fatal(err)
	}
	return w
}

// TestRuntimesRunAsTheirOwnUIDs: two customers' runtimes run under two
// different uids of the range (gid the same number, no supplementary
// groups, private 0700 directories), and each keeps its uid across a
// restart of the compute service. Without isolation both run as root.
func TestRuntimesRunAsTheirOwnUIDs(t *testing.T) {
	h := newHarness(t)
	work := workDir(t)
	tune := func(o *process.Options) { o.WorkDir = work }
	d := h.helperDriver(t, tune)
	reqA, _ := h.request(t)
	reqB, _ := h.request(t)
	a, b := who(t, provision(t, d, reqA)), who(t, provision(t, d, reqB))
	for _, w := range []whoami{a, b} {
		if w.UID < process.DefaultUIDMin || w.UID > process.DefaultUIDMax || w.GID != w.UID || len(w.Groups) != 0 {
			t.Errorf("runtime runs as uid %d gid %d groups %v; want its own uid of the range, the same gid, no groups",
				w.UID, w.GID, w.Groups)
		}
		fi, err := os.Stat(w.Dir)
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != w.UID || fi.Mode().Perm() != 0o700 || w.Home != w.Dir {
			t.Errorf("runtime directory %s: owner %d mode %#o HOME %s; want the runtime's uid %d, 0700, itself",
				w.Dir, st.Uid, fi.Mode().Perm(), w.Home, w.UID)
		}
	}
	if a.UID == b.UID {
		t.Fatalf("two customers share uid %d", a.UID)
	}
	if st := status(t, d, reqA.CustomerID); st.UID != a.UID {
		t.Errorf("Status.UID = %d, runtime reports %d", st.UID, a.UID)
	}

	// A restart of the compute service: the same uids come back.
	d.Close()
	d2 := h.helperDriver(t, tune)
	a2, b2 := who(t, provision(t, d2, reqA)), who(t, provision(t, d2, reqB))
	if a2.UID != a.UID || b2.UID != b.UID {
		t.Errorf("uids after a restart = %d, %d; want %d, %d", a2.UID, b2.UID, a.UID, b.UID)
	}
}

// TestRuntimeCannotReadThePlatform: a runtime cannot open the platform's
// /proc/<pid>/environ (different uid; the platform is not dumpable), the
// platform's data files (key 0600, stores 0700, the data directory not
// listable), nor another customer's directory or environ; it can use its
// own directory. Run as root, every open would succeed.
func TestRuntimeCannotReadThePlatform(t *testing.T) {
	h := newHarness(t)
	work := workDir(t) // 0711, like the platform's data directory
	d := h.helperDriver(t, func(o *process.Options) { o.WorkDir = work })
	if dumpable := prctlGetDumpable(t); dumpable != 0 {
		t.Errorf("the platform is dumpable (%d) with isolation on", dumpable)
	}
	key := filepath.Join(work, "encryption.key")
	store := filepath.Join(work, "nats")
	mustWrite(t, key, 0o600)
	if err := os.Mkdir(store, 0o700); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(store, "stream.blk"), 0o600)

	req, _ := h.request(t)
	other, _ := h.request(t)
	inst := provision(t, d, req)
	neighbour := provision(t, d, other)
	me, them := who(t, inst), who(t, neighbour)

	denied := []string{
		"/proc/" + strconv.Itoa(os.Getpid()) + "/environ",
		"/proc/" + strconv.Itoa(status(t, d, other.CustomerID).PID) + "/environ",
		key, store, filepath.Join(store, "stream.blk"), work,
		them.Dir, filepath.Join(them.Dir, "tmp"),
	}
	for _, p := range denied {
		if got := get(t, "GET", inst.URL+"/open?path="+url.QueryEscape(p)); !strings.Contains(got, "permission denied") {
			t.Errorf("runtime (uid %d) opening %s: %q, want permission denied", me.UID, p, got)
		}
	}
	own := filepath.Join(me.Home, "tmp", "note")
	if got := get(t, "POST", inst.URL+"/write?path="+url.QueryEscape(own)); got != "ok" {
		t.Errorf("runtime writing its own %s: %q", own, got)
	}
	if got := get(t, "GET", inst.URL+"/open?path=/proc/self/environ"); got != "ok" {
		t.Errorf("runtime reading its own environ: %q", got)
	}
}

func mustWrite(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte("secret"), mode); err != nil {
		t.Fatal(err)
	}
}

// prctlGetDumpable returns this process's PR_GET_DUMPABLE.
func prctlGetDumpable(t *testing.T) int {
	t.Helper()
	const prGetDumpable = 3
	r, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prGetDumpable, 0, 0)
	if e != 0 {
		t.Fatal(e)
	}
	return int(r)
}

// TestMemoryHogIsContained: a runtime that allocates past its plan's memory
// is killed by the kernel inside its cgroup and restarted by its
// supervisor, while a neighbour keeps answering, same process, every probe.
// Without the cgroup the hog survives its allocation and the test fails.
func TestMemoryHogIsContained(t *testing.T) {
	h := newHarness(t)
	d := h.helperDriver(t)
	hogReq, _ := h.request(t)
	nReq, _ := h.request(t)
	hog := provision(t, d, hogReq)
	neighbour := provision(t, d, nReq)
	nPID := status(t, d, nReq.CustomerID).PID

	var probes, failures atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		client := &http.Client{Timeout: 2 * time.Second}
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			probes.Add(1)
			resp, err := client.Get(neighbour.URL + "/health")
			if err != nil || resp.StatusCode != 200 {
				failures.Add(1)
			}
			if err == nil {
				resp.Body.Close()
			}
		}
	}()

	// Twice the plan's memory: the kernel must kill it on the way.
	mb := 2 * hogReq.Plan.MemoryMB
	resp, err := (&http.Client{Timeout: time.Minute}).Post(hog.URL+"/hog?mb="+strconv.Itoa(mb), "", nil)
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("the hog allocated %d MiB on a %d MiB plan and answered %q: its memory is not limited",
			mb, hogReq.Plan.MemoryMB, b)
	}
	waitFor(t, 30*time.Second, func() bool {
		st := status(t, d, hogReq.CustomerID)
		return st.Generation >= 2 && st.Phase == "running"
	})
	close(stop)
	<-done

	st := status(t, d, hogReq.CustomerID)
	if !strings.HasPrefix(st.LastExit, "oom-killed") {
		t.Errorf("hog's last exit %q, want oom-killed", st.LastExit)
	}
	if n := sum(t, h, "claw_compute_restarts_total", map[string]string{"reason": "oom"}); n != 1 {
		t.Errorf("restarts{reason=oom} = %v, want 1", n)
	}
	if code, err := http.Get(hog.URL + "/health"); err != nil || code.StatusCode != 200 {
		t.Errorf("restarted hog does not answer: %v", err)
	}
	ns := status(t, d, nReq.CustomerID)
	if ns.PID != nPID || ns.Generation != 1 || failures.Load() != 0 || probes.Load() < 5 {
		t.Errorf("neighbour: pid %d→%d, generation %d, %d of %d probes failed; want untouched",
			nPID, ns.PID, ns.Generation, failures.Load(), probes.Load())
	}
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

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
