// Package neontest is a Neon API v2 test server for the neon driver's tests.
//
// Every request it receives and every answer it sends is validated against
// Neon's OpenAPI definition (../shared/reference/neon/openapi.json, read in
// place, with kin-openapi); a violation fails the test that owns the
// server, so drift between the driver, the definition and this server is
// caught on either side. It keeps the project's branches, endpoints, roles,
// databases and operations, and runs operations asynchronously: each moves
// scheduling → running → finished one step per tick, and ticks come from
// the test (Sleep, the fake clock the driver waits on, or Tick), never from
// the wall clock. It injects 423/429/503 (and any other status) on demand
// and fails chosen operations.
//
// Branches are real: each is a database cloned from the parent branch's on
// a real Postgres server (pkg/pgtest), with a login role of its own, so the
// connection URIs it hands out open the branch's data and nothing else.
package neontest

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/jackc/pgx/v5"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/services/neon/internal/neonapi"
)

// Options configures a test server. Zero fields take the defaults.
type Options struct {
	// AdminURL is a superuser URL of the Postgres server that holds the
	// branches' databases (required; pgtest.AdminURL).
	AdminURL string
	// APIKey is the Bearer token the server accepts (default "neontest-key").
	APIKey string
	// ProjectID names the project (default "neontest-project").
	ProjectID string
	// DatabaseName and RoleName are the parent branch's database and its
	// owner (defaults "clawdbot" and "claw_app").
	DatabaseName, RoleName string
	// Prepare migrates the parent's database, connected as its role
	// (default customerdb.Migrate).
	Prepare func(ctx context.Context, conn *pgx.Conn) error
	// AutoTick makes every request a tick, for a driver that waits on the
	// real clock (the service started by Run).
	AutoTick bool
	// BranchLimit is the most branches a project holds, its default and
	// parent branches included (default DefaultBranchLimit). Creating one
	// more answers 422 BRANCHES_LIMIT_EXCEEDED, as Neon does.
	BranchLimit int
	// ProjectLimit is the most projects the account holds, the first one
	// included (default DefaultProjectLimit). Creating one more answers 422
	// PROJECTS_LIMIT_EXCEEDED.
	ProjectLimit int
}

// Neon's plan limits the server applies unless Options say otherwise:
// branches per project and projects per account of a paid plan (the free
// plan allows 10 branches; tests set their own).
const (
	DefaultBranchLimit  = 5000
	DefaultProjectLimit = 100
)

// Call is one request the server answered.
type Call struct {
	// Operation is the definition's operationId ("" for an unknown route).
	Operation string
	Method    string
	Path      string
	Query     string
	Status    int
	// At is when the answer was sent, on the wall clock (for critical
	// paths measured across test servers).
	At time.Time
}

// Fault is an answer the server gives instead of carrying a request out.
type Fault struct {
	// Operation is the operationId the fault applies to; "" matches all.
	Operation string
	// Status is the HTTP status to answer (423, 429, 503, ...).
	Status int
	// RetryAfter, when set, is sent as the Retry-After header.
	RetryAfter string
	// Times is how many matching requests get the fault (default 1).
	Times int
}

// Server is a running test server.
type Server struct {
	// URL is the API's base URL, for NEON_API_URL.
	URL string

	t       testing.TB
	opts    Options
	http    *httptest.Server
	backend *backend

	mu  sync.Mutex
	seq int // of projects made
	// p is the project made at start (ProjectID), holding the parent
	// branch; projects is every live project, p first.
	p          *project
	projects   []*project
	calls      []Call
	faults     []Fault
	failNext   map[neonapi.OperationAction]neonapi.OperationStatus
	violations []string
	slept      []time.Duration
}

// New starts a server with a project holding one default branch ("main")
// and the parent branch ("parent"), whose database is migrated by
// Options.Prepare. Everything it made is removed when the test ends.
func New(t testing.TB, o Options) *Server {
	t.Helper()
	if o.AdminURL == "" {
		t.Fatal("neontest: Options.AdminURL is required")
	}
	if _, _, err := loadSpec(); err != nil {
		t.Fatalf("neontest: %v", err)
	}
	o.APIKey = cmp.Or(o.APIKey, "neontest-key")
	o.ProjectID = cmp.Or(o.ProjectID, "neontest-project")
	o.DatabaseName = cmp.Or(o.DatabaseName, "clawdbot")
	o.RoleName = cmp.Or(o.RoleName, "claw_app")
	o.BranchLimit = cmp.Or(o.BranchLimit, DefaultBranchLimit)
	o.ProjectLimit = cmp.Or(o.ProjectLimit, DefaultProjectLimit)
	if o.Prepare == nil {
		o.Prepare = func(ctx context.Context, conn *pgx.Conn) error { return customerdb.Migrate(ctx, conn) }
	}
	b, err := newBackend(t, o.AdminURL)
	if err != nil {
		t.Fatalf("neontest: %v", err)
	}
	s := &Server{t: t, opts: o, backend: b, failNext: map[neonapi.OperationAction]neonapi.OperationStatus{}}
	s.p = newProject(o.ProjectID)
	s.projects = []*project{s.p}
	if err := s.seed(t.Context()); err != nil {
		t.Fatalf("neontest: %v", err)
	}
	s.http = httptest.NewServer(s)
	s.URL = s.http.URL + apiPrefix
	t.Cleanup(func() {
		s.http.Close()
		for _, v := range s.Violations() {
			t.Errorf("neontest: %s", v)
		}
	})
	return s
}

