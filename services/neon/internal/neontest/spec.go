package neontest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// specFile is Neon's OpenAPI definition, relative to the folder that holds
// the repository (the shared reference folder sits beside it).
const specFile = "shared/reference/neon/openapi.json"

// specServer is the definition's own server; requests are matched against
// it, whatever address the test server listens on.
const specServer = "https://console.neon.tech/api/v2"

// apiPrefix is the path the test server serves the API under.
const apiPrefix = "/api/v2"

// spec is the loaded definition and its router, shared by every server of
// the test binary.
var spec struct {
	once   sync.Once
	doc    *openapi3.T
	router routers.Router
	err    error
}

// SpecPath finds Neon's OpenAPI definition by walking up from the working
// directory to the folder that holds shared/reference/neon/openapi.json.
func SpecPath() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, specFile)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no %s above the working directory: the Neon contract tests need the shared reference folder beside the repository", specFile)
		}
		dir = parent
	}
}

// loadSpec loads and checks the definition once.
func loadSpec() (*openapi3.T, routers.Router, error) {
	spec.once.Do(func() {
		path, err := SpecPath()
		if err != nil {
			spec.err = err
			return
		}
		doc, err := openapi3.NewLoader().LoadFromFile(path)
		if err != nil {
			spec.err = fmt.Errorf("load %s: %w", path, err)
			return
		}
		if len(doc.Servers) == 0 || doc.Servers[0].URL != specServer {
			spec.err = fmt.Errorf("%s: expected the server %s", path, specServer)
			return
		}
		r, err := legacy.NewRouter(doc, openapi3.SetRegexCompiler(compileRegex))
		if err != nil {
			spec.err = fmt.Errorf("route %s: %w", path, err)
			return
		}
		spec.doc, spec.router = doc, r
	})
	return spec.doc, spec.router, spec.err
}

// bounds matches a bounded repetition such as {1,60}.
var bounds = regexp.MustCompile(`\{(\d+),\d+\}`)

// compileRegex compiles a schema pattern. Go's RE2 refuses repetitions that
// expand past 1000, as in one pattern of the definition (a list of up to
// 100 project ids, for an endpoint the driver does not call); such a
// pattern is checked with its upper bounds dropped, everything else exactly.
func compileRegex(expr string) (openapi3.RegexMatcher, error) {
	re, err := regexp.Compile(expr)
	if err == nil {
		return re, nil
	}
	return regexp.Compile(bounds.ReplaceAllString(expr, "{$1,}"))
}

// validationOptions are the options of every request and response check:
// all errors at once, patterns compiled as above, uuid checked as a format
// (kin-openapi checks date-time by default, uuid only on request).
func validationOptions(auth openapi3filter.AuthenticationFunc) *openapi3filter.Options {
	o := &openapi3filter.Options{
		MultiError:            true,
		IncludeResponseStatus: true,
		RegexCompiler:         compileRegex,
		AuthenticationFunc:    auth,
		SchemaValidationOptions: []openapi3.SchemaValidationOption{
			openapi3.WithStringFormatValidator("uuid", openapi3.NewRegexpFormatValidator(openapi3.FormatOfStringForUUIDOfRFC4122)),
		},
	}
	return o
}

// route finds the definition's operation for a request to the test server,
// matching it as if it had been sent to Neon.
func route(r *http.Request, body []byte) (*openapi3filter.RequestValidationInput, error) {
	_, router, err := loadSpec()
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(specServer)
	if err != nil {
		return nil, err
	}
	rest, ok := strings.CutPrefix(r.URL.Path, apiPrefix)
	if !ok {
		return nil, fmt.Errorf("%s is not under %s", r.URL.Path, apiPrefix)
	}
	u.Path += rest
	u.RawQuery = r.URL.RawQuery
	req := r.Clone(r.Context())
	req.URL, req.Host, req.RequestURI = u, u.Host, ""
	req.Body = io.NopCloser(bytes.NewReader(body))
	rt, params, err := router.FindRoute(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s is not an operation of the Neon API: %w", r.Method, r.URL.Path, err)
	}
	return &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: rt}, nil
}

// validateResponse checks an answer against the definition.
func validateResponse(in *openapi3filter.RequestValidationInput, status int, header http.Header, body []byte) error {
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 status,
		Header:                 header,
		Options:                validationOptions(nil),
	}
	out.SetBodyBytes(body)
	return openapi3filter.ValidateResponse(context.Background(), out)
}

// errNoBearer is what the definition's cookie schemes get: the driver
// authenticates with a Bearer API key only.
var errNoBearer = errors.New("only Bearer API keys are accepted")
