package neon_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/services/neon/internal/adapters/neon"
	"clawdbot.cloud/services/neon/internal/app"
	"clawdbot.cloud/services/neon/internal/neonapi"
	"clawdbot.cloud/services/neon/internal/neontest"
)

// ops returns the operationIds of calls, in order.
func ops(calls []neontest.Call) []string {
	out := make([]string, 0, len(calls))
	for _, c := range calls {
		out = append(out, c.Operation)
	}
	return out
}

// countOps counts calls per operationId.
func countOps(calls []neontest.Call) map[string]int {
	m := map[string]int{}
	for _, c := range calls {
		m[c.Operation]++
	}
	return m
}

func TestProvisionAPICalls(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	id := f.newCustomer(t)
	f.srv.ResetCalls()
	if _, err := f.driver.Create(t.Context(), id); err != nil {
		t.Fatalf("Create: %v", err)
	}
	first := f.srv.Calls()
	want := []string{
		"listProjectBranches", "createProjectBranch",
		"getProjectOperation", "getProjectOperation", "getProjectOperation",
		"resetProjectBranchRolePassword", "getProjectOperation", "getProjectOperation",
		"getConnectionURI",
	}
	if diff := cmp.Diff(want, ops(first)); diff != "" {
		t.Errorf("API calls of a first provision (-want +got):\n%s", diff)
	}
	for _, c := range first {
		if c.Operation == "getConnectionURI" && !strings.Contains(c.Query, "pooled=true") {
			t.Errorf("connection URI asked for without pooled=true: %s", c.Query)
		}
	}
	f.srv.ResetCalls()
	if _, err := f.driver.Create(t.Context(), id); err != nil {
		t.Fatalf("second Create: %v", err)
	}
	again := f.srv.Calls()
	if diff := cmp.Diff([]string{"listProjectBranches", "listProjectBranchEndpoints", "getConnectionURI"}, ops(again)); diff != "" {
		t.Errorf("API calls of a repeated provision (-want +got):\n%s", diff)
	}
	f.srv.ResetCalls()
	if err := f.driver.Delete(t.Context(), id); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	deleted := f.srv.Calls()
	wantDelete := []string{"listProjectBranches", "deleteProjectBranch", "getProjectOperation", "getProjectOperation", "getProjectOperation"}
	if diff := cmp.Diff(wantDelete, ops(deleted)); diff != "" {
		t.Errorf("API calls of a delete (-want +got):\n%s", diff)
	}
	t.Logf("API calls: first provision %d %v; repeated provision %d; delete %d", len(first), countOps(first), len(again), len(deleted))
}

