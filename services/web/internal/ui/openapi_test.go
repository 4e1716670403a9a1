package ui

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"

	"clawdbot.cloud/pkg/openapitest"
)

// contract is the app's OpenAPI document; the harness checks every response
// the tests receive against it (pkg/openapitest).
var contract = &openapitest.Contract{Name: "openapi.json", Doc: OpenAPI}

func init() {
	// The provisioning events are a text stream; the document says only
	// that (their events are checked by TestWelcomeEvents).
	openapi3filter.RegisterBodyDecoder("text/event-stream", func(r io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
		b, err := io.ReadAll(r)
		return string(b), err
	})
}

// recorder keeps a copy of what a handler wrote, passing everything on
// (flushes and deadlines too, through Unwrap).
type recorder struct {
	http.ResponseWriter
	code int
	body bytes.Buffer
}

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// checkedHandler validates every response h gives against the document.
func checkedHandler(t *testing.T, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &recorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		if rec.code == 0 {
			rec.code = http.StatusOK
		}
		if strings.HasSuffix(strings.Split(r.Host, ":")[0], ".localhost") {
			return // the Control UI's origin, which the document does not describe
		}
		contract.Check(t, r, rec.code, w.Header(), rec.body.Bytes())
	})
}

// The document is served without authentication and is a valid OpenAPI
// document.
func TestOpenAPIServed(t *testing.T) {
	a := newApp(t, false, nil)
	code, body, _ := a.browser().get("/openapi.json")
	if code != http.StatusOK || !bytes.Equal([]byte(body), OpenAPI) {
		t.Fatalf("GET /openapi.json = %d", code)
	}
	contract.Router(t)
}

// The contract check fails wrong responses of documented routes, so it
// cannot pass vacuously.
func TestContractCatchesWrongResponses(t *testing.T) {
	json := http.Header{"Content-Type": {"application/json"}}
	for name, c := range map[string]struct {
		method, path string
		code         int
		body         string
	}{
		"account missing plan":       {"GET", "/app/api/account", 200, `{"email":"a@b.c","name":"","plan_name":"Pro","skills":[],"state":"active","health":"ok","instance_url":""}`},
		"account unknown field":      {"GET", "/app/api/account", 200, `{"email":"a@b.c","name":"","plan":"pro","plan_name":"Pro","skills":[],"state":"active","health":"ok","instance_url":"","customer_id":"cus_1"}`},
		"health not in the enum":     {"GET", "/app/api/health", 200, `{"health":"great"}`},
		"reveal key of another kind": {"POST", "/welcome/reveal", 200, `{"api_key":"sk_1","instance_url":""}`},
		"undocumented status":        {"GET", "/app/api/account", 418, `{"error":"teapot"}`},
		"error without message":      {"POST", "/welcome/reveal", 403, `{"message":"no"}`},
		"proxy error not an error":   {"GET", "/app/api/instance/status", 401, `{"message":"sign in"}`},
	} {
		req := httptest.NewRequest(c.method, "http://web"+c.path, nil)
		if contract.Violation(t, req, c.code, json, []byte(c.body)) == nil {
			t.Errorf("%s: passed", name)
		}
	}
	req := httptest.NewRequest("GET", "http://web/app/api/account", nil)
	good := `{"email":"a@b.c","name":"Ada","plan":"pro","plan_name":"Pro","skills":["memory"],"state":"active","health":"ok","instance_url":"http://x"}`
	if err := contract.Violation(t, req, 200, json, []byte(good)); err != nil {
		t.Errorf("a good response failed: %v", err)
	}
	// The instance's own answers pass through undescribed.
	req = httptest.NewRequest("GET", "http://web/app/api/instance/status", nil)
	if err := contract.Violation(t, req, 200, json, []byte(`{"anything":1}`)); err != nil {
		t.Errorf("a proxied answer failed: %v", err)
	}
}
