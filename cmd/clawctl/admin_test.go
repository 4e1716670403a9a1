package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"clawdbot.cloud/cmd/clawctl/internal/platform"
)

// The admin commands call the right endpoints with the token, and refuse
// what they must before calling anything.
func TestAdminCommands(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.RequestURI()+" "+r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.Contains(r.URL.Path, "cus_Gone"):
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"error":"customer cus_Gone not found"}`)
		case strings.HasPrefix(r.URL.Path, "/v1/admin/customers/") && r.Method == http.MethodGet:
			_, _ = io.WriteString(w, `{"customer":{"customer_id":"cus_1","state":"active","resources":{"compute":"running"},"sagas":[{"saga_id":"signup-cs_1"}]}}`)
		case r.URL.Path == "/v1/admin/sagas":
			_, _ = io.WriteString(w, `{"sagas":[{"saga_id":"signup-cs_1","status":"failed"}]}`)
		case strings.HasSuffix(r.URL.Path, "/retry") || strings.HasSuffix(r.URL.Path, "/deprovision"):
			_, _ = io.WriteString(w, `{"saga_id":"x-retry1"}`)
		default:
			_, _ = io.WriteString(w, `{"saga":{"saga_id":"signup-cs_1","steps":[{"name":"database","status":"done"}]}}`)
		}
	}))
	defer srv.Close()
	t.Setenv("CLAW_ADMIN_TOKEN", "tok")
	ok := []struct {
		args []string
		want string
	}{
		{[]string{"customer", "cus_1", "--url", srv.URL}, "GET /v1/admin/customers/cus_1 Bearer tok"},
		{[]string{"sagas", "--url", srv.URL, "--state", "failed", "--limit", "5"}, "GET /v1/admin/sagas?limit=5&status=failed Bearer tok"},
		// The standard flag package's single-dash spelling still works.
		{[]string{"sagas", "-url", srv.URL, "-state=failed", "-kind", "signup"}, "GET /v1/admin/sagas?kind=signup&status=failed Bearer tok"},
		{[]string{"saga", "--url", srv.URL, "signup-cs_1", "--json"}, "GET /v1/admin/sagas/signup-cs_1 Bearer tok"},
		{[]string{"retry", "signup-cs_1", "--url", srv.URL, "--token", "other"}, "POST /v1/admin/sagas/signup-cs_1/retry Bearer other"},
		{[]string{"deprovision", "cus_1", "--yes", "--reason", "abuse report", "--url", srv.URL}, "POST /v1/admin/customers/cus_1/deprovision?reason=abuse+report Bearer tok"},
	}
	for _, tc := range ok {
		mu.Lock()
		got = nil
		mu.Unlock()
		if _, stderr, code := runCLI(t, "", false, tc.args...); code != 0 {
			t.Errorf("%v: exit %d: %s", tc.args, code, stderr)
			continue
		}
		mu.Lock()
		if len(got) != 1 || got[0] != tc.want {
			t.Errorf("%v: requests %q, want %q", tc.args, got, tc.want)
		}
		mu.Unlock()
	}
	bad := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"deprovision", "cus_1", "--url", srv.URL}, 1, "--yes"},
		{[]string{"customer", "--url", srv.URL}, 2, "exactly one"},
		{[]string{"sagas", "failed", "--url", srv.URL}, 2, "--state"},
		{[]string{"customer", "cus_Gone", "--url", srv.URL}, 1, "customer cus_Gone not found (HTTP 404)"},
	}
	for _, tc := range bad {
		mu.Lock()
		got = nil
		mu.Unlock()
		if _, stderr, code := runCLI(t, "", false, tc.args...); code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, stderr, tc.code, tc.want)
		}
		mu.Lock()
		if tc.code == 2 && len(got) != 0 {
			t.Errorf("%v: a usage error sent %q", tc.args, got)
		}
		mu.Unlock()
	}
	// Without CLAW_ADMIN_TOKEN the dev mode's token is sent.
	t.Setenv("CLAW_ADMIN_TOKEN", "")
	mu.Lock()
	got = nil
	mu.Unlock()
	if _, stderr, code := runCLI(t, "", false, "sagas", "--url", srv.URL); code != 0 {
		t.Fatalf("sagas with the dev token: exit %d: %s", code, stderr)
	}
	mu.Lock()
	sent := append([]string(nil), got...)
	mu.Unlock()
	if len(sent) != 1 || !strings.HasSuffix(sent[0], "Bearer "+platform.DevAdminToken) {
		t.Errorf("requests without CLAW_ADMIN_TOKEN = %q, want the dev token", sent)
	}
	// An explicitly empty token is refused before any request.
	if _, stderr, code := runCLI(t, "", false, "sagas", "--url", srv.URL, "--token", ""); code != 1 || !strings.Contains(stderr, "CLAW_ADMIN_TOKEN") {
		t.Errorf("empty token: exit %d: %s", code, stderr)
	}
}

// --json prints the ingress's answer as it came, valid JSON, for every
// admin command; without it the answer is a table.
func TestAdminJSON(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasPrefix(r.URL.Path, "/v1/admin/customers/") && r.Method == http.MethodGet:
			_, _ = io.WriteString(w, `{"customer":{"customer_id":"cus_1","state":"active"}}`)
		case r.URL.Path == "/v1/admin/sagas":
			_, _ = io.WriteString(w, `{"sagas":[{"saga_id":"signup-cs_1","status":"failed"}]}`)
		case r.Method == http.MethodPost:
			_, _ = io.WriteString(w, `{"saga_id":"x-retry1"}`)
		default:
			_, _ = io.WriteString(w, `{"saga":{"saga_id":"signup-cs_1","steps":[]}}`)
		}
	}))
	defer srv.Close()
	for _, args := range [][]string{
		{"customer", "cus_1"}, {"sagas"}, {"saga", "signup-cs_1"}, {"retry", "signup-cs_1"}, {"deprovision", "cus_1", "--yes"},
	} {
		t.Run(args[0], func(t *testing.T) {
			out, stderr, code := runCLI(t, "", false, append(args, "--json", "--url", srv.URL, "--token", "tok")...)
			if code != 0 || !json.Valid([]byte(out)) {
				t.Errorf("exit %d, stdout %q, stderr %q; want 0 and JSON", code, out, stderr)
			}
			text, _, _ := runCLI(t, "", false, append(args, "--url", srv.URL, "--token", "tok")...)
			if json.Valid([]byte(text)) {
				t.Errorf("without --json the answer is JSON: %q", text)
			}
		})
	}
}
