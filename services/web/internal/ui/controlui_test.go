package ui

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"clawdbot.cloud/pkg/dashtoken"
	"clawdbot.cloud/pkg/names"
)

// controlHit is what a fake instance saw of one Control UI request.
type controlHit struct {
	who, path, cookie, csrf, xff, origin string
	websocket                            bool
}

// controlPage is a fake instance's Control UI page: like OpenClaw's, it
// opens its WebSocket at the prefix on the page's own origin and shows
// what the first message says.
const controlPage = `<!doctype html><title>OpenClaw Control of %s</title><p id="ws">connecting</p><script>
const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/openclaw");
ws.onmessage = (e) => { document.getElementById("ws").textContent = e.data; };
ws.onerror = () => { document.getElementById("ws").textContent = "websocket failed"; };
</script>`

// controlInstance serves a fake instance of engine: /status names the
// engine, every other path is the Control UI (a page naming its owner,
// with a cookie and a policy of its own, to see what the app passes on,
// and a real WebSocket whose first message is "<who> connected").
// Requests without a valid dashboard token for this instance get 401, as
// the runtime answers.
func controlInstance(t *testing.T, who, secret, engine string, hits chan<- controlHit) string {
	return newInstance(t, func(w http.ResponseWriter, r *http.Request) {
		if err := dashtoken.Verify(secret, dashtoken.FromHeader(r.Header.Get("Authorization")), time.Now()); err != nil {
			http.Error(w, `{"error":"invalid token"}`, http.StatusUnauthorized)
			return
		}
		if r.URL.Path == "/status" {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]string{"engine": engine})
			return
		}
		ws := strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
		hits <- controlHit{who: who, path: r.URL.Path, cookie: r.Header.Get("Cookie"), csrf: r.Header.Get("X-CSRF-Token"),
			xff: r.Header.Get("X-Forwarded-For"), origin: r.Header.Get("Origin"), websocket: ws}
		if !ws {
			// A policy that lets the page's scripts connect anywhere: the
			// worst case, so the browser test sees the web app's own
			// refusal of the control origin, not the page's policy.
			w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; connect-src 'self' ws: http:")
			w.Header().Set("Set-Cookie", "gateway=1; Path=/")
			w.Header().Set("Content-Type", "text/html")
			_, _ = io.WriteString(w, strings.Replace(controlPage, "%s", who, 1))
			return
		}
		sum := sha1.Sum([]byte(r.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		_, _ = rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
			base64.StdEncoding.EncodeToString(sum[:]) + "\r\n\r\n")
		msg := who + " connected"
		_, _ = rw.Write(append([]byte{0x81, byte(len(msg))}, msg...)) // one unmasked text frame
		_ = rw.Flush()
		_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		_, _ = rw.ReadByte() // hold the connection until the client closes it
	})
}

