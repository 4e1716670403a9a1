package platform_test

import (
	"fmt"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/pkg/stripefixture"
	"clawdbot.cloud/proto/subjects"
	"clawdbot.cloud/services/neon/neontest"
	"clawdbot.cloud/services/railway/railwaytest"
)

// The Railway account the cloud end-to-end tests provision in.
var cloudRailway = railwaytest.Options{
	Token: "e2e-railway-token", TokenKind: "project",
	ProjectID:     "7c0e2e00-0000-4000-8000-00000000000a",
	EnvironmentID: "7c0e2e00-0000-4000-8000-00000000000b",
}

// cloud is a platform running with COMPUTE_DRIVER=railway and
// DATABASE_DRIVER=neon against the two providers' test servers.
type cloud struct {
	*harness
	railway *railwaytest.Server
	neon    *neontest.Server
}

// wallClock stamps the Railway test server's calls with real time, so they
// line up with the Neon test server's.
type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

func startCloud(t *testing.T) *cloud {
	t.Helper()
	o := cloudRailway
	o.Clock = wallClock{}
	// Railway's containers are played by the real runtime, as local processes.
	o.RuntimeBinary = runtimeBinary
	o.RuntimeEnv = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	if os.Getenv("TEST_LOG") != "" {
		o.RuntimeOutput = os.Stderr
	}
	c := &cloud{
		railway: railwaytest.New(t, o),
		neon:    neontest.New(t, neontest.Options{AdminURL: pgtest.AdminURL(t), AutoTick: true}),
	}
	vars := railwaytest.Settings(c.railway, o, "ghcr.io/clawdbot/runtime:e2e", "25ms")
	maps.Copy(vars, c.neon.Settings())
	c.harness = start(t, vars)
	return c
}

// A signed signup provisions a Neon branch and a Railway service whose
// runtime answers with the revealed key.
func TestCloudDriversSignupEndToEnd(t *testing.T) {
	c := startCloud(t)
	t0 := time.Now()
	res := c.signup(t, "pro")
	ready := time.Now()
	cus := res.Checkout.CustomerID

	url, key := res.Status.InstanceURL, res.Status.APIKey
	svcs := c.railway.Services(names.Service(cus))
	if len(svcs) != 1 || len(svcs[0].Domains) != 1 || url != "http://"+svcs[0].Domains[0] {
		t.Fatalf("instance URL %q; Railway services %+v", url, svcs)
	}
	if got := svcs[0].Deployments; !slices.Equal(got, []string{"SUCCESS"}) {
		t.Errorf("deployments %v, want one SUCCESS", got)
	}
	if code, body := call(t, url+"/status", key); code != http.StatusOK || body["plan"] != "pro" {
		t.Errorf("/status with the key = %d %v, want 200 plan pro", code, body)
	}
	if code, _ := call(t, url+"/status", ""); code != http.StatusUnauthorized {
		t.Errorf("/status without a key = %d, want 401", code)
	}
	if b := c.neon.Branches(names.Database(cus)); len(b) != 1 || !b[0].Ready {
		t.Errorf("Neon branches %+v, want one ready", b)
	}
	if n := c.railway.Processes(); n != 1 {
		t.Errorf("%d runtime processes, want 1", n)
	}
	if v := c.neon.Violations(); len(v) > 0 {
		t.Errorf("the Neon test server saw requests outside the definition: %v", v)
	}
	c.report(t, "signup", t0, ready)
}

