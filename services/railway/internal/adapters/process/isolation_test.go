package process_test

import (
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
