// Package openapitest checks real HTTP responses against a service's own
// OpenAPI document (kin-openapi), so a test harness can validate every
// response its tests receive and a drifting document or handler fails.
package openapitest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// Contract is one OpenAPI document, loaded and validated on first use.
// Declare it as a package variable of the test package.
type Contract struct {
	// Name names the document in failures, e.g. "openapi.json".
	Name string
	// Doc is the document's bytes.
	Doc []byte

	once   sync.Once
	router routers.Router
	err    error
}

// Router returns the document's router, failing t when the document does
// not load or validate.
func (c *Contract) Router(t testing.TB) routers.Router {
	t.Helper()
	c.once.Do(func() {
		var doc *openapi3.T
		doc, c.err = openapi3.NewLoader().LoadFromData(c.Doc)
		if c.err == nil {
			c.err = doc.Validate(context.Background())
		}
		if c.err == nil {
			c.router, c.err = legacy.NewRouter(doc)
		}
	})
	if c.err != nil {
		t.Fatalf("%s: %v", c.Name, c.err)
	}
	return c.router
}

// Violation is why a response breaks the document: nil when it conforms, or
// when its route is undocumented (404/405 fallbacks, CORS preflights). An
// undocumented status code of a documented route is a violation.
func (c *Contract) Violation(t testing.TB, req *http.Request, code int, header http.Header, body []byte) error {
	t.Helper()
	route, params, err := c.Router(t).FindRoute(req)
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

// Check fails t (without stopping it) when a real response breaks the
// document; harnesses call it for every request their tests make.
func (c *Contract) Check(t testing.TB, req *http.Request, code int, header http.Header, body []byte) {
	t.Helper()
	if err := c.Violation(t, req, code, header, body); err != nil {
		t.Errorf("%s %s: %d %s breaks %s: %v", req.Method, req.URL.Path, code, clip(body), c.Name, err)
	}
}

func clip(b []byte) string {
	if len(b) > 300 {
		return fmt.Sprintf("%s…", b[:300])
	}
	return string(b)
}
