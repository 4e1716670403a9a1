package neontest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/services/neon/internal/neonapi"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// do sends a request to s with the right key unless key is given.
func do(t *testing.T, s *Server, method, path, body string, key ...string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	k := s.opts.APIKey
	if len(key) > 0 {
		k = key[0]
	}
	req.Header.Set("Authorization", "Bearer "+k)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func newServer(t *testing.T) *Server {
	t.Helper()
	return New(t, Options{AdminURL: pgtest.AdminURL(t)})
}

func TestRequestsOutsideTheDefinitionAreRejectedAndReported(t *testing.T) {
	s := newServer(t)
	for _, tc := range []struct{ name, method, path, body, want string }{
		{"bad parent id", "POST", "/projects/neontest-project/branches", `{"branch":{"parent_id":"BR_UPPER"}}`, "parent_id"},
		{"unknown endpoint type", "POST", "/projects/neontest-project/branches", `{"endpoints":[{"type":"read_mostly"}]}`, "type"},
		{"operation id not a uuid", "GET", "/projects/neontest-project/operations/42", "", "operation_id"},
		{"connection URI without a role", "GET", "/projects/neontest-project/connection_uri?database_name=x", "", "role_name"},
		{"no such operation", "POST", "/projects/neontest-project/branches/br-x/teleport", "", "not an operation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _ := do(t, s, tc.method, tc.path, tc.body)
			if status < 400 || status >= 500 {
				t.Errorf("answered %d, want a 4xx", status)
			}
			v := s.TakeViolations()
			if len(v) != 1 || !strings.Contains(v[0], tc.want) {
				t.Errorf("violations %q, want one about %s", v, tc.want)
			}
		})
	}
}

func TestWrongAPIKeyIsUnauthorized(t *testing.T) {
	s := newServer(t)
	status, _ := do(t, s, "GET", "/projects/neontest-project/branches", "", "not-the-key")
	if status != http.StatusUnauthorized {
		t.Errorf("answered %d, want 401", status)
	}
}

func TestAnswersOutsideTheDefinitionAreCaught(t *testing.T) {
	s := newServer(t)
	req, err := http.NewRequest("GET", s.URL+"/projects/neontest-project/branches", nil)
	if err != nil {
		t.Fatal(err)
	}
	in, err := route(req, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{"Content-Type": {"application/json"}}
	if err := validateResponse(in, 200, h, []byte(`{"branches":[{"id":"br-a","name":"x"}],"annotations":{}}`)); err == nil {
		t.Error("a branch without its required fields passed")
	}
	if err := validateResponse(in, 200, h, []byte(`{"branches":[],"annotations":{}}`)); err != nil {
		t.Errorf("a valid answer failed: %v", err)
	}
}

func TestOperationsMoveOnlyOnTicks(t *testing.T) {
	s := newServer(t)
	status, body := do(t, s, "POST", "/projects/neontest-project/branches",
		`{"branch":{"name":"b1","parent_id":"`+s.ParentBranchID()+`"},"endpoints":[{"type":"read_write"}]}`)
	if status != http.StatusCreated {
		t.Fatalf("create branch: %d %s", status, body)
	}
	var created neonapi.CreatedBranch
	if err := json.Unmarshal(body, &created); err != nil {
		t.Fatal(err)
	}
	if len(created.Operations) != 2 || len(created.Endpoints) != 1 {
		t.Fatalf("created %d operations and %d endpoints, want 2 and 1", len(created.Operations), len(created.Endpoints))
	}
	opPath := "/projects/neontest-project/operations/" + created.Operations[0].Id.String()
	status_ := func() neonapi.OperationStatus {
		_, b := do(t, s, "GET", opPath, "")
		var r neonapi.OperationResponse
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		return r.Operation.Status
	}
	for _, want := range []neonapi.OperationStatus{"scheduling", "scheduling", "", "running", "", "finished"} {
		if want == "" {
			s.Tick()
			continue
		}
		if got := status_(); got != want {
			t.Fatalf("operation %s, want %s", got, want)
		}
	}
	// While operations run, Neon refuses to start others: 423.
	status, _ = do(t, s, "POST", "/projects/neontest-project/branches", `{"branch":{"name":"b2"}}`)
	if status != http.StatusCreated {
		t.Fatalf("second branch: %d", status)
	}
	status, _ = do(t, s, "POST", "/projects/neontest-project/branches", `{"branch":{"name":"b3"}}`)
	if status != http.StatusLocked {
		t.Errorf("a branch while another is being created: %d, want 423", status)
	}
	s.Settle()
	status, _ = do(t, s, "POST", "/projects/neontest-project/branches", `{"branch":{"name":"b2"}}`)
	if status != http.StatusConflict {
		t.Errorf("a second branch with one name: %d, want 409", status)
	}
}

func TestInjectedFaults(t *testing.T) {
	s := newServer(t)
	s.Inject(Fault{Operation: "listProjectBranches", Status: http.StatusTooManyRequests, RetryAfter: "3", Times: 2})
	for i, want := range []int{429, 429, 200} {
		if status, _ := do(t, s, "GET", "/projects/neontest-project/branches", ""); status != want {
			t.Errorf("request %d: %d, want %d", i+1, status, want)
		}
	}
}
