package railwaytest_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"clawdbot.cloud/services/railway/internal/railwaytest"
)

const (
	token   = "tok"
	project = "p-1"
	envID   = "e-1"
)

func newServer(t *testing.T) *railwaytest.Server {
	return railwaytest.New(t, railwaytest.Options{
		Token: token, TokenKind: "account", ProjectID: project, EnvironmentID: envID, AllowRejections: true,
	})
}

// post sends one GraphQL request and decodes the answer.
func post(t *testing.T, s *railwaytest.Server, query string, vars map[string]any) (int, map[string]any) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, s.URL, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

func TestRejectsWhatTheSchemaRejects(t *testing.T) {
	s := newServer(t)
	for _, tc := range []struct {
		name, query string
		vars        map[string]any
	}{
		{"unknown field", `query { deployment(id: "x") { id colour } }`, nil},
		{"unknown mutation", `mutation { serviceLaunch(id: "x") }`, nil},
		{"missing required argument", `mutation { serviceInstanceDeployV2(serviceId: "s") }`, nil},
		{"argument of the wrong type", `mutation { serviceInstanceDeployV2(serviceId: 1, environmentId: "e") }`, nil},
		{"unknown input field", `mutation { serviceCreate(input: {projectId: "p", nickname: "n"}) { id } }`, nil},
		{"missing required input field", `mutation { serviceInstanceLimitsUpdate(input: {serviceId: "s", vCPUs: 1}) }`, nil},
		{"selection on a scalar", `query { deployment(id: "x") { status { name } } }`, nil},
		{"no selection on an object", `mutation { serviceCreate(input: {projectId: "p"}) }`, nil},
		{"missing variable", `query Q($id: String!) { deployment(id: $id) { id } }`, map[string]any{}},
		{"variable of the wrong type", `query Q($id: String!) { deployment(id: $id) { id } }`, map[string]any{"id": 42}},
		{"enum in the wrong case",
			`mutation M($p: RestartPolicyType!) { serviceInstanceUpdate(serviceId: "s", input: {restartPolicyType: $p}) }`,
			map[string]any{"p": "on_failure"}},
		{"fractional Int",
			`mutation M($n: Int!) { serviceInstanceUpdate(serviceId: "s", input: {numReplicas: $n}) }`,
			map[string]any{"n": 1.5}},
		{"variables that are not strings",
			`mutation M($v: EnvironmentVariables!) { variableCollectionUpsert(input: {projectId: "p", environmentId: "e", variables: $v}) }`,
			map[string]any{"v": map[string]any{"PORT": 8080}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, out := post(t, s, tc.query, tc.vars)
			if status != http.StatusBadRequest || out["errors"] == nil {
				t.Errorf("answered %d %v, want 400 with errors", status, out)
			}
		})
	}
}

func TestAnswersInTheSchemasShape(t *testing.T) {
	s := newServer(t)
	status, out := post(t, s, `mutation C($p: String!, $e: String!) {
		created: serviceCreate(input: {projectId: $p, environmentId: $e, name: "web"}) { __typename id name projectId }
	}`, map[string]any{"p": project, "e": envID})
	if status != http.StatusOK || out["errors"] != nil {
		t.Fatalf("serviceCreate: %d %v", status, out)
	}
	created := out["data"].(map[string]any)["created"].(map[string]any)
	id := created["id"].(string)
	if diff := cmp.Diff(map[string]any{"__typename": "Service", "id": id, "name": "web", "projectId": project}, created); diff != "" {
		t.Errorf("created (-want +got):\n%s", diff)
	}

	_, out = post(t, s, `query L($e: String!) { environment(id: $e) {
		serviceInstances(first: 10) { edges { node { serviceName ... on ServiceInstance { serviceId latestDeployment { id } } } }
		pageInfo { hasNextPage } } } }`, map[string]any{"e": envID})
	want := map[string]any{"environment": map[string]any{"serviceInstances": map[string]any{
		"edges":    []any{map[string]any{"node": map[string]any{"serviceName": "web", "serviceId": id, "latestDeployment": nil}}},
		"pageInfo": map[string]any{"hasNextPage": false},
	}}}
	if diff := cmp.Diff(want, out["data"]); diff != "" {
		t.Errorf("environment (-want +got):\n%s", diff)
	}
}

func TestErrorsAsRailwayAnswersThem(t *testing.T) {
	s := newServer(t)
	// Another environment: a GraphQL error, data null.
	status, out := post(t, s, `query { environment(id: "elsewhere") { id } }`, nil)
	if status != http.StatusOK || out["data"] != nil || out["errors"] == nil {
		t.Errorf("foreign environment: %d %v", status, out)
	}
	// A nullable-free mutation on a missing service: the error and null data.
	status, out = post(t, s, `mutation { serviceDelete(id: "nope") }`, nil)
	if status != http.StatusOK || out["data"] != nil {
		t.Errorf("delete of nothing: %d %v", status, out)
	}
	// A wrong token.
	body, _ := json.Marshal(map[string]any{"query": `query { deployment(id: "x") { id } }`})
	req, _ := http.NewRequest(http.MethodPost, s.URL, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Project-Access-Token", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&got)
	if got["errors"] == nil {
		t.Errorf("a project token where a bearer token is expected was accepted: %v", got)
	}
}
