package ui

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"clawdbot.cloud/pkg/dashtoken"
	"clawdbot.cloud/pkg/googletest"
	"clawdbot.cloud/pkg/names"
)

// TestGoogleConnect runs Connect Google against the Google test server:
// the consent request (PKCE S256, minimal scopes, state), the callback's
// checks (the starting session only, once, within 10 minutes), the code
// exchange with the verifier and the tokens handed to the customer's
// instance, signed, and nowhere else.
func TestGoogleConnect(t *testing.T) {
	g := googletest.New(t, googletest.Options{})
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	a := newApp(t, true, func(o *Options) {
		o.Google = GoogleOAuth{ClientID: g.ClientID(), ClientSecret: g.ClientSecret(), BaseURL: g.URL}
		o.Now = func() time.Time { return time.Unix(0, clock.Load()) }
	})
	var mu sync.Mutex
	var got []googleTokens
	const secret = "instance-token-of-cus_ada"
	inst := newInstance(t, func(w http.ResponseWriter, r *http.Request) {
		if err := dashtoken.Verify(secret, dashtoken.FromHeader(r.Header.Get("Authorization")), time.Now()); err != nil || r.Method != http.MethodPut || r.URL.Path != "/api/google" {
			http.Error(w, `{"error":"no"}`, http.StatusUnauthorized)
			return
		}
		var tk googleTokens
		_ = json.NewDecoder(r.Body).Decode(&tk)
		mu.Lock()
		got = append(got, tk)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"connected":true,"email":"ada@example.com"}`))
	})
	signIn := func(email, id, instanceURL string) *browser {
		b := a.browser()
		cs := b.checkout(email, "claw_"+id)
		if err := a.secrets.Put(t.Context(), names.InstanceTokenRef(id), []byte("instance-token-of-"+id)); err != nil {
			t.Fatal(err)
		}
		if err := a.st.Provisioned(t.Context(), id, instanceURL); err != nil {
			t.Fatal(err)
		}
		_, _, tok := b.get("/welcome?session_id=" + cs)
		if resp, _ := b.postJSON("/welcome/reveal", tok, map[string]string{"session_id": cs}); resp.StatusCode != http.StatusOK {
			t.Fatalf("reveal = %d", resp.StatusCode)
		}
		return b
	}
	ada := signIn("ada@example.com", "cus_ada", inst)
	bob := signIn("bob@example.com", "cus_bob", inst)

	// consent starts the flow and plays Google's consent screen; it
	// returns the callback path Google redirects to.
	consent := func(b *browser, decision string) string {
		t.Helper()
		_, page, tok := b.get("/dashboard")
		if !strings.Contains(page, "Connect Google") {
			t.Fatalf("the Pro dashboard offers no Connect Google: %.3000s", page)
		}
		resp := b.post("/google/connect", url.Values{"csrf_token": {tok}})
		loc, _ := url.Parse(resp.Header.Get("Location"))
		q := loc.Query()
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc.String(), g.URL+"/o/oauth2/v2/auth?") ||
			q.Get("code_challenge_method") != "S256" || len(q.Get("state")) != 43 || q.Get("redirect_uri") != a.url+"/google/callback" ||
			q.Get("scope") != strings.Join(GoogleScopes, " ") {
			t.Fatalf("connect = %d %s", resp.StatusCode, loc)
		}
		form := url.Values{"decision": {decision}}
		for k := range q {
			form.Set(k, q.Get(k))
		}
		res, err := b.c.PostForm(g.URL+"/o/oauth2/v2/approve", form)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		back := res.Header.Get("Location")
		if !strings.HasPrefix(back, a.url+"/google/callback?") {
			t.Fatalf("consent redirected to %q", back)
		}
		return strings.TrimPrefix(back, a.url)
	}
	status := func(b *browser, path string) (int, string) {
		t.Helper()
		res, err := b.c.Get(a.url + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode, res.Header.Get("Location")
	}

	cb := consent(ada, "allow")
	if st, _ := status(bob, cb); st != http.StatusBadRequest {
		t.Errorf("another session's callback = %d, want 400", st)
	}
	if st, loc := status(ada, cb); st != http.StatusSeeOther || loc != "/dashboard?google=connected#google" {
		t.Fatalf("callback = %d %s", st, loc)
	}
	if st, _ := status(ada, cb); st != http.StatusBadRequest {
		t.Errorf("callback replayed = %d, want 400", st)
	}
	mu.Lock()
	if len(got) != 1 || got[0].AccessToken == "" || !g.Granted(got[0].RefreshToken) || got[0].Scope != strings.Join(GoogleScopes, " ") {
		t.Fatalf("the instance got %+v", got)
	}
	mu.Unlock()
	if _, page, _ := ada.get("/dashboard?google=connected"); !strings.Contains(page, "Google is connected.") {
		t.Error("the dashboard does not say Google is connected")
	}

	cb = consent(ada, "allow")
	clock.Add(int64(11 * time.Minute))
	if st, _ := status(ada, cb); st != http.StatusBadRequest {
		t.Errorf("callback after 11 minutes = %d, want 400", st)
	}
	cb = consent(ada, "deny")
	if st, loc := status(ada, cb); st != http.StatusSeeOther || loc != "/dashboard?google=denied#google" {
		t.Errorf("denied = %d %s", st, loc)
	}
	if st, _ := status(ada, "/google/callback?state=made-up&code=x"); st != http.StatusBadRequest {
		t.Errorf("made-up state = %d", st)
	}
	want := map[string]float64{"started": 3, "connected": 1, "denied": 1, "bad_state": 4}
	for r, n := range want {
		if v := testutil.ToFloat64(a.metrics.google.WithLabelValues(r)); v != n {
			t.Errorf("claw_web_google_connects_total{result=%q} = %v, want %v", r, v, n)
		}
	}
	if r := g.Refused(); len(r) > 0 {
		t.Errorf("the Google test server refused: %v", r)
	}
}