func TestRepeatedCreateKeepsBranchAndPassword(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	id := f.newCustomer(t)
	if _, err := f.driver.Create(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	before := f.srv.Branches(names.Database(id))
	url1 := f.storedURL(t, id)
	if _, err := f.driver.Create(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	after := f.srv.Branches(names.Database(id))
	if len(after) != 1 || after[0].ID != before[0].ID {
		t.Fatalf("branches before %v, after %v: want the same one", before, after)
	}
	if after[0].Passwords[roleName] != before[0].Passwords[roleName] || f.storedURL(t, id) != url1 {
		t.Error("a repeated Create changed the password the customer's runtime uses")
	}
}

func TestBranchesAreIsolatedByPassword(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	a, b := f.newCustomer(t), f.newCustomer(t)
	for _, id := range []string{a, b} {
		if _, err := f.driver.Create(t.Context(), id); err != nil {
			t.Fatal(err)
		}
	}
	parent, ok := f.srv.Branch(f.srv.ParentBranchID())
	if !ok {
		t.Fatal("no parent branch")
	}
	ba, bb := f.srv.Branches(names.Database(a))[0], f.srv.Branches(names.Database(b))[0]
	if ba.ID == bb.ID || ba.Endpoint == bb.Endpoint {
		t.Fatalf("two customers share branch %s or endpoint %s", ba.ID, ba.Endpoint)
	}
	pa, pb, pp := ba.Passwords[roleName], bb.Passwords[roleName], parent.Passwords[roleName]
	if pa == pb || pa == pp || pb == pp {
		t.Error("a branch kept the password it inherited: its credentials would open its siblings")
	}
}

func TestCreateFindsABranchAnEarlierAttemptLeft(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	id := f.newCustomer(t)
	// An attempt created the branch, then died before storing its URI.
	if _, err := f.driver.Create(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	if err := f.secrets.Delete(t.Context(), names.DatabaseRef(id)); err != nil {
		t.Fatal(err)
	}
	inherited := f.srv.Branches(names.Database(id))[0].Passwords[roleName]
	f.srv.ResetCalls()
	if _, err := f.driver.Create(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	got := countOps(f.srv.Calls())
	if got["createProjectBranch"] != 0 || got["resetProjectBranchRolePassword"] != 1 {
		t.Errorf("calls %v: want the branch found, not created, and the password reset", got)
	}
	if f.srv.Branches(names.Database(id))[0].Passwords[roleName] == inherited {
		t.Error("the password was not reset although no URI was stored")
	}
	checkConnects(t, f.storedURL(t, id))
}

// raceTransport creates the branch through another driver just before the
// first create request goes out, as a replica racing this one would.
type raceTransport struct {
	next  http.RoundTripper
	other *neon.Driver
	id    string
	done  bool
}

func (r *raceTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !r.done && req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/branches") {
		r.done = true
		if _, err := r.other.Create(req.Context(), r.id); err != nil {
			return nil, fmt.Errorf("racing create: %w", err)
		}
	}
	return r.next.RoundTrip(req)
}

func TestCreateConflictFindsTheRacingBranch(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	id := f.newCustomer(t)
	race := &raceTransport{next: http.DefaultTransport, id: id}
	racer := openOn(t, f, func(c *neon.Config) { c.HTTPClient = &http.Client{Transport: race} })
	race.other = f.driver
	if _, err := racer.Create(t.Context(), id); err != nil {
		t.Fatalf("Create that lost the race: %v", err)
	}
	if n := len(f.srv.Branches(names.Database(id))); n != 1 {
		t.Errorf("%d branches, want 1", n)
	}
	statuses := map[int]int{}
	for _, c := range f.srv.Calls() {
		if c.Operation == "createProjectBranch" {
			statuses[c.Status]++
		}
	}
	if statuses[http.StatusConflict] != 1 {
		t.Errorf("create statuses %v, want one 409", statuses)
	}
	checkConnects(t, f.storedURL(t, id))
}

func TestFailedOperationFailsForGood(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		action string
		status string
	}{
		{"create_timeline", "failed"},
		{"start_compute", "error"},
		{"apply_config", "failed"},
	} {
		t.Run(tc.action+"_"+tc.status, func(t *testing.T) {
			f := newFixture(t, nil)
			id := f.newCustomer(t)
			f.srv.FailNext(neonapi.OperationAction(tc.action), neonapi.OperationStatus(tc.status))
			_, err := f.driver.Create(t.Context(), id)
			if !errors.Is(err, app.ErrRejected) {
				t.Fatalf("Create = %v, want app.ErrRejected", err)
			}
			if !strings.Contains(err.Error(), tc.action) {
				t.Errorf("error %q does not name the operation", err)
			}
			// The saga compensates: Delete removes what was made.
			if err := f.driver.Delete(t.Context(), id); err != nil {
				t.Fatalf("Delete after a failed create: %v", err)
			}
			if n := len(f.srv.Branches(names.Database(id))); n != 0 {
				t.Errorf("%d branches left after the compensation", n)
			}
		})
	}
}

func TestCredentialsNeverReachTheLog(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	id := f.newCustomer(t)
	if _, err := f.driver.Create(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	if err := f.secrets.Delete(t.Context(), names.DatabaseRef(id)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.driver.Create(t.Context(), id); err != nil { // the warning path
		t.Fatal(err)
	}
	logs := f.logs.String()
	for _, leak := range []string{f.srv.Branches(names.Database(id))[0].Passwords[roleName], f.storedURL(t, id), "postgres"} {
		if strings.Contains(logs, leak) {
			t.Fatalf("the driver's log carries a credential:\n%s", logs)
		}
	}
	if !slices.ContainsFunc(strings.Split(logs, "\n"), func(l string) bool { return strings.Contains(l, "branch created") }) {
		t.Errorf("the driver logged nothing about the branch:\n%s", logs)
	}
}

// openOn opens a second driver on f's server and secret store.
func openOn(t *testing.T, f *fixture, configure func(*neon.Config)) *neon.Driver {
	t.Helper()
	s := f.srv.Settings()
	cfg := neon.Config{
		APIURL: s["NEON_API_URL"], APIKey: s["NEON_API_KEY"], ProjectID: s["NEON_PROJECT_ID"],
		ParentBranchID: s["NEON_PARENT_BRANCH_ID"], DatabaseName: dbName, RoleName: roleName,
		Secrets: f.secrets, Timing: neon.Timing{Sleep: f.srv.Sleep},
	}
	configure(&cfg)
	d, err := neon.Open(context.WithoutCancel(t.Context()), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return d
}