// dialControlWS opens the Control UI's WebSocket on host (the control
// origin, or the web app) as b, with origin (none when empty), and returns
// the status and, after a 101, the first message.
func (b *browser) dialControlWS(host, origin string) (int, string) {
	b.t.Helper()
	u, _ := url.Parse(host)
	conn, err := localhostTransport().DialContext(b.t.Context(), "tcp", u.Host)
	if err != nil {
		b.t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	// Where OpenClaw's Control UI opens it: the prefix, no slash.
	req, _ := http.NewRequest(http.MethodGet, host+"/openclaw", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	for _, c := range b.c.Jar.Cookies(u) {
		req.AddCookie(c)
	}
	if err := req.Write(conn); err != nil {
		b.t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		b.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		resp.Body.Close()
		return resp.StatusCode, ""
	}
	head := make([]byte, 2)
	if _, err := io.ReadFull(br, head); err != nil {
		b.t.Fatal(err)
	}
	msg := make([]byte, head[1]&0x7f)
	if _, err := io.ReadFull(br, msg); err != nil {
		b.t.Fatal(err)
	}
	return resp.StatusCode, string(msg)
}

var handoffForm = regexp.MustCompile(`<form method="post" action="([^"]*)" id="control-handoff">\s*<input type="hidden" name="token" value="([^"]*)">`)

// openControl presses the dashboard's "Open the Control UI" and returns
// the page's handoff: where its form posts, and the token it carries.
func (b *browser) openControl() (action, token string) {
	b.t.Helper()
	_, _, csrf := b.get("/dashboard")
	req, _ := http.NewRequest(http.MethodPost, b.app.url+"/control-ui", strings.NewReader(url.Values{"csrf_token": {csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := handoffForm.FindStringSubmatch(string(body))
	if resp.StatusCode != http.StatusOK || m == nil {
		b.t.Fatalf("POST /control-ui = %d %s", resp.StatusCode, body)
	}
	if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Referrer-Policy") != "strict-origin" {
		b.t.Errorf("handoff page Cache-Control %q, Referrer-Policy %q", resp.Header.Get("Cache-Control"), resp.Header.Get("Referrer-Policy"))
	}
	return html.UnescapeString(m[1]), m[2]
}

// handoff posts token to the control origin as the handoff page's form
// does, from origin.
func (b *browser) handoff(token, origin string) *http.Response {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.app.control+"/handoff", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
		req.Header.Set("Sec-Fetch-Site", "cross-site")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// signUpWithInstance makes a signed-in customer with a fake instance of
// engine.
func signUpWithInstance(t *testing.T, a *app, b *browser, id, engine string, hits chan controlHit) {
	t.Helper()
	cs := b.checkout(strings.TrimPrefix(id, "cus_")+"@example.com", "claw_"+id)
	secret := "instance-token-of-" + id
	if err := a.secrets.Put(t.Context(), names.InstanceTokenRef(id), []byte(secret)); err != nil {
		t.Fatal(err)
	}
	if err := a.st.Provisioned(t.Context(), id, controlInstance(t, id, secret, engine, hits)); err != nil {
		t.Fatal(err)
	}
	_, _, tok := b.get("/welcome?session_id=" + cs)
	if resp, _ := b.postJSON("/welcome/reveal", tok, map[string]string{"session_id": cs}); resp.StatusCode != http.StatusOK {
		t.Fatalf("reveal %s = %d", id, resp.StatusCode)
	}
}

// TestControlUIOnlyForItsOwner: the Control UI is served on its own origin
// only. The dashboard mints a one-time handoff, bound to the session and
// the instance, which the control origin exchanges for a cookie of its
// own; reusing it, posting it from another origin, or letting it expire
// is refused. The Control UI and its WebSocket reach the customer's own
// instance with a dashboard token and without the browser's cookies;
// another customer reaches only their own; no control session is 401 (the
// web app's session cookie is not one), a WebSocket whose Origin is not
// the control origin exactly 403; an instance re-provisioned since the
// handoff 409; signing out ends it. The web app no longer serves the UI
// and refuses requests from the control origin. Everything is counted.
func TestControlUIOnlyForItsOwner(t *testing.T) {
	var shift atomic.Int64 // the app's clock, ahead of or behind the database's
	a := newApp(t, true, func(o *Options) { o.Now = func() time.Time { return time.Now().Add(time.Duration(shift.Load())) } })
	if a.control != "http://control.localhost:"+strings.Split(a.url, ":")[2] {
		t.Fatalf("control origin %q for the app at %s", a.control, a.url)
	}
	hits := make(chan controlHit, 20)
	ada, bob := a.browser(), a.browser()
	signUpWithInstance(t, a, ada, "cus_ada", "openclaw", hits)
	signUpWithInstance(t, a, bob, "cus_bob", "openclaw", hits)
	drain := func() []controlHit {
		var got []controlHit
		for {
			select {
			case h := <-hits:
				got = append(got, h)
			default:
				return got
			}
		}
	}

	// The handoff: posted to the control origin, used once.
	action, tok := ada.openControl()
	if action != a.control+"/handoff" {
		t.Fatalf("the handoff form posts to %q, want %q", action, a.control+"/handoff")
	}
	for _, c := range []struct {
		name, token, origin string
		want                int
	}{
		{"another site's page", tok, "https://evil.example", http.StatusForbidden},
		{"no origin", tok, "", http.StatusForbidden},
		{"the control origin itself", tok, a.control, http.StatusForbidden},
		{"a made-up token", strings.Repeat("A", 43), a.url, http.StatusUnauthorized},
	} {
		if resp := ada.handoff(c.token, c.origin); resp.StatusCode != c.want {
			t.Errorf("handoff, %s = %d, want %d", c.name, resp.StatusCode, c.want)
		}
	}
	resp := ada.handoff(tok, a.url)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/openclaw/" {
		t.Fatalf("handoff = %d %q, want 303 to /openclaw/", resp.StatusCode, resp.Header.Get("Location"))
	}
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == controlCookie {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.Domain != "" || cookie.Path != "/" || len(cookie.Value) != 43 {
		t.Fatalf("control cookie = %+v, want HttpOnly, SameSite=Lax, host-only", cookie)
	}
	for _, b := range []*browser{ada, bob} {
		if resp := b.handoff(tok, a.url); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("the handoff used again = %d, want 401", resp.StatusCode)
		}
	}
	shift.Store(int64(-2 * ControlHandoffTTL))
	_, old := bob.openControl()
	shift.Store(0)
	if resp := bob.handoff(old, a.url); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("an expired handoff = %d, want 401", resp.StatusCode)
	}
	_, tokB := bob.openControl()
	if resp := bob.handoff(tokB, a.url); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("bob's handoff = %d", resp.StatusCode)
	}

	// Each customer's page comes from their own instance, whatever the path
	// or query says.
	for _, c := range []struct {
		b   *browser
		who string
	}{{ada, "cus_ada"}, {bob, "cus_bob"}} {
		req, _ := http.NewRequest(http.MethodGet, a.control+"/openclaw/chat?customer=cus_ada", nil)
		req.Header.Set("X-CSRF-Token", "not-forwarded")
		req.Header.Set("X-Forwarded-For", "203.0.113.9")
		resp, err := c.b.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "Control of "+c.who) {
			t.Fatalf("%s GET /openclaw/chat = %d %q", c.who, resp.StatusCode, body)
		}
		if resp.Header.Get("Set-Cookie") != "" {
			t.Errorf("the instance's Set-Cookie reached the browser: %q", resp.Header.Get("Set-Cookie"))
		}
		if csp := resp.Header.Values("Content-Security-Policy"); len(csp) != 1 || !strings.Contains(csp[0], "ws:") {
			t.Errorf("Content-Security-Policy = %q, want the instance's own, alone", csp)
		}
		got := drain()
		if len(got) != 1 {
			t.Fatalf("%s's page load reached %+v", c.who, got)
		}
		h := got[0]
		if h.who != c.who || h.path != "/openclaw/chat" || h.cookie != "" || h.csrf != "" || h.xff != "127.0.0.1" {
			t.Errorf("%s's request reached %+v, want its own instance, no cookie, no CSRF token, the browser's address", c.who, h)
		}
	}

	// The WebSocket: the owner's, from the control origin, goes through.
	code, msg := ada.dialControlWS(a.control, a.control)
	if code != http.StatusSwitchingProtocols || msg != "cus_ada connected" {
		t.Fatalf("ada's WebSocket = %d %q", code, msg)
	}
	if got := drain(); len(got) != 1 || !got[0].websocket || got[0].who != "cus_ada" || got[0].origin != a.control || got[0].path != "/openclaw" {
		t.Errorf("ada's WebSocket reached %+v", got)
	}

	// Refusals, none of which reaches an instance.
	webOnly := a.browser() // ada's web session cookie, sent to the control host
	webOnly.c.Jar.SetCookies(&url.URL{Scheme: "http", Host: strings.TrimPrefix(a.control, "http://")}, []*http.Cookie{ada.cookie(sessionCookie)})
	for _, c := range []struct {
		name   string
		b      *browser
		origin string
		want   int
	}{
		{"no session", a.browser(), a.control, http.StatusUnauthorized},
		{"the web app's session cookie", webOnly, a.control, http.StatusUnauthorized},
		{"another site's page", ada, "https://evil.example", http.StatusForbidden},
		{"the web app's page", ada, a.url, http.StatusForbidden},
		{"no origin", ada, "", http.StatusForbidden},
	} {
		if code, _ := c.b.dialControlWS(a.control, c.origin); code != c.want {
			t.Errorf("WebSocket, %s = %d, want %d", c.name, code, c.want)
		}
	}
	for _, b := range []*browser{a.browser(), webOnly} {
		resp, err := b.c.Get(a.control + "/openclaw/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET /openclaw/ on the control origin without a control session = %d, want 401", resp.StatusCode)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, a.control+"/openclaw/api/x", strings.NewReader("{}"))
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if resp, err := ada.c.Do(req); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site POST = %d, want 403", resp.StatusCode)
	}
	// Nothing of the web app on the control origin.
	for _, p := range []string{"/dashboard", "/app/api/account", "/signin", "/"} {
		if resp, err := ada.c.Get(a.control + p); err != nil {
			t.Fatal(err)
		} else if resp.Body.Close(); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s on the control origin = %d, want 404", p, resp.StatusCode)
		}
	}
	// The web app's old path serves the UI no more.
	if code, _ := ada.dialControlWS(a.url, a.url); code != http.StatusNotFound {
		t.Errorf("WebSocket on the web app's /openclaw = %d, want 404", code)
	}
	if code, body, _ := ada.get("/openclaw/"); code != http.StatusNotFound || !strings.Contains(body, "moved to an address of its own") {
		t.Errorf("GET /openclaw/ on the web app = %d %q", code, body)
	}
	if got := drain(); len(got) != 0 {
		t.Errorf("refused requests reached instances: %+v", got)
	}

	// The web app's API answers only its own pages, never the control
	// origin's, whatever cookie comes along.
	before := a.refused("cross_origin")
	for _, h := range [][2]string{{"Origin", a.control}, {"Sec-Fetch-Site", "same-site"}, {"Sec-Fetch-Site", "cross-site"}} {
		req, _ := http.NewRequest(http.MethodGet, a.url+"/app/api/account", nil)
		req.Header.Set(h[0], h[1])
		if resp, err := ada.c.Do(req); err != nil {
			t.Fatal(err)
		} else if resp.Body.Close(); resp.StatusCode != http.StatusForbidden {
			t.Errorf("GET /app/api/account with %s: %s = %d, want 403", h[0], h[1], resp.StatusCode)
		}
	}
	if got := a.refused("cross_origin") - before; got != 3 {
		t.Errorf("claw_web_refused_total{reason=cross_origin} rose by %v, want 3", got)
	}
	if code, _, _ := ada.get("/app/api/account"); code != http.StatusOK {
		t.Errorf("the dashboard's own GET /app/api/account = %d", code)
	}

	// The control session opens only the instance it was handed off for,
	// and ends with the web session.
	if err := a.st.Provisioned(t.Context(), "cus_ada", controlInstance(t, "cus_ada", "instance-token-of-cus_ada", "openclaw", hits)); err != nil {
		t.Fatal(err)
	}
	if resp, err := ada.c.Get(a.control + "/openclaw/"); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusConflict {
		t.Errorf("the Control UI after the instance changed = %d, want 409", resp.StatusCode)
	}
	_, _, csrf := bob.get("/dashboard")
	bob.post("/signout", url.Values{"csrf_token": {csrf}})
	if resp, err := bob.c.Get(a.control + "/openclaw/"); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the Control UI after signing out = %d, want 401", resp.StatusCode)
	}
	if got := drain(); len(got) != 0 {
		t.Errorf("refused requests reached instances: %+v", got)
	}

	for _, c := range []struct {
		kind, code string
		want       float64
	}{
		{"open", "2xx", 3}, {"handoff", "303", 2}, {"handoff", "403", 3}, {"handoff", "401", 4},
		{"page", "2xx", 2}, {"websocket", "1xx", 1}, {"websocket", "401", 2}, {"websocket", "403", 3},
		{"page", "401", 3}, {"page", "403", 1}, {"page", "409", 1}, {"page", "404", 1}, {"websocket", "404", 1},
	} {
		if got := testutil.ToFloat64(a.metrics.controlUI.WithLabelValues(c.kind, c.code)); got != c.want {
			t.Errorf("claw_web_control_ui_requests_total{kind=%q,code=%q} = %v, want %v", c.kind, c.code, got, c.want)
		}
	}
	if got := a.refused("bad_handoff"); got != 4 {
		t.Errorf("claw_web_refused_total{reason=bad_handoff} = %v, want 4", got)
	}
}
