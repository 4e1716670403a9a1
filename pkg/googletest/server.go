// Package googletest is a Google test server for tests: the OAuth 2.0
// authorization and token endpoints (authorization code with PKCE, refresh
// token grant, revocation), and the parts of Gmail API v1 and Calendar API v3
// the platform uses, kept in memory.
//
// Every API request is checked against Google's own discovery documents,
// read from the google.golang.org/api module (DiscoveryModule): the path
// must name a method, with its HTTP method, its required parameters, the
// declared types of its parameters, no unknown parameter, and a body of the
// method's request schema (known fields of the declared types). A request
// the documents refuse is answered 400 (404, 405) in Google's error shape
// and recorded in Refused, so a test can assert there were none.
package googletest

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
)

// Scopes the server knows.
const (
	ScopeGmailReadonly  = "https://www.googleapis.com/auth/gmail.readonly"
	ScopeGmailCompose   = "https://www.googleapis.com/auth/gmail.compose"
	ScopeCalendarEvents = "https://www.googleapis.com/auth/calendar.events"
)

// Options configure a Server.
type Options struct {
	// ClientID and ClientSecret are the OAuth client the server knows.
	ClientID, ClientSecret string
	// Email is the signed-in Google account.
	Email string
	// TokenTTL is an access token's lifetime (an hour by default).
	TokenTTL time.Duration
}

// Server is a running Google test server.
type Server struct {
	// URL is its root: the OAuth endpoints are URL+"/o/oauth2/v2/auth",
	// URL+"/token" and URL+"/revoke"; the APIs are under URL+"/gmail/v1/"
	// and URL+"/calendar/v3/".
	URL string

	opts Options
	apis *apis

	mu       sync.Mutex
	codes    map[string]*grant // authorization code → grant
	access   map[string]*token
	refresh  map[string]*grant
	refused  []string
	calls    []string
	revoked  []string
	mailbox  mailbox
	calendar calendar
	seq      int
}

type grant struct {
	clientID, redirectURI, challenge string
	scopes                           []string
	refresh                          string
	used, revoked                    bool
	issued                           time.Time
}

type token struct {
	g       *grant
	expires time.Time
}

// New starts a server and stops it when the test ends. It fails the test
// when the discovery documents cannot be read.
func New(t testing.TB, o Options) *Server {
	t.Helper()
	a, err := loadAPIs()
	if err != nil {
		t.Fatalf("googletest: %v", err)
	}
	if o.ClientID == "" {
		o.ClientID = "test-client.apps.googleusercontent.com"
	}
	if o.ClientSecret == "" {
		o.ClientSecret = "test-client-secret"
	}
	if o.Email == "" {
		o.Email = "ada@example.com"
	}
	if o.TokenTTL == 0 {
		o.TokenTTL = time.Hour
	}
	s := &Server{opts: o, apis: a, codes: map[string]*grant{}, access: map[string]*token{}, refresh: map[string]*grant{}}
	s.mailbox.init()
	s.calendar.init()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /o/oauth2/v2/auth", s.consent)
	mux.HandleFunc("POST /o/oauth2/v2/approve", s.approve)
	mux.HandleFunc("POST /token", s.token)
	mux.HandleFunc("POST /revoke", s.revoke)
	mux.HandleFunc("/gmail/v1/", s.api)
	mux.HandleFunc("/calendar/v3/", s.api)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	s.URL = hs.URL
	return s
}

// ClientID and ClientSecret are the OAuth client's credentials.
func (s *Server) ClientID() string     { return s.opts.ClientID }
func (s *Server) ClientSecret() string { return s.opts.ClientSecret }

// Refused returns the requests the server refused, one line each.
func (s *Server) Refused() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.refused...)
}

// Calls returns the API methods and token grants called, in order
// ("gmail.users.messages.list", "token:refresh_token", "revoke").
func (s *Server) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

// Count returns how many times call appears in Calls.
func (s *Server) Count(call string) int {
	n := 0
	for _, c := range s.Calls() {
		if c == call {
			n++
		}
	}
	return n
}

// Revoked returns the tokens revoked, in order.
func (s *Server) Revoked() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.revoked...)
}

func (s *Server) record(call string) {
	s.mu.Lock()
	s.calls = append(s.calls, call)
	s.mu.Unlock()
}

// api authenticates and validates an API request, then answers it.
func (s *Server) api(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 40<<20))
	if err != nil {
		apiError(w, 400, "unreadable body")
		return
	}
	req, err := s.apis.match(r.Method, r.URL.Path, r.URL.Query(), body)
	if err != nil {
		ve, _ := err.(*validationError)
		status := 400
		if ve != nil {
			status = ve.status
		}
		s.mu.Lock()
		s.refused = append(s.refused, fmt.Sprintf("%s %s: %v", r.Method, r.URL.Path, err))
		s.mu.Unlock()
		apiError(w, status, err.Error())
		return
	}
	scopes, ok := s.authorize(r)
	if !ok {
		apiError(w, http.StatusUnauthorized, "Request had invalid authentication credentials.")
		return
	}
	if !allowed(req.ID, scopes) {
		apiError(w, http.StatusForbidden, "Request had insufficient authentication scopes.")
		return
	}
	s.record(req.ID)
	s.mu.Lock()
	defer s.mu.Unlock()
	var out any
	if strings.HasPrefix(req.ID, "gmail.") {
		out, err = s.gmail(req, body)
	} else {
		out, err = s.events(req, body)
	}
	if err != nil {
		if ae, ok := err.(*apiErr); ok {
			apiError(w, ae.status, ae.msg)
			return
		}
		apiError(w, 400, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_ = json.NewEncoder(w).Encode(out)
}

// authorize returns the scopes of the request's unexpired, unrevoked
// bearer token.
func (s *Server) authorize(r *http.Request) ([]string, bool) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.access[tok]
	if !ok || t.g.revoked || time.Now().After(t.expires) {
		return nil, false
	}
	return t.g.scopes, true
}

// allowed reports whether scopes grant the method: the platform's minimal
// scopes, as Google documents them per method.
func allowed(id string, scopes []string) bool {
	has := func(want ...string) bool {
		for _, w := range want {
			for _, s := range scopes {
				if s == w {
					return true
				}
			}
		}
		return false
	}
	switch {
	case strings.HasPrefix(id, "gmail.users.drafts."):
		return has(ScopeGmailCompose)
	case strings.HasPrefix(id, "gmail."):
		return has(ScopeGmailReadonly, ScopeGmailCompose)
	case strings.HasPrefix(id, "calendar.events."):
		return has(ScopeCalendarEvents)
	}
	return false
}

type apiErr struct {
	status int
	msg    string
}

func (e *apiErr) Error() string { return e.msg }

// apiError writes Google's JSON error shape.
func apiError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"code": status, "message": msg, "status": http.StatusText(status),
	}})
}

func (s *Server) nextID(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s%06x", prefix, 0x18c0000+s.seq)
}
