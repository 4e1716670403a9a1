package ui

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"clawdbot.cloud/pkg/dashtoken"
	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/services/web/internal/store"
)

// checkout runs the dev checkout in b and arranges the ingress's side: the
// signup is ready with key. It returns the checkout session id.
func (b *browser) checkout(email, key string) string {
	b.t.Helper()
	_, _, tok := b.get("/checkout?plan=pro")
	resp := b.post("/checkout", url.Values{"csrf_token": {tok}, "plan": {"pro"}, "email": {email}, "name": {"Ada"}})
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/welcome?session_id=cs_") {
		b.t.Fatalf("checkout = %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	cs := strings.TrimPrefix(resp.Header.Get("Location"), "/welcome?session_id=")
	for _, c := range resp.Cookies() {
		if c.Name == revealCookie && (!c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/welcome") {
			b.t.Errorf("reveal cookie = %+v, want HttpOnly, SameSite=Lax, Path=/welcome", c)
		}
	}
	hash, err := b.app.st.CheckoutRevealHash(b.t.Context(), cs)
	if err != nil {
		b.t.Fatal(err)
	}
	b.app.ingress.mu.Lock()
	b.app.ingress.signups[cs] = &signup{status: "ready", instanceURL: "http://127.0.0.1:1", revealHash: hash, key: key}
	b.app.ingress.mu.Unlock()
	if err := b.app.st.SignedUp(b.t.Context(), store.Account{CustomerID: "cus_" + strings.Split(email, "@")[0], Email: email, Plan: "pro", CheckoutSessionID: cs}); err != nil {
		b.t.Fatal(err)
	}
	return cs
}

func TestCSRF(t *testing.T) {
	a := newApp(t, true, nil)
	b := a.browser()
	_, _, tok := b.get("/checkout?plan=pro")
	form := func(token string) url.Values {
		return url.Values{"csrf_token": {token}, "plan": {"pro"}, "email": {"ada@example.com"}}
	}
	for _, tc := range []struct {
		name   string
		b      *browser
		form   url.Values
		header []string
	}{
		{"no token", b, form(""), nil},
		{"wrong token", b, form(strings.Repeat("x", 43)), nil},
		{"no cookie (another browser)", a.browser(), form(tok), nil},
		{"cross-site", b, form(tok), []string{"Sec-Fetch-Site", "cross-site"}},
		{"foreign origin, old browser", b, form(tok), []string{"Sec-Fetch-Site", "", "Origin", "https://evil.example"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := a.refused("csrf")
			if resp := tc.b.post("/checkout", tc.form, tc.header...); resp.StatusCode != http.StatusForbidden {
				t.Fatalf("status %d, want 403", resp.StatusCode)
			}
			if a.refused("csrf") != before+1 {
				t.Error("refusal not counted")
			}
		})
	}
	if len(a.ingress.webhooks) != 0 {
		t.Fatalf("a refused form reached the ingress: %d webhooks", len(a.ingress.webhooks))
	}
	if resp := b.post("/checkout", form(tok)); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("a good form = %d", resp.StatusCode)
	}
	// Bad input is a 400 with the reason, and nothing is sent.
	b2 := a.browser()
	_, _, tok2 := b2.get("/checkout?plan=pro")
	resp := b2.post("/checkout", url.Values{"csrf_token": {tok2}, "plan": {"pro"}, "email": {"not an email"}})
	if resp.StatusCode != http.StatusBadRequest || len(a.ingress.webhooks) != 1 {
		t.Fatalf("bad email = %d, %d webhooks", resp.StatusCode, len(a.ingress.webhooks))
	}
}

