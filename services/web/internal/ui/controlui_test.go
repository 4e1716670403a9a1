package ui

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
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

// controlInstance serves a fake instance's Control UI: a page naming its
// owner (with a cookie and a policy of its own, to see what the app passes
// on) and a WebSocket that echoes one line. Requests without a valid
// dashboard token for this instance get 401, as the runtime answers.
func controlInstance(t *testing.T, who, secret string, hits chan<- controlHit) string {
	return newInstance(t, func(w http.ResponseWriter, r *http.Request) {
		if err := dashtoken.Verify(secret, dashtoken.FromHeader(r.Header.Get("Authorization")), time.Now()); err != nil {
			http.Error(w, `{"error":"invalid token"}`, http.StatusUnauthorized)
			return
		}
		ws := strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
		hits <- controlHit{who: who, path: r.URL.Path, cookie: r.Header.Get("Cookie"), csrf: r.Header.Get("X-CSRF-Token"),
			xff: r.Header.Get("X-Forwarded-For"), origin: r.Header.Get("Origin"), websocket: ws}
		if !ws {
			w.Header().Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws:")
			w.Header().Set("Set-Cookie", "gateway=1; Path=/")
			w.Header().Set("Content-Type", "text/html")
			_, _ = io.WriteString(w, "<title>OpenClaw Control of "+who+"</title>")
			return
		}
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		_, _ = rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		_ = rw.Flush()
		line, _ := rw.ReadString('\n')
		_, _ = rw.WriteString(who + " echoes " + line)
		_ = rw.Flush()
	})
}

// dialControlWS opens the Control UI's WebSocket through the app as b, with
// origin (none when empty), and returns the status and, after a 101, the
// echo of one line.
func (b *browser) dialControlWS(origin string) (int, string) {
	b.t.Helper()
	u, _ := url.Parse(b.app.url)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		b.t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	// Where OpenClaw's Control UI opens it: the prefix, no slash.
	req, _ := http.NewRequest(http.MethodGet, b.app.url+"/openclaw", nil)
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
	if _, err := io.WriteString(conn, "hello\n"); err != nil {
		b.t.Fatal(err)
	}
	echo, _ := br.ReadString('\n')
	return resp.StatusCode, echo
}

// TestControlUIOnlyForItsOwner: the Control UI and its WebSocket reach the
// signed-in customer's own instance, with a dashboard token and without the
// browser's cookies; another customer reaches only their own; no session is
// 401, a WebSocket or a write from another origin 403; the instance's
// cookies do not come back; everything is counted.
func TestControlUIOnlyForItsOwner(t *testing.T) {
	a := newApp(t, true, nil)
	hits := make(chan controlHit, 20)
	ada, bob := a.browser(), a.browser()
	for _, c := range []struct {
		b      *browser
		email  string
		id     string
		secret string
	}{{ada, "ada@example.com", "cus_ada", "instance-token-of-ada"}, {bob, "bob@example.com", "cus_bob", "instance-token-of-bob"}} {
		cs := c.b.checkout(c.email, "claw_"+c.id)
		if err := a.secrets.Put(t.Context(), names.InstanceTokenRef(c.id), []byte(c.secret)); err != nil {
			t.Fatal(err)
		}
		if err := a.st.Provisioned(t.Context(), c.id, controlInstance(t, c.id, c.secret, hits)); err != nil {
			t.Fatal(err)
		}
		_, _, tok := c.b.get("/welcome?session_id=" + cs)
		if resp, _ := c.b.postJSON("/welcome/reveal", tok, map[string]string{"session_id": cs}); resp.StatusCode != http.StatusOK {
			t.Fatalf("reveal %s = %d", c.id, resp.StatusCode)
		}
	}
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

	// Each customer's page comes from their own instance, whatever the path
	// or query says.
	for _, c := range []struct {
		b   *browser
		who string
	}{{ada, "cus_ada"}, {bob, "cus_bob"}} {
		req, _ := http.NewRequest(http.MethodGet, a.url+"/openclaw/chat?customer=cus_ada", nil)
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

	// The WebSocket: the owner's, same-origin, goes through both ways.
	code, echo := ada.dialControlWS(a.url)
	if code != http.StatusSwitchingProtocols || echo != "cus_ada echoes hello\n" {
		t.Fatalf("ada's WebSocket = %d %q", code, echo)
	}
	if got := drain(); len(got) != 1 || !got[0].websocket || got[0].who != "cus_ada" || got[0].origin != a.url || got[0].path != "/openclaw" {
		t.Errorf("ada's WebSocket reached %+v", got)
	}

	// Refusals, none of which reaches an instance.
	for _, c := range []struct {
		name   string
		b      *browser
		origin string
		want   int
	}{
		{"no session", a.browser(), a.url, http.StatusUnauthorized},
		{"another site's page", ada, "https://evil.example", http.StatusForbidden},
		{"no origin", ada, "", http.StatusForbidden},
	} {
		if code, _ := c.b.dialControlWS(c.origin); code != c.want {
			t.Errorf("WebSocket, %s = %d, want %d", c.name, code, c.want)
		}
	}
	resp, err := a.browser().c.Get(a.url + "/openclaw/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /openclaw/ without a session = %d, want 401", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPost, a.url+"/openclaw/api/x", strings.NewReader("{}"))
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if resp, err = ada.c.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site POST = %d, want 403", resp.StatusCode)
	}
	if got := drain(); len(got) != 0 {
		t.Errorf("refused requests reached instances: %+v", got)
	}
	if resp, err = ada.c.Get(a.url + "/openclaw"); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/openclaw/" {
		t.Errorf("GET /openclaw = %d %s, want a redirect to /openclaw/", resp.StatusCode, resp.Header.Get("Location"))
	}

	for _, c := range []struct {
		kind, code string
		want       float64
	}{{"page", "2xx", 2}, {"websocket", "1xx", 1}, {"websocket", "401", 1}, {"websocket", "403", 2}, {"page", "401", 1}, {"page", "403", 1}} {
		if got := testutil.ToFloat64(a.metrics.controlUI.WithLabelValues(c.kind, c.code)); got != c.want {
			t.Errorf("claw_web_control_ui_requests_total{kind=%q,code=%q} = %v, want %v", c.kind, c.code, got, c.want)
		}
	}
}
