package ingress_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"clawdbot.cloud/pkg/openapitest"

	"clawdbot.cloud/services/ingress/internal/httpapi"
)

// doc is this service's OpenAPI document; the harness checks every response
// the tests receive against it (pkg/openapitest).
var doc = &openapitest.Contract{Name: "openapi.json", Doc: httpapi.OpenAPI}

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

// The document is served without authentication at /openapi.json, is the
// embedded one, and is a valid OpenAPI document.
func TestOpenAPIServed(t *testing.T) {
	h := start(t)
	r := h.get(t, "/openapi.json")
	if r.Code != http.StatusOK || r.Body["openapi"] != "3.1.0" {
		t.Fatalf("GET /openapi.json = %d %v", r.Code, r.Body["openapi"])
	}
	doc.Router(t)
}

// The contract check fails wrong responses of documented routes, so it
// cannot pass vacuously: a missing field, a field of the wrong type, an
// unknown field, an undocumented status, an error without its message.
func TestContractCatchesWrongResponses(t *testing.T) {
	json := http.Header{"Content-Type": {"application/json"}}
	for name, c := range map[string]struct {
		method, path string
		code         int
		body         string
	}{
		"provisioning missing steps": {"GET", "/v1/provisioning/cs_test_a", 200, `{"checkout_session_id":"cs_test_a","status":"running","instance_url":"","api_key_available":false,"api_key_revealed":false,"failure_reason":""}`},
		"reveal key not a string":    {"POST", "/v1/provisioning/cs_test_a/reveal", 200, `{"api_key":1,"instance_url":""}`},
		"checkout unknown field":     {"POST", "/v1/checkout", 200, `{"id":"cs_1","url":"u","extra":true}`},
		"undocumented status":        {"GET", "/v1/provisioning/cs_test_a", 418, `{"error":"teapot"}`},
		"error without message":      {"POST", "/webhooks/stripe", 400, `{"reasons":["x"]}`},
		"admin error not an error":   {"GET", "/v1/admin/sagas", 401, `{"message":"no"}`},
	} {
		req := httptest.NewRequest(c.method, "http://ingress"+c.path, nil)
		if violation(t, req, c.code, json, []byte(c.body)) == nil {
			t.Errorf("%s: passed", name)
		}
	}
	req := httptest.NewRequest("GET", "http://ingress/v1/provisioning/cs_test_a", nil)
	good := `{"checkout_session_id":"cs_test_a","status":"running","steps":[{"name":"database","status":"ok","at":"2026-12-04T17:00:00Z"}],"instance_url":"","api_key_available":false,"api_key_revealed":false,"failure_reason":""}`
	if err := violation(t, req, 200, json, []byte(good)); err != nil {
		t.Errorf("a good response failed: %v", err)
	}
}
