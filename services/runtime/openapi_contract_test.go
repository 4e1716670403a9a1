package runtime_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"clawdbot.cloud/pkg/openapitest"

	"clawdbot.cloud/services/runtime/internal/httpapi"
)

// doc is this service's OpenAPI document; the harness checks every response
// the tests receive against it (pkg/openapitest).
var doc = &openapitest.Contract{Name: "internal/httpapi/openapi.json", Doc: httpapi.OpenAPI}

// violation is why a response breaks the document (nil when it conforms).
func violation(t testing.TB, req *http.Request, code int, header http.Header, body []byte) error {
	t.Helper()
	return doc.Violation(t, req, code, header, body)
}

// checkContract fails t when a real response breaks the document.
func checkContract(t testing.TB, req *http.Request, code int, header http.Header, body []byte) {
	t.Helper()
	doc.Check(t, req, code, header, body)
}

// The document is served without a key and is a valid OpenAPI document.
func TestOpenAPIServed(t *testing.T) {
	in := startInstance(t, "cus_openapi", "starter")
	resp, raw := in.do(t, http.MethodGet, "/openapi.json", "", nil)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(raw, httpapi.OpenAPI) {
		t.Fatalf("GET /openapi.json = %d, %d bytes", resp.StatusCode, len(raw))
	}
	doc.Router(t)
}

// The contract check fails wrong responses of documented routes, so it
// cannot pass vacuously.
func TestContractCatchesWrongResponses(t *testing.T) {
	json := http.Header{"Content-Type": {"application/json"}}
	for name, c := range map[string]struct {
		method, path string
		code         int
		ct           http.Header
		body         string
	}{
		"health status unknown": {"GET", "/health", 200, json, `{"status":"fine"}`},
		"status missing quota":  {"GET", "/status", 200, json, `{"instance_id":"i","plan":"starter","usage":{"messages":0,"input_tokens":0,"output_tokens":0,"period_start":"2026-12-01T00:00:00Z","period_end":"2027-01-01T00:00:00Z"},"model":{"provider":"","model":""},"version":"v"}`},
		"error not a string":    {"GET", "/api/keys", 401, json, `{"error":{"message":"no"}}`},
		"openai error a string": {"GET", "/v1/models", 401, json, `{"error":"no"}`},
		"undocumented success":  {"DELETE", "/api/keys/k1", 200, json, `{}`},
		"export as json":        {"GET", "/api/workspace/export", 200, json, `{}`},
		"models without data":   {"GET", "/v1/models", 200, json, `{"object":"list"}`},
		"models not a list":     {"GET", "/v1/models", 200, json, `{"object":"model","data":[]}`},
		"completion not one":    {"POST", "/v1/chat/completions", 200, json, `{"id":"c","object":"list","choices":[]}`},
	} {
		req := httptest.NewRequest(c.method, "http://runtime"+c.path, nil)
		if violation(t, req, c.code, c.ct, []byte(c.body)) == nil {
			t.Errorf("%s: passed", name)
		}
	}
	req := httptest.NewRequest("GET", "http://runtime/health", nil)
	if err := violation(t, req, 200, json, []byte(`{"status":"ok"}`)); err != nil {
		t.Errorf("a good response failed: %v", err)
	}
}
