// Package railwaytest is a stand-in for Railway's public GraphQL API, for
// tests of the Railway compute driver without the internet.
//
// It answers like Railway and rejects what Railway would reject: every
// request is parsed and validated against Railway's published schema
// (../shared/reference/railway/schema.graphql, read in place) with
// gqlparser's validator, its variables are checked against their declared
// types, and every answer is built field by field from the operation's
// selection and checked against the schema's types, so it has the shape
// Railway's would. A request the schema rejects fails the test.
//
// It keeps what it is asked to create (services, their instance settings,
// variables, domains and deployments), moves deployments along as they are
// polled, and injects faults on demand: 429 with Retry-After, 5xx, lost
// answers, timeouts, slow answers, FAILED or CRASHED deployments.
package railwaytest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/validator"
)

// Options describe the Railway account the server plays.
type Options struct {
	// Token is the only token accepted; TokenKind is how it must be sent:
	// "project" in Project-Access-Token, anything else as a Bearer token.
	Token, TokenKind string
	// ProjectID and EnvironmentID are the only project and environment.
	ProjectID, EnvironmentID string
	// DeploySteps is how many reads of a deployment it takes to settle.
	// Default 2.
	DeploySteps int
	// AllowRejections keeps requests the schema rejects from failing the
	// test (for tests of the server itself).
	AllowRejections bool
	// Clock stamps the calls (Call.At); nil stamps none.
	Clock interface{ Now() time.Time }
	// Latency delays every answer, as a round trip to Railway would (for
	// measuring critical paths; keep it small).
	Latency time.Duration
	// RuntimeBinary, when set, turns on runtime mode (see runtime.go): a
	// successful deployment runs this runtime executable as a local
	// process, and each domain is 127.0.0.1:<port>, to be reached over
	// plain http (the driver's RAILWAY_DOMAIN_SCHEME=http).
	RuntimeBinary string
	// RuntimeEnv is the runtime processes' base environment (PATH, HOME,
	// ...); the service's variables come on top.
	RuntimeEnv []string
	// RuntimeOutput receives the runtime processes' output; nil discards it.
	RuntimeOutput io.Writer
}

// Call is one request the server received.
type Call struct {
	// Operation is the GraphQL operation name.
	Operation string
	// Fields are the operation's root fields.
	Fields []string
	// Status is the HTTP status answered; 0 for a dropped answer.
	Status int
	// At is when it arrived, on Options.Clock.
	At time.Time
}

// Server is a running fake Railway API.
type Server struct {
	// URL is the GraphQL endpoint.
	URL string

	o      Options
	t      testing.TB
	schema *ast.Schema

	mu       sync.Mutex
	st       *state
	faults   []*Fault
	calls    []Call
	rejected []string
}

// New starts a server, closed when the test ends.
func New(t testing.TB, o Options) *Server {
	t.Helper()
	schema, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	if o.DeploySteps == 0 {
		o.DeploySteps = 2
	}
	s := &Server{o: o, t: t, schema: schema, st: newState(o)}
	s.st.logf = t.Logf
	hs := httptest.NewServer(s)
	s.URL = hs.URL + "/graphql/v2"
	t.Cleanup(func() {
		hs.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		s.st.stopAll()
		if len(s.rejected) > 0 && !o.AllowRejections {
			t.Errorf("the Railway test server rejected %d request(s) as Railway would:\n%s",
				len(s.rejected), strings.Join(s.rejected, "\n"))
		}
	})
	return s
}

// request is a GraphQL request over HTTP.
type request struct {
	Query         string         `json:"query"`
	Variables     map[string]any `json:"variables"`
	OperationName string         `json:"operationName"`
}

// ServeHTTP answers one GraphQL request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		s.reject(w, http.StatusMethodNotAllowed, "", "method "+r.Method)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		s.reject(w, http.StatusUnsupportedMediaType, "", "content type "+ct)
		return
	}
	if !s.authorized(r) {
		s.record(Call{Status: http.StatusOK})
		writeJSON(w, http.StatusOK, map[string]any{"data": nil, "errors": gqlerror.List{{Message: "Not Authorized"}}})
		return
	}
	var req request
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		s.reject(w, http.StatusBadRequest, "", "body: "+err.Error())
		return
	}
	doc, errs := gqlparser.LoadQuery(s.schema, req.Query)
	if len(errs) > 0 {
		s.reject(w, http.StatusBadRequest, req.OperationName, errs.Error())
		return
	}
	op := doc.Operations.ForName(req.OperationName)
	if op == nil {
		s.reject(w, http.StatusBadRequest, req.OperationName, "no such operation in the document")
		return
	}
	vars, err := validator.VariableValues(s.schema, op, req.Variables)
	if err == nil {
		err = checkVariables(s.schema, op, req.Variables)
	}
	if err != nil {
		s.reject(w, http.StatusBadRequest, req.OperationName, "variables: "+err.Error())
		return
	}
	call := Call{Operation: op.Name, Fields: rootFields(op)}
	if s.o.Latency > 0 {
		wait(r, s.o.Latency)
	}

	s.mu.Lock()
	f := s.fault(call.Fields)
	s.mu.Unlock()
	if f != nil && f.Delay > 0 {
		wait(r, f.Delay)
	}
	if f != nil && !f.Applied && (f.Status != 0 || f.Hang) {
		s.answer(w, r, call, f)
		return
	}
	resp := s.execute(op, vars)
	if f != nil && f.Applied && (f.Status != 0 || f.Hang) {
		s.answer(w, r, call, f)
		return
	}
	call.Status = http.StatusOK
	s.record(call)
	writeJSON(w, http.StatusOK, resp)
}

// answer fails a request as f says.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, call Call, f *Fault) {
	if f.Hang {
		s.record(call)
		wait(r, 30*time.Second) // until the client gives up
		return
	}
	call.Status = f.Status
	s.record(call)
	answerFault(w, f)
}

// authorized checks the token, presented as its kind requires.
func (s *Server) authorized(r *http.Request) bool {
	if s.o.TokenKind == "project" {
		return r.Header.Get("Authorization") == "" && r.Header.Get("Project-Access-Token") == s.o.Token
	}
	return r.Header.Get("Project-Access-Token") == "" && r.Header.Get("Authorization") == "Bearer "+s.o.Token
}

// reject answers a request Railway would refuse as malformed, and remembers
// it to fail the test.
func (s *Server) reject(w http.ResponseWriter, status int, op, why string) {
	s.mu.Lock()
	s.rejected = append(s.rejected, fmt.Sprintf("%s: %s", op, why))
	s.mu.Unlock()
	s.record(Call{Operation: op, Status: status})
	writeJSON(w, status, map[string]any{"errors": gqlerror.List{{Message: why,
		Extensions: map[string]any{"code": "GRAPHQL_VALIDATION_FAILED"}}}})
}

func (s *Server) record(c Call) {
	if s.o.Clock != nil {
		c.At = s.o.Clock.Now()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, c)
}

// rootFields lists the root fields an operation selects.
func rootFields(op *ast.OperationDefinition) []string {
	var out []string
	for _, sel := range op.SelectionSet {
		if f, ok := sel.(*ast.Field); ok {
			out = append(out, f.Name)
		}
	}
	return out
}

// wait holds a request for d or until its client goes away.
func wait(r *http.Request, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