// TestRevealRules: only the browser that started the checkout follows it and
// gets the key, once; it is signed in by that answer; a checkout session id
// alone opens nothing.
func TestRevealRules(t *testing.T) {
	a := newApp(t, true, nil)
	ada := a.browser()
	cs := ada.checkout("ada@example.com", "claw_adas_key")
	if ada.cookie(revealCookie) == nil {
		t.Fatal("no reveal cookie after checkout")
	}

	stranger := a.browser()
	if code, _, _ := stranger.get("/welcome?session_id=" + cs); code != http.StatusNotFound {
		t.Fatalf("a stranger opens the success page: %d", code)
	}
	if code, _, _ := stranger.get("/welcome/events?session_id=" + cs); code != http.StatusNotFound {
		t.Fatalf("a stranger follows the events: %d", code)
	}
	_, _, stok := stranger.get("/signin")
	if resp, _ := stranger.postJSON("/welcome/reveal", stok, map[string]string{"session_id": cs}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a stranger's reveal = %d", resp.StatusCode)
	}

	code, _, tok := ada.get("/welcome?session_id=" + cs)
	if code != http.StatusOK {
		t.Fatalf("the paying browser's success page = %d", code)
	}
	resp, body := ada.postJSON("/welcome/reveal", tok, map[string]string{"session_id": cs})
	if resp.StatusCode != http.StatusOK || body["api_key"] != "claw_adas_key" {
		t.Fatalf("reveal = %d %v", resp.StatusCode, body)
	}
	if !hasCookie(resp, sessionCookie) || ada.cookie(sessionCookie) == nil {
		t.Fatal("the reveal did not sign the browser in with an HttpOnly, SameSite session cookie")
	}
	if ada.cookie(revealCookie) != nil {
		t.Error("the reveal cookie outlived the reveal")
	}
	// Again: the nonce is gone, so the answer is 403, and the ingress was
	// not even asked.
	if resp, _ := ada.postJSON("/welcome/reveal", tok, map[string]string{"session_id": cs}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("second reveal = %d", resp.StatusCode)
	}
	// Signed in, the page still opens (without a key) and the dashboard too.
	if code, body, _ := ada.get("/welcome?session_id=" + cs); code != http.StatusOK || strings.Contains(body, "claw_adas_key") {
		t.Fatalf("reload = %d", code)
	}
	if code, _, _ := ada.get("/dashboard"); code != http.StatusOK {
		t.Fatalf("dashboard = %d", code)
	}
	// Malformed ids are refused before any lookup.
	if code, _, _ := ada.get("/welcome?session_id=../../etc"); code != http.StatusNotFound {
		t.Fatalf("malformed id = %d", code)
	}
}

