package runtime_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"clawdbot.cloud/pkg/apikey"
	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/runtime"
	"clawdbot.cloud/services/runtime/internal/httpapi"
)

// newDelivery is a signup's workspace with a new key (returned in plain).
func newDelivery(t *testing.T, files ...customerdb.DeliveredFile) (customerdb.Delivery, string) {
	t.Helper()
	key, err := apikey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return customerdb.Delivery{Files: files, APIKey: customerdb.DeliveredKey{Hash: apikey.Hash(key), Prefix: apikey.Prefix(key)}}, key
}

func workspaceFiles(t *testing.T, in *instance) []customerdb.File {
	t.Helper()
	files, err := customerdb.ReadWorkspace(t.Context(), in.pool)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// The workspace service delivers a signup's workspace through the instance:
// only with the instance token, and what it delivers works at once.
func TestPlatformDeliversTheWorkspace(t *testing.T) {
	in := startInstance(t, "cus_DELIVER", plans.Starter, withConfig(func(c *runtime.Config) { c.InstanceToken = instanceToken }))
	d, key := newDelivery(t,
		customerdb.DeliveredFile{Path: "USER.md", Content: "Ada"},
		customerdb.DeliveredFile{Path: "skills/memory/SKILL.md", Content: "memory", PlanManaged: true})
	put := func(cred string, body any) (*http.Response, []byte) {
		return in.do(t, http.MethodPut, httpapi.PlatformWorkspacePath, cred, body)
	}

	customerKey := in.addKey(t)
	for name, cred := range map[string]string{
		"no credential":    "",
		"a customer's key": customerKey,
		"a wrong token":    instanceToken[:len(instanceToken)-1] + "x",
	} {
		if resp, raw := put(cred, d); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("PUT with %s = %d %s, want 401", name, resp.StatusCode, raw)
		}
	}
	if got := workspaceFiles(t, in); len(got) != 0 {
		t.Fatalf("refused deliveries wrote %v", got)
	}

	for name, body := range map[string]any{
		"a short hash":     `{"files":[],"api_key":{"hash":"AAAA","prefix":"claw_x"}}`,
		"an unknown field": `{"files":[],"api_key":{"hash":"AAAA","prefix":"claw_x"},"extra":1}`,
		"a path twice":     `{"files":[{"path":"A.md","content":""},{"path":"A.md","content":""}],"api_key":{"hash":"` + strings.Repeat("A", 43) + `=","prefix":"claw_x"}}`,
		"not an object":    `[]`,
	} {
		if resp, raw := put(instanceToken, body); resp.StatusCode != http.StatusBadRequest || jsonField(t, string(raw), "error") == "" {
			t.Errorf("PUT %s = %d %s, want 400 with a reason", name, resp.StatusCode, raw)
		}
	}

	for range 2 { // a replay changes nothing
		if resp, raw := put(instanceToken, d); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("PUT with the instance token = %d %s, want 204", resp.StatusCode, raw)
		}
	}
	in.call(t, http.MethodGet, "/api/memory", key, nil, http.StatusOK, nil)
	want := []customerdb.File{{Path: "USER.md", Content: "Ada"}, {Path: "skills/memory/SKILL.md", Content: "memory"}}
	if diff := cmp.Diff(want, workspaceFiles(t, in)); diff != "" {
		t.Errorf("workspace (-want +got):\n%s", diff)
	}
	if strings.Contains(in.logs.String(), instanceToken) || strings.Contains(in.logs.String(), key) {
		t.Error("logs contain the instance token or the key")
	}
}

// Without an instance token there is no platform endpoint: the workspace
// service then writes the workspace itself.
func TestNoPlatformEndpointWithoutAnInstanceToken(t *testing.T) {
	in := startInstance(t, "cus_NOTOKEN", plans.Starter)
	d, _ := newDelivery(t)
	if resp, raw := in.do(t, http.MethodPut, httpapi.PlatformWorkspacePath, "", d); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("PUT = %d %s, want 404", resp.StatusCode, raw)
	}
}