// Settings returns the neon service's settings for this server.
func (s *Server) Settings() map[string]string {
	return map[string]string{
		"DATABASE_DRIVER":       "neon",
		"NEON_API_URL":          s.URL,
		"NEON_API_KEY":          s.opts.APIKey,
		"NEON_PROJECT_ID":       s.opts.ProjectID,
		"NEON_PARENT_BRANCH_ID": s.ParentBranchID(),
		"NEON_DATABASE_NAME":    s.opts.DatabaseName,
		"NEON_ROLE_NAME":        s.opts.RoleName,
	}
}

// ServeHTTP validates the request, answers it (or injects a fault),
// validates the answer and records the call.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	in, err := route(r, body)
	if err != nil {
		s.violate("request: %v", err)
		s.record(Call{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Status: http.StatusNotFound})
		writeJSON(w, http.StatusNotFound, generalError("not found"))
		return
	}
	op := in.Route.Operation.OperationID
	rec := &recorder{header: http.Header{}}
	in.Options = validationOptions(s.authenticate)
	if err := openapi3filter.ValidateRequest(r.Context(), in); err != nil {
		var sec *openapi3filter.SecurityRequirementsError
		if errors.As(err, &sec) {
			rec.json(http.StatusUnauthorized, generalError("authentication required"))
		} else {
			s.violate("request %s %s (%s) does not conform to the definition: %v", r.Method, r.URL.Path, op, err)
			rec.json(http.StatusBadRequest, generalError(err.Error()))
		}
	} else {
		in.Request.Body = io.NopCloser(bytes.NewReader(body))
		s.handle(rec, op, in, body)
	}
	if err := validateResponse(in, rec.status, rec.header, rec.body.Bytes()); err != nil {
		s.violate("answer %d to %s (%s) does not conform to the definition: %v", rec.status, r.URL.Path, op, err)
	}
	s.record(Call{Operation: op, Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Status: rec.status})
	for k, v := range rec.header {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.status)
	_, _ = w.Write(rec.body.Bytes())
}

// handle answers a valid request under the server's lock.
func (s *Server) handle(rec *recorder, op string, in *openapi3filter.RequestValidationInput, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.AutoTick {
		s.tickLocked()
	}
	if f, ok := s.takeFault(op); ok {
		if f.RetryAfter != "" {
			rec.header.Set("Retry-After", f.RetryAfter)
		}
		rec.json(f.Status, generalError(http.StatusText(f.Status)))
		return
	}
	h, ok := s.handlers()[op]
	if !ok {
		s.violateLocked("the test server does not implement %s", op)
		rec.json(http.StatusNotImplemented, generalError("not implemented by neontest"))
		return
	}
	req := request{params: in.PathParams, query: in.Request.URL.Query(), body: body}
	if id, ok := in.PathParams["project_id"]; ok {
		if req.p = s.project(id); req.p == nil {
			rec.json(notFound("project"))
			return
		}
	}
	status, v := h(req)
	rec.json(status, v)
}

func (s *Server) authenticate(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	if in.SecuritySchemeName != "BearerAuth" {
		return errNoBearer
	}
	if in.RequestValidationInput.Request.Header.Get("Authorization") != "Bearer "+s.opts.APIKey {
		return errors.New("wrong API key")
	}
	return nil
}

// recorder holds an answer until it is validated.
type recorder struct {
	status int
	header http.Header
	body   bytes.Buffer
}

func (r *recorder) json(status int, v any) {
	r.status = status
	if v == nil {
		return
	}
	r.header.Set("Content-Type", "application/json")
	if err := json.NewEncoder(&r.body).Encode(v); err != nil {
		panic(err) // the server's own types always encode
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var rec recorder
	rec.header = http.Header{}
	rec.json(status, v)
	for k, vs := range rec.header {
		w.Header()[k] = vs
	}
	w.WriteHeader(status)
	_, _ = w.Write(rec.body.Bytes())
}

func generalError(msg string) neonapi.GeneralError {
	return neonapi.GeneralError{Code: "", Message: msg}
}
