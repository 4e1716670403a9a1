package process_test

import (
	"context"
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/secrets"
	"clawdbot.cloud/pkg/servicetest"
	"clawdbot.cloud/services/railway/internal/adapters/process"
	"clawdbot.cloud/services/railway/internal/app"
	"clawdbot.cloud/services/railway/internal/store"
	"clawdbot.cloud/services/railway/internal/testkit"
)

const wait = time.Minute

func TestCrashedRuntimeComesBackOnTheSamePort(t *testing.T) {
	h := newHarness(t)
	d := h.driver(t)
	req, _ := h.request(t)
	inst := provision(t, d, req)
	before := status(t, d, req.CustomerID)

	if err := syscall.Kill(before.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	servicetest.Eventually(t, wait, "a new runtime to answer", func() bool {
		s := status(t, d, req.CustomerID)
		return s.Phase == "running" && s.Generation == before.Generation+1
	})
	after := status(t, d, req.CustomerID)
	if after.Port != before.Port || after.URL != inst.URL {
		t.Errorf("after the crash the runtime is at %s, want %s", after.URL, inst.URL)
	}
	if code, err := testkit.Health(inst.URL); err != nil || code != 200 {
		t.Errorf("GET /health after the crash = %d, %v", code, err)
	}
	if diff := cmp.Diff([]int{after.PID}, pids(t, req.CustomerID)); diff != "" {
		t.Errorf("runtimes (-want +got):\n%s", diff)
	}
	row, err := h.st.Get(context.Background(), req.CustomerID)
	if err != nil {
		t.Fatal(err)
	}
	if row.Restarts != 1 || row.PID != after.PID || row.Port != before.Port {
		t.Errorf("row = %+v, want 1 restart, pid %d, port %d", row, after.PID, before.Port)
	}
	if got := counter(t, h, "claw_compute_restarts_total"); got != 1 {
		t.Errorf("claw_compute_restarts_total = %v, want 1", got)
	}
}

func TestCloseKeepsInstancesForTheNextStart(t *testing.T) {
	h := newHarness(t)
	first := h.driver(t)
	req, _ := h.request(t)
	inst := provision(t, first, req)
	oldPID := status(t, first, req.CustomerID).PID

	first.Close()
	if alive(oldPID) {
		t.Fatalf("runtime %d still runs after Close", oldPID)
	}
	row, err := h.st.Get(context.Background(), req.CustomerID)
	if err != nil {
		t.Fatal(err)
	}
	if row.Desired != store.Running || row.PID != 0 {
		t.Fatalf("after Close row = %+v, want desired running and no pid", row)
	}

	second := h.driver(t)
	if again := provision(t, second, req); again != inst {
		t.Errorf("after the restart Provision = %+v, want %+v", again, inst)
	}
	got := pids(t, req.CustomerID)
	if len(got) != 1 || got[0] == oldPID {
		t.Errorf("runtimes after the restart = %v, want one other than %d", got, oldPID)
	}
}

func TestStartReplacesALeftoverRuntime(t *testing.T) {
	h := newHarness(t)
	first := h.driver(t)
	req, c := h.request(t)
	inst := provision(t, first, req)
	first.Close()

	// A runtime an earlier run left behind (as if the service had been
	// killed and Pdeathsig had not fired), recorded as the instance's process.
	port := portOf(t, inst.URL)
	leftover := startRuntime(t, c, port)
	if err := h.st.Started(context.Background(), c.ID, leftover, time.Now()); err != nil {
		t.Fatal(err)
	}
	servicetest.Eventually(t, wait, "the leftover runtime to answer", func() bool {
		_, err := testkit.Health(inst.URL)
		return err == nil
	})

	second := h.driver(t)
	if alive(leftover) {
		t.Errorf("leftover runtime %d still runs after Start", leftover)
	}
	if again := provision(t, second, req); again != inst {
		t.Errorf("Provision = %+v, want %+v", again, inst)
	}
	got := pids(t, c.ID)
	if len(got) != 1 || got[0] == leftover {
		t.Errorf("runtimes = %v, want one, not the leftover %d", got, leftover)
	}
}

func TestStartLeavesAReusedPIDAlone(t *testing.T) {
	h := newHarness(t)
	first := h.driver(t)
	req, c := h.request(t)
	provision(t, first, req)
	first.Close()

	// The recorded pid now belongs to some other program.
	other := startProcess(t, []string{"sleep", "300"}, nil, "")
	if err := h.st.Started(context.Background(), c.ID, other, time.Now()); err != nil {
		t.Fatal(err)
	}
	second := h.driver(t)
	provision(t, second, req)
	if !alive(other) {
		t.Errorf("Start killed process %d, which is not a runtime", other)
	}
}

func TestStartMovesAnInstanceWhosePortIsTaken(t *testing.T) {
	h := newHarness(t)
	first := h.driver(t)
	req, _ := h.request(t)
	inst := provision(t, first, req)
	first.Close()

	ln, err := net.Listen("tcp", strings.TrimPrefix(inst.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	second := h.driver(t)
	moved := provision(t, second, req)
	if moved.URL == inst.URL {
		t.Fatalf("instance stayed at %s, which another program holds", inst.URL)
	}
	if code, err := testkit.Health(moved.URL); err != nil || code != 200 {
		t.Errorf("GET %s/health = %d, %v", moved.URL, code, err)
	}
	row, err := h.st.Get(context.Background(), req.CustomerID)
	if err != nil {
		t.Fatal(err)
	}
	if "http://127.0.0.1:"+strconv.Itoa(row.Port) != moved.URL {
		t.Errorf("persisted port %d, want the new one of %s", row.Port, moved.URL)
	}
}

func TestSecretsStayOffTheCommandLine(t *testing.T) {
	h := newHarness(t)
	d := h.driver(t, func(o *process.Options) {
		o.Env = []string{"ANTHROPIC_BASE_URL=http://127.0.0.1:9"}
	})
	req, c := h.request(t)
	provision(t, d, req)
	pid := status(t, d, req.CustomerID).PID

	cmdline := procFile(t, pid, "cmdline")
	if want := runtimeBin + "\x00"; cmdline != want {
		t.Errorf("cmdline = %q, want only the binary %q", cmdline, want)
	}
	environ := procFile(t, pid, "environ")
	for _, secret := range []string{c.DatabaseURL, "postgres://"} {
		if strings.Contains(cmdline, secret) || strings.Contains(environ, secret) {
			t.Errorf("the runtime's command line or environment holds %q", secret)
		}
	}
	var env []string
	home := ""
	for _, kv := range strings.Split(strings.TrimSuffix(environ, "\x00"), "\x00") {
		switch k, v, _ := strings.Cut(kv, "="); k {
		case "HOME":
			home = v
		case "TMPDIR":
			if v != home+"/tmp" {
				t.Errorf("TMPDIR=%q, want the runtime's own %s/tmp", v, home)
			}
		default:
			env = append(env, kv)
		}
	}
	if isolationMode() == process.IsolationOn && !strings.HasSuffix(home, "/tenants/"+names.Service(c.ID)) {
		t.Errorf("HOME=%q, want the runtime's private directory", home)
	}
	want := []string{
		"ANTHROPIC_BASE_URL=http://127.0.0.1:9",
		"GOMEMLIMIT=460MiB", // 90% of Starter's 512 MiB
		"GOMAXPROCS=1",      // Starter's 0.5 vCPU, rounded up
		process.MarkerEnv + "=" + names.Service(c.ID),
	}
	if diff := cmp.Diff(want, env); diff != "" {
		t.Errorf("runtime environment (-want +got):\n%s", diff)
	}
}

func TestProvisionWithoutADatabaseSecretIsRejected(t *testing.T) {
	h := newHarness(t)
	d := h.driver(t)
	req, _ := h.request(t)
	req.DatabaseRef = "db/cus_missing"
	_, err := d.Provision(context.Background(), req)
	if !errors.Is(err, secrets.ErrNotFound) {
		t.Fatalf("Provision = %v, want secrets.ErrNotFound", err)
	}
	if _, ok := d.Status(req.CustomerID); ok {
		t.Errorf("a runtime is supervised for a rejected request")
	}
}

func TestProvisionGivesUpOnARuntimeThatCannotStart(t *testing.T) {
	h := newHarness(t)
	d := h.driver(t)
	req, c := h.request(t)
	// Nothing listens on port 1: the runtime exits at start, every time.
	if err := h.sec.Put(context.Background(), c.DatabaseRef, []byte("postgres://u:p@127.0.0.1:1/db?connect_timeout=1")); err != nil {
		t.Fatal(err)
	}
	_, err := d.Provision(context.Background(), req)
	if err == nil || !strings.Contains(err.Error(), "failed starts") {
		t.Fatalf("Provision = %v, want an error after failed starts", err)
	}
	if errors.Is(err, app.ErrRejected) {
		t.Errorf("a runtime that cannot start yet is not a rejected request: %v", err)
	}
	if err := d.Delete(context.Background(), req.CustomerID); err != nil {
		t.Fatal(err)
	}
	if got := pids(t, req.CustomerID); len(got) != 0 {
		t.Errorf("runtimes after Delete = %v", got)
	}
}

func TestInstancesGauge(t *testing.T) {
	h := newHarness(t)
	d := h.driver(t)
	for range 2 {
		req, _ := h.request(t)
		provision(t, d, req)
	}
	if got := gauge(t, h, "claw_compute_instances", "running"); got != 2 {
		t.Errorf("claw_compute_instances{state=running} = %v, want 2", got)
	}
}

func TestNewRejectsAMissingBinary(t *testing.T) {
	h := newHarness(t)
	_, err := process.New(process.Options{Binary: "/nonexistent/runtime", Store: h.st, Secrets: h.sec, Log: h.log})
	if err == nil {
		t.Fatal("New accepted a binary that does not exist")
	}
}

func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(stat), ')')
	return i > 0 && i+2 < len(stat) && stat[i+2] != 'Z'
}

func procFile(t *testing.T, pid int, name string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
