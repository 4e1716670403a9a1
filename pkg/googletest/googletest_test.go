package googletest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// connect runs the code flow by hand and returns the token answer.
func connect(t *testing.T, s *Server, scopes ...string) map[string]any {
	t.Helper()
	verifier := strings.Repeat("v", 50)
	sum := sha256.Sum256([]byte(verifier))
	form := url.Values{"client_id": {s.ClientID()}, "redirect_uri": {"http://127.0.0.1/cb"}, "response_type": {"code"},
		"scope": {strings.Join(scopes, " ")}, "state": {"st"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"}, "decision": {"allow"}}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.PostForm(s.URL+"/o/oauth2/v2/approve", form)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, _ := url.Parse(res.Header.Get("Location"))
	if loc.Query().Get("state") != "st" {
		t.Fatalf("redirect %s lacks the state", loc)
	}
	code := loc.Query().Get("code")
	exchange := func(v string) (int, map[string]any) {
		res, err := http.PostForm(s.URL+"/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
			"redirect_uri": {"http://127.0.0.1/cb"}, "client_id": {s.ClientID()}, "client_secret": {s.ClientSecret()}, "code_verifier": {v}})
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(res.Body).Decode(&out)
		return res.StatusCode, out
	}
	if st, out := exchange(strings.Repeat("w", 50)); st != 400 || out["error"] != "invalid_grant" {
		t.Fatalf("wrong verifier: %d %v, want 400 invalid_grant", st, out)
	}
	st, out := exchange(verifier)
	if st != 200 {
		t.Fatalf("exchange: %d %v", st, out)
	}
	return out
}

func TestValidatesAgainstDiscovery(t *testing.T) {
	s := New(t, Options{})
	tok := connect(t, s, ScopeGmailReadonly, ScopeGmailCompose, ScopeCalendarEvents)
	at := tok["access_token"].(string)
	cases := []struct {
		name, method, path, body string
		want                     int
	}{
		{"list", "GET", "/gmail/v1/users/me/messages?q=hello&maxResults=5", "", 200},
		{"unknown path", "GET", "/gmail/v1/users/me/letters", "", 404},
		{"wrong method", "DELETE", "/gmail/v1/users/me/profile", "", 405},
		{"integer type", "GET", "/gmail/v1/users/me/messages?maxResults=five", "", 400},
		{"unknown parameter", "GET", "/gmail/v1/users/me/messages?query=x", "", 400},
		{"standard parameter", "GET", "/gmail/v1/users/me/messages?prettyPrint=false", "", 200},
		{"date-time type", "GET", "/calendar/v3/calendars/primary/events?timeMin=tomorrow", "", 400},
		{"required parameter", "POST", "/calendar/v3/calendars/primary/events/x/move", "", 400},
		{"unknown body field", "POST", "/calendar/v3/calendars/primary/events", `{"title":"x"}`, 400},
		{"body field type", "POST", "/calendar/v3/calendars/primary/events", `{"summary":3}`, 400},
		{"event", "POST", "/calendar/v3/calendars/primary/events",
			`{"summary":"x","start":{"dateTime":"2026-12-07T10:00:00+01:00"},"end":{"dateTime":"2026-12-07T11:00:00+01:00"}}`, 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, s.URL+c.path, strings.NewReader(c.body))
			req.Header.Set("Authorization", "Bearer "+at)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != c.want {
				t.Errorf("%s %s: %d, want %d", c.method, c.path, res.StatusCode, c.want)
			}
		})
	}
}

func TestScopesRefreshRevoke(t *testing.T) {
	s := New(t, Options{})
	tok := connect(t, s, ScopeGmailReadonly)
	get := func(at, path string) int {
		req, _ := http.NewRequest("GET", s.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+at)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	at, rt := tok["access_token"].(string), tok["refresh_token"].(string)
	if st := get(at, "/calendar/v3/calendars/primary/events"); st != 403 {
		t.Errorf("calendar with a mail scope: %d, want 403", st)
	}
	res, err := http.PostForm(s.URL+"/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt},
		"client_id": {s.ClientID()}, "client_secret": {s.ClientSecret()}})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("refresh: %v %v", err, res.Status)
	}
	res.Body.Close()
	res, _ = http.PostForm(s.URL+"/revoke", url.Values{"token": {rt}})
	res.Body.Close()
	if res.StatusCode != 200 || s.Granted(rt) {
		t.Fatalf("revoke: %d, still granted %v", res.StatusCode, s.Granted(rt))
	}
	if st := get(at, "/gmail/v1/users/me/profile"); st != 401 {
		t.Errorf("access token after revocation: %d, want 401", st)
	}
}