func TestSessions(t *testing.T) {
	a := newApp(t, true, func(o *Options) { o.SessionIdle = time.Second })
	b := a.browser()
	b.checkout("ada@example.com", "claw_k")
	// Sign in by a link rather than a reveal.
	_, _, tok := b.get("/signin")
	if resp := b.post("/signin", url.Values{"csrf_token": {tok}, "email": {"ADA@example.com"}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("signin = %d", resp.StatusCode)
	}
	link := a.mail.last()
	i := strings.Index(link, "token=")
	if i < 0 {
		t.Fatalf("no link in %q", link)
	}
	token, _ := url.QueryUnescape(strings.Fields(link[i+len("token="):])[0])
	if code, _, _ := b.get("/signin/link?token=" + url.QueryEscape(token)); code != http.StatusOK {
		t.Fatalf("link page = %d", code)
	}
	if resp := b.post("/signin/link", url.Values{"csrf_token": {tok}, "token": {token}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("use link = %d", resp.StatusCode)
	}
	// Single use, also from another browser.
	other := a.browser()
	_, _, otok := other.get("/signin")
	if resp := other.post("/signin/link", url.Values{"csrf_token": {otok}, "token": {token}}); resp.StatusCode != http.StatusGone {
		t.Fatalf("reused link = %d, want 410", resp.StatusCode)
	}
	if code, _, _ := b.get("/dashboard"); code != http.StatusOK {
		t.Fatalf("dashboard after sign-in = %d", code)
	}
	// Idle for longer than the idle limit: signed out.
	time.Sleep(1100 * time.Millisecond)
	resp, err := b.c.Get(a.url + "/dashboard")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/signin" {
		t.Fatalf("idle session = %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestSigninDoesNotTellWhoIsACustomer(t *testing.T) {
	a := newApp(t, true, nil)
	b := a.browser()
	b.checkout("ada@example.com", "claw_k")
	_, _, tok := b.get("/signin")
	for _, email := range []string{"ada@example.com", "nobody@example.com"} {
		resp := b.post("/signin", url.Values{"csrf_token": {tok}, "email": {email}})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d, want the same 200 for both", email, resp.StatusCode)
		}
	}
	if n := len(a.mail.sent); n != 1 {
		t.Fatalf("%d mails sent, want 1 (the customer's)", n)
	}
	// Per address: 3 links, then 429 with Retry-After.
	var last *http.Response
	for range 3 {
		last = b.post("/signin", url.Values{"csrf_token": {tok}, "email": {"ada@example.com"}})
	}
	if last.StatusCode != http.StatusTooManyRequests || last.Header.Get("Retry-After") == "" {
		t.Fatalf("4th link for one address = %d Retry-After %q", last.StatusCode, last.Header.Get("Retry-After"))
	}
	if a.refused("rate_limited") == 0 {
		t.Error("rate limiting not counted")
	}
}

// TestProxyGoesToTheSessionsOwnInstance: the proxy signs each request for
// the signed-in customer's instance only, whatever the request says.
func TestProxyGoesToTheSessionsOwnInstance(t *testing.T) {
	a := newApp(t, true, nil)
	type hit struct{ who, path, auth string }
	hits := make(chan hit, 10)
	instance := func(who, secret string) string {
		srv := newInstance(t, func(w http.ResponseWriter, r *http.Request) {
			tok := dashtoken.FromHeader(r.Header.Get("Authorization"))
			if err := dashtoken.Verify(secret, tok, time.Now()); err != nil {
				http.Error(w, `{"error":"invalid token"}`, http.StatusUnauthorized)
				return
			}
			hits <- hit{who, r.URL.Path, r.Header.Get("Cookie")}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"who":"` + who + `"}`))
		})
		return srv
	}
	ada, bob := a.browser(), a.browser()
	csA := ada.checkout("ada@example.com", "claw_a")
	csB := bob.checkout("bob@example.com", "claw_b")
	for _, c := range []struct {
		b      *browser
		cs, id string
	}{{ada, csA, "cus_ada"}, {bob, csB, "cus_bob"}} {
		secret := "instance-token-of-" + c.id
		if err := a.secrets.Put(t.Context(), names.InstanceTokenRef(c.id), []byte(secret)); err != nil {
			t.Fatal(err)
		}
		if err := a.st.Provisioned(t.Context(), c.id, instance(c.id, secret)); err != nil {
			t.Fatal(err)
		}
		_, _, tok := c.b.get("/welcome?session_id=" + c.cs)
		if resp, _ := c.b.postJSON("/welcome/reveal", tok, map[string]string{"session_id": c.cs}); resp.StatusCode != http.StatusOK {
			t.Fatalf("reveal %s = %d", c.id, resp.StatusCode)
		}
	}
	for _, c := range []struct {
		b   *browser
		who string
	}{{ada, "cus_ada"}, {bob, "cus_bob"}} {
		resp, err := c.b.c.Get(a.url + "/app/api/instance/api/memory?customer_id=cus_ada")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s proxied GET = %d", c.who, resp.StatusCode)
		}
		h := <-hits
		if h.who != c.who || h.path != "/api/memory" || h.auth != "" {
			t.Fatalf("%s's request reached %+v", c.who, h)
		}
	}
	// Only the instance's API is reachable, and never without a session.
	for _, p := range []string{"/app/api/instance/health", "/app/api/instance/api/../status", "/app/api/instance/api/%2e%2e/x"} {
		resp, _ := ada.c.Get(a.url + p)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("GET %s = %d, want a refusal", p, resp.StatusCode)
		}
	}
	resp, _ := a.browser().c.Get(a.url + "/app/api/instance/api/memory")
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no session = %d", resp.StatusCode)
	}
	// The app's own JSON routes, signed in and not (their bodies are
	// checked against openapi.json by the harness).
	for _, c := range []struct {
		b    *browser
		path string
		want int
	}{{ada, "/app/api/account", 200}, {ada, "/app/api/health", 200}, {a.browser(), "/app/api/account", 401}, {a.browser(), "/app/api/health", 401}} {
		resp, err := c.b.c.Get(a.url + c.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("GET %s = %d, want %d", c.path, resp.StatusCode, c.want)
		}
	}
}

func TestDevRoutesOnlyInDevMode(t *testing.T) {
	a := newApp(t, false, nil)
	b := a.browser()
	if code, _, _ := b.get("/dev/mail"); code != http.StatusNotFound {
		t.Fatalf("/dev/mail outside dev mode = %d", code)
	}
	code, body, tok := b.get("/checkout?plan=pro")
	if code != http.StatusOK || strings.Contains(body, "Dev checkout") {
		t.Fatalf("checkout outside dev mode = %d, labelled dev", code)
	}
	// Without Stripe and outside dev mode nothing can start a signup.
	resp := b.post("/checkout", url.Values{"csrf_token": {tok}, "plan": {"pro"}, "email": {"ada@example.com"}})
	if resp.StatusCode != http.StatusServiceUnavailable || len(a.ingress.webhooks) != 0 {
		t.Fatalf("checkout without Stripe outside dev = %d, %d webhooks", resp.StatusCode, len(a.ingress.webhooks))
	}
}

// hasCookie reports whether resp sets name HttpOnly and SameSite=Lax.
func hasCookie(resp *http.Response, name string) bool {
	for _, c := range resp.Cookies() {
		if c.Name == name && c.HttpOnly && c.SameSite == http.SameSiteLaxMode && c.Value != "" {
			return true
		}
	}
	return false
}

// Outside plain-HTTP dev, cookies are Secure.
func TestCookiesSecureOverHTTPS(t *testing.T) {
	a := newApp(t, true, func(o *Options) { o.PublicURL = "https://app.example.com" })
	resp, err := a.browser().c.Get(a.url + "/signin")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cs := resp.Cookies()
	if len(cs) == 0 || !cs[0].Secure || !cs[0].HttpOnly {
		t.Fatalf("cookies over https = %+v, want Secure and HttpOnly", cs)
	}

	// The session and the Control UI's cookies are __Host- cookies: no
	// other host of the site (control.app.example.com included) can set
	// one in their place. (Called directly: the test client does not send
	// Secure cookies over the harness's plain http.)
	if err := a.st.SignedUp(t.Context(), store.Account{CustomerID: "cus_https", Email: "https@example.com", Plan: "pro"}); err != nil {
		t.Fatal(err)
	}
	if err := a.st.Provisioned(t.Context(), "cus_https", "http://127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	if err := a.srv.signIn(rec, httptest.NewRequest(http.MethodPost, "https://app.example.com/signin/link", nil), "cus_https"); err != nil {
		t.Fatal(err)
	}
	session := rec.Result().Cookies()
	if len(session) != 1 || session[0].Name != "__Host-claw_session" || !session[0].Secure || session[0].Path != "/" || session[0].Domain != "" {
		t.Fatalf("session cookie over https = %+v, want __Host-claw_session, Secure, path /, host-only", session)
	}
	req := httptest.NewRequest(http.MethodPost, "https://app.example.com/control-ui", nil)
	req.AddCookie(session[0])
	ss, hash, ok := a.srv.session(req)
	if !ok {
		t.Fatal("the __Host- session cookie does not open its session")
	}
	plain := httptest.NewRequest(http.MethodGet, "https://app.example.com/dashboard", nil)
	plain.AddCookie(&http.Cookie{Name: sessionCookie, Value: session[0].Value})
	if _, _, ok := a.srv.session(plain); ok {
		t.Error("over https, a cookie without the __Host- prefix opens the session")
	}
	token := randomToken()
	if err := a.st.CreateControlHandoff(t.Context(), digest(token), store.ControlGrant{SessionHash: hash, CustomerID: ss.CustomerID,
		InstanceURL: "http://127.0.0.1:1"}, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	req = httptest.NewRequest(http.MethodPost, "https://control.app.example.com/handoff", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://app.example.com")
	rec = httptest.NewRecorder()
	a.srv.controlHandoff(rec, req)
	control := rec.Result().Cookies()
	if rec.Code != http.StatusSeeOther || len(control) != 1 || control[0].Name != "__Host-claw_control" || !control[0].Secure || control[0].Domain != "" {
		t.Fatalf("handoff over https = %d, cookies %+v, want 303 and __Host-claw_control, Secure, host-only", rec.Code, control)
	}
}

// Signed in, the sign-out button works from a public page too (its form
// carries the session's token, not the page's anonymous one).
func TestSignOutFromAPublicPage(t *testing.T) {
	a := newApp(t, true, nil)
	b := a.browser()
	cs := b.checkout("ada@example.com", "claw_k")
	_, _, tok := b.get("/welcome?session_id=" + cs)
	if resp, _ := b.postJSON("/welcome/reveal", tok, map[string]string{"session_id": cs}); resp.StatusCode != http.StatusOK {
		t.Fatalf("reveal = %d", resp.StatusCode)
	}
	_, body, _ := b.get("/signin")
	m := regexp.MustCompile(`action="/signout"[^>]*>\s*<input type="hidden" name="csrf_token" value="([^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no sign-out form on a public page while signed in")
	}
	if resp := b.post("/signout", url.Values{"csrf_token": {m[1]}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out = %d", resp.StatusCode)
	}
	if code, _, _ := b.get("/dashboard"); code != http.StatusSeeOther {
		t.Fatalf("dashboard after sign-out = %d", code)
	}
}
