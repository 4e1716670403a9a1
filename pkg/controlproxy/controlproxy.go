// Package controlproxy is the web app's hop to a customer's OpenClaw
// Control UI: browser → the web app's control origin (an origin of its
// own, not the web app's) → the instance's front door (the runtime) → the
// OpenClaw gateway on the instance's loopback.
//
// The web app decides who may pass (a control session handed off from the
// signed-in dashboard, the instance it was handed off for, a WebSocket
// from the control origin) and then hands the request to Forward,
// which sends it to that instance under a dashboard token minted for it
// (pkg/dashtoken): the browser holds no instance credential, and neither
// hop ever sees the gateway's token, which stays inside the runtime. The
// runtime admits only dashboard tokens on the Control UI's path and adds
// the gateway's trusted-proxy identity itself.
//
// Pages, assets and the Control UI's WebSocket take the same way; a
// WebSocket is proxied as a protocol switch (net/http/httputil) with the
// server's read and write deadlines lifted from its connection.
package controlproxy

import (
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"clawdbot.cloud/pkg/dashtoken"
)

// Path is the Control UI's path prefix on the web app, on the instance and
// on the gateway (gateway.controlUi.basePath), the same at every hop.
const Path = "/openclaw"

// TokenLifetime is how long the dashboard token minted for one request is
// valid: the runtime checks it once, when the request (or the WebSocket's
// upgrade) arrives.
const TokenLifetime = 2 * time.Minute

// Target is the instance a request goes to.
type Target struct {
	// URL is the instance's base URL (http://127.0.0.1:port, or its
	// public https URL).
	URL string
	// Token is the instance token dashboard tokens are keyed with; it is
	// never sent.
	Token string
}

// Options configure Forward.
type Options struct {
	// Transport carries requests to instances; http.DefaultTransport when
	// nil.
	Transport http.RoundTripper
	// Now is the clock tokens are minted by; time.Now when nil.
	Now func() time.Time
	// OnError is told of a request the instance did not answer (the error
	// names no credential); the browser gets 502.
	OnError func(r *http.Request, err error)
	// OnResponse is told of each answer's status (101 for a WebSocket).
	OnResponse func(r *http.Request, status int)
}

// IsWebSocket reports whether r asks to switch to the WebSocket protocol.
func IsWebSocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket") && headerHasToken(r.Header, "Connection", "upgrade")
}

// Forward proxies r, whose path is under Path, to the instance t. The
// request loses its cookies, Authorization and CSRF headers and every
// forwarding header it came with; it gains a dashboard token and, as
// X-Forwarded-For, the browser's own address. The answer loses any
// Set-Cookie.
func Forward(w http.ResponseWriter, r *http.Request, t Target, o Options) {
	target, err := url.Parse(strings.TrimRight(t.URL, "/"))
	if err != nil || target.Host == "" {
		if o.OnError != nil {
			o.OnError(r, err)
		}
		http.Error(w, "your assistant cannot be reached", http.StatusBadGateway)
		return
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	rp := &httputil.ReverseProxy{
		Transport: o.Transport,
		// With Rewrite the incoming Forwarded and X-Forwarded-* are gone
		// already, with the hop-by-hop headers (the upgrade excepted).
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			h := pr.Out.Header
			for _, k := range []string{"Cookie", "Authorization", "X-Csrf-Token", "X-Real-Ip", "X-Claw-Proxy-User", "X-Openclaw-Scopes"} {
				h.Del(k)
			}
			h.Set("Authorization", "Bearer "+dashtoken.Mint(t.Token, now().Add(TokenLifetime)))
			if ip, _, err := net.SplitHostPort(pr.In.RemoteAddr); err == nil {
				h.Set("X-Forwarded-For", ip)
			}
		},
		ModifyResponse: func(resp *http.Response) error {
			resp.Header.Del("Set-Cookie")
			if o.OnResponse != nil {
				o.OnResponse(r, resp.StatusCode)
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if o.OnError != nil && r.Context().Err() == nil {
				o.OnError(r, err)
			}
			http.Error(w, "your assistant did not answer", http.StatusBadGateway)
		},
	}
	if IsWebSocket(r) {
		// The WebSocket outlives the server's timeouts, whose deadlines
		// would stay on the connection it takes over.
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Time{})
		_ = rc.SetWriteDeadline(time.Time{})
	}
	rp.ServeHTTP(w, r)
}

// headerHasToken reports whether the comma-separated header name of h
// holds token (case-insensitive).
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
