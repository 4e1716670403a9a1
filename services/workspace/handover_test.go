package workspace_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/pkg/servicetest"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
	"clawdbot.cloud/services/workspace/internal/app"
)

const testInstanceToken = "it_handover_0123456789abcdef0123456789"

// instanceDouble stands for a customer's running runtime on its platform
// endpoint, as services/runtime/internal/httpapi serves it (that package's
// tests hold the real one to its OpenAPI document): PUT
// /platform/workspace with the instance token, a JSON customerdb.Delivery
// with no unknown field, applied with customerdb.Deliver to its database,
// 204. status, when not 0, is answered instead (an older runtime: 404).
type instanceDouble struct {
	*httptest.Server
	puts   atomic.Int32
	status int
}

func newInstanceDouble(t *testing.T, db *pgxpool.Pool, status int) *instanceDouble {
	t.Helper()
	d := &instanceDouble{status: status}
	d.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.puts.Add(1)
		switch {
		case d.status != 0:
			w.WriteHeader(d.status)
			return
		case r.Method != http.MethodPut || r.URL.Path != app.PlatformWorkspacePath:
			http.Error(w, `{"error":"not found"}`, http.StatusNotFound)
			return
		case r.Header.Get("Authorization") != "Bearer "+testInstanceToken:
			http.Error(w, `{"error":"this endpoint takes the instance token"}`, http.StatusUnauthorized)
			return
		case r.Header.Get("Content-Type") != "application/json":
			http.Error(w, `{"error":"send JSON"}`, http.StatusUnsupportedMediaType)
			return
		}
		var del customerdb.Delivery
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&del); err != nil {
			http.Error(w, `{"error":"bad delivery"}`, http.StatusBadRequest)
			return
		}
		if err := customerdb.Deliver(r.Context(), db, del); err != nil {
			http.Error(w, `{"error":"cannot write"}`, http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(d.Close)
	return d
}

// instanceDB is a migrated database the workspace service is not told of.
func instanceDB(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := customerdb.Migrate(context.Background(), pool); err != nil {
		t.Fatal(err)
	}
	return pool
}

func deliveries(t *testing.T, f *fixture, via string) float64 {
	t.Helper()
	return servicetest.Counter(t, f.svc.Metrics, "claw_workspace_deliveries_total", map[string]string{"via": via})
}

// A signup's build hands the workspace to the running instance, which
// writes it through its own connection: the service opens none (no
// database URL is even stored here, so writing it itself would fail).
func TestBuildHandsTheWorkspaceToTheInstance(t *testing.T) {
	f := newFixture(t, nil)
	const cust, saga = "cus_HandOver", "signup-handover"
	db := instanceDB(t)
	inst := newInstanceDouble(t, db, 0)
	f.putSecret(names.InstanceTokenRef(cust), testInstanceToken)

	st := step(saga, cust, 1)
	cmd := buildCmd(st, plans.Pro)
	cmd.InstanceUrl = inst.URL
	f.send(subjects.CmdWorkspaceBuild, cmd, st)
	built := servicetest.WaitStep[pb.WorkspaceBuilt](t, f.events, subjects.WorkspaceBuilt, saga, 1, waitFor)

	files := workspaceFiles(t, db)
	if int(built.GetFiles()) != len(files) || !strings.Contains(files["USER.md"], "Ada") {
		t.Errorf("built says %d files; the instance's database has %d, USER.md %q", built.GetFiles(), len(files), files["USER.md"])
	}
	key := revealed(t, f, saga)
	if !keyWorks(t, db, key) {
		t.Error("the revealed key does not work in the instance's database")
	}
	if got := deliveries(t, f, "instance"); got != 1 {
		t.Errorf("deliveries through the instance = %v, want 1", got)
	}
	if got := deliveries(t, f, "direct") + deliveries(t, f, "fallback"); got != 0 {
		t.Errorf("deliveries written by the service = %v, want 0", got)
	}
	assertNoLeak(t, f, key)
	if subs := leaks(f.events, testInstanceToken); len(subs) > 0 {
		t.Errorf("the instance token is in messages on %v", subs)
	}
}

// When the instance does not take the workspace — a runtime older than the
// endpoint, one that does not answer — the service writes it itself, and
// the build still succeeds.
func TestBuildWritesTheWorkspaceItselfWhenTheInstanceDoesNot(t *testing.T) {
	f := newFixture(t, nil)
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	for i, c := range []struct {
		name string
		url  func(t *testing.T, db *pgxpool.Pool) string
	}{
		{"an older runtime", func(t *testing.T, db *pgxpool.Pool) string { return newInstanceDouble(t, db, http.StatusNotFound).URL }},
		{"no answer", func(*testing.T, *pgxpool.Pool) string { return gone.URL }},
		{"not an http URL", func(*testing.T, *pgxpool.Pool) string { return "ftp://instance.example" }},
	} {
		t.Run(c.name, func(t *testing.T) {
			cust, saga := "cus_Fallback"+string(rune('A'+i)), "signup-fallback-"+string(rune('a'+i))
			db := f.customerDB(cust)
			f.putSecret(names.InstanceTokenRef(cust), testInstanceToken)
			st := step(saga, cust, 1)
			cmd := buildCmd(st, plans.Starter)
			cmd.InstanceUrl = c.url(t, db)
			f.send(subjects.CmdWorkspaceBuild, cmd, st)
			servicetest.WaitStep[pb.WorkspaceBuilt](t, f.events, subjects.WorkspaceBuilt, saga, 1, waitFor)
			if !keyWorks(t, db, revealed(t, f, saga)) || len(workspaceFiles(t, db)) == 0 {
				t.Error("the workspace was not written")
			}
			if got := deliveries(t, f, "fallback"); got != float64(i+1) {
				t.Errorf("fallback deliveries = %v, want %d", got, i+1)
			}
		})
	}
}
