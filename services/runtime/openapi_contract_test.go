package runtime_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"clawdbot.cloud/services/runtime/internal/httpapi"
)

var (
	contractOnce   sync.Once
	contractRouter routers.Router
	contractErr    error
)

// contract loads the runtime's own OpenAPI document once, validated.
func contract(t testing.TB) routers.Router {
	t.Helper()
	contractOnce.Do(func() {
		var doc *openapi3.T
		doc, contractErr = openapi3.NewLoader().LoadFromData(httpapi.OpenAPI)
		if contractErr == nil {
			contractErr = doc.Validate(context.Background())
		}
		if contractErr == nil {
			contractRouter, contractErr = legacy.NewRouter(doc)
		}
	})
	if contractErr != nil {
		t.Fatalf("internal/httpapi/openapi.json: %v", contractErr)
	}
	return contractRouter
}

// violation is why a response breaks the document: nil when it conforms or
// when its route is undocumented (the 404/405 fallback, CORS preflights).
func violation(t testing.TB, req *http.Request, code int, header http.Header, body []byte) error {
	t.Helper()
	route, params, err := contract(t).FindRoute(req)
	if err != nil {
		return nil
	}
	return openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		},
		Status:  code,
		Header:  header,
		Body:    io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	})
}

// checkContract fails t when a real response of the runtime breaks its
// OpenAPI document; instance.do calls it for every request the tests make.
func checkContract(t testing.TB, req *http.Request, code int, header http.Header, body []byte) {
	t.Helper()
	if err := violation(t, req, code, header, body); err != nil {
		t.Errorf("%s %s: %d %.300s breaks openapi.json: %v", req.Method, req.URL.Path, code, body, err)
	}
}

// The document is served without a key and is a valid OpenAPI document.
func TestOpenAPIServed(t *testing.T) {
	in := startInstance(t, "cus_openapi", "starter")
	resp, raw := in.do(t, http.MethodGet, "/openapi.json", "", nil)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(raw, httpapi.OpenAPI) {
		t.Fatalf("GET /openapi.json = %d, %d bytes", resp.StatusCode, len(raw))
	}
	contract(t)
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