// A Railway deployment that ends FAILED fails the signup; the saga is
// compensated: the Railway service and the Neon branch are deleted, and
// no runtime is left running.
func TestCloudDriversFailedDeploymentIsCompensated(t *testing.T) {
	c := startCloud(t)
	c.railway.FailDeployments("FAILED", 1)
	co := stripefixture.Checkout{Email: "fail@example.com", Name: "Fail", Plan: "starter"}
	co.Fill()
	t0 := time.Now()
	if err := postCheckout(c.harness, co); err != nil {
		t.Fatal(err)
	}
	st := waitReady(t, c.harness, co.SessionID)
	if st.Status != "failed" || !strings.Contains(st.FailureReason, "FAILED") {
		t.Fatalf("status = %+v, want failed for the FAILED deployment", st)
	}
	saga := names.SignupSagaID(co.SessionID)
	waitFor(t, "saga.compensated", func() bool { return len(c.events(t, subjects.SagaCompensated, saga)) == 1 })
	done := time.Now()
	for _, s := range []string{subjects.ComputeFailed, subjects.CmdComputeDelete, subjects.CmdDatabaseDelete} {
		if n := len(c.events(t, s, saga)); n != 1 {
			t.Errorf("%s: %d for the saga, want 1", s, n)
		}
	}
	// The workspace follows the compute step: never built, nothing to undo.
	if n := len(c.events(t, subjects.CmdWorkspaceBuild, saga)) + len(c.events(t, subjects.CmdWorkspaceDelete, saga)); n != 0 {
		t.Errorf("%d workspace commands for a signup whose compute failed", n)
	}
	if n := len(c.events(t, subjects.SagaCompleted, saga)); n != 0 {
		t.Errorf("saga.completed published for a failed signup")
	}

	// Railway: the service was created, deployed once, and deleted.
	if n := c.railway.Count("serviceCreate"); n != 1 {
		t.Errorf("serviceCreate %d times, want 1", n)
	}
	if n := c.railway.Count("serviceDelete"); n < 1 {
		t.Errorf("the Railway service was never deleted")
	}
	if svcs := c.railway.Services(names.Service(co.CustomerID)); len(svcs) != 0 {
		t.Errorf("Railway services left behind: %+v", svcs)
	}
	if n := c.railway.Processes(); n != 0 {
		t.Errorf("%d runtime processes left running", n)
	}
	// Neon: the branch was created and deleted.
	if n := c.neonCount("createProjectBranch", t0); n != 1 {
		t.Errorf("createProjectBranch %d times, want 1", n)
	}
	if n := c.neonCount("deleteProjectBranch", t0); n != 1 {
		t.Errorf("deleteProjectBranch %d times, want 1", n)
	}
	if b := c.neon.Branches(names.Database(co.CustomerID)); len(b) != 0 {
		t.Errorf("Neon branches left behind: %+v", b)
	}
	if v := c.neon.Violations(); len(v) > 0 {
		t.Errorf("the Neon test server saw requests outside the definition: %v", v)
	}
	c.report(t, "failed deployment + compensation", t0, done)
}

// neonCount counts the Neon calls of operation since t0.
func (c *cloud) neonCount(operation string, since time.Time) int {
	n := 0
	for _, call := range c.neon.Calls() {
		if call.Operation == operation && !call.At.Before(since) {
			n++
		}
	}
	return n
}

// span is what one provider was asked between t0 and end.
type span struct {
	calls       int
	first, last time.Time
	ops         map[string]int
}

func (s *span) add(op string, at time.Time) {
	if s.calls == 0 || at.Before(s.first) {
		s.first = at
	}
	if at.After(s.last) {
		s.last = at
	}
	s.calls++
	s.ops[op]++
}

func (s *span) String(t0 time.Time) string {
	if s.calls == 0 {
		return "no calls"
	}
	ops := slices.Sorted(maps.Keys(s.ops))
	var b strings.Builder
	for _, op := range ops {
		fmt.Fprintf(&b, " %s×%d", op, s.ops[op])
	}
	return fmt.Sprintf("%d calls from +%v to +%v:%s", s.calls,
		s.first.Sub(t0).Round(time.Millisecond), s.last.Sub(t0).Round(time.Millisecond), b.String())
}

// report logs the API calls each provider answered between t0 and end and
// the critical path they make up.
func (c *cloud) report(t *testing.T, what string, t0, end time.Time) {
	t.Helper()
	rw, nn := &span{ops: map[string]int{}}, &span{ops: map[string]int{}}
	for _, call := range c.railway.Calls() {
		if !call.At.Before(t0) && !call.At.After(end) {
			rw.add(call.Operation, call.At)
		}
	}
	for _, call := range c.neon.Calls() {
		if !call.At.Before(t0) && !call.At.After(end) {
			nn.add(call.Operation, call.At)
		}
	}
	t.Logf("%s: %v from the webhook to the end", what, end.Sub(t0).Round(time.Millisecond))
	t.Logf("  Neon API:    %s", nn.String(t0))
	t.Logf("  Railway API: %s", rw.String(t0))
	if nn.calls > 0 && rw.calls > 0 {
		hi, lo := nn.last, nn.first
		if rw.last.Before(hi) {
			hi = rw.last
		}
		if rw.first.After(lo) {
			lo = rw.first
		}
		overlap := hi.Sub(lo)
		last := nn.last
		if rw.last.After(last) {
			last = rw.last
		}
		t.Logf("  after the last API call (health check, key reveal or compensation): %v", end.Sub(last).Round(time.Millisecond))
		t.Logf("  critical path: Neon %v, Railway %v, overlap %v (≤ 0: the providers are called one after the other)",
			nn.last.Sub(nn.first).Round(time.Millisecond), rw.last.Sub(rw.first).Round(time.Millisecond),
			overlap.Round(time.Millisecond))
	}
}
