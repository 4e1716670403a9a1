package ingress_test

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

	"clawdbot.cloud/services/ingress/internal/httpapi"
)

var (
	contractOnce   sync.Once
	contractRouter routers.Router
	contractErr    error
)

// router loads the ingress's OpenAPI document once, validated.
func router(t testing.TB) routers.Router {
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
		t.Fatalf("openapi.json: %v", contractErr)
	}
	return contractRouter
}

// violation is why a response breaks the document: nil when it conforms or
// when its route is undocumented (the 404 and 405 fallbacks).
func violation(t testing.TB, req *http.Request, code int, header http.Header, body []byte) error {
	t.Helper()
	route, params, err := router(t).FindRoute(req)
	if err != nil {
		return nil
	}
	return openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		},
		Status: code,
		Header: header,
		Body:   io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{
			IncludeResponseStatus: true, // an undocumented status code is a violation
			MultiError:            true,
		},
	})
}

// checkContract fails t when a real response of the ingress breaks its
// OpenAPI document. do() calls it for every request the tests make.
func checkContract(t testing.TB, req *http.Request, code int, header http.Header, body []byte) {
	t.Helper()
	if err := violation(t, req, code, header, body); err != nil {
		t.Errorf("%s %s: %d %s breaks openapi.json: %v", req.Method, req.URL.Path, code, body, err)
	}
}

// The document is served without authentication at /openapi.json, is the
// embedded one, and is a valid OpenAPI document.
func TestOpenAPIServed(t *testing.T) {
	h := start(t)
	r := h.get(t, "/openapi.json")
	if r.Code != http.StatusOK || r.Body["openapi"] != "3.1.0" {
		t.Fatalf("GET /openapi.json = %d %v", r.Code, r.Body["openapi"])
	}
	router(t)
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
