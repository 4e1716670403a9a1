package openclaw

import (
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"clawdbot.cloud/services/runtime/internal/respond"
)

// standInClient is the client address the front door reports to the
// gateway when the browser's own is loopback or unknown (a web app on the
// same machine, as in development). OpenClaw's trusted-proxy auth refuses
// a request whose forwarded client is loopback; the address only labels
// the gateway's logs and rate limits. 192.0.2.1 is TEST-NET-1 (RFC 5737):
// never a real client.
const standInClient = "192.0.2.1"

// controlHost is the host the front door reports as forwarded (the host
// of controlOrigin).
const controlHost = "control-ui.claw.invalid"

// ControlUI returns the handler the front door serves the gateway's
// Control UI with, pages and WebSocket, under ControlPath. It must sit
// behind the front door's own check of who is asking (the runtime admits
// only the web app's dashboard tokens there): the gateway trusts whatever
// reaches it through this handler as its owner.
//
// On the way in it drops every credential and forwarding header the caller
// sent (Authorization, cookies, Forwarded, X-Forwarded-*, X-Real-IP, the
// proxy identity header, OpenClaw's scope cap) and sets its own: the proxy
// identity (ProxyUserEnv), the client's address, and controlOrigin as the
// Origin. The gateway token never travels this way. On the way out it drops
// Set-Cookie (the browser sees the web app's origin, whose cookies are not
// the gateway's to set) and, in the WebSocket's frames, replaces the proxy
// identity, which the gateway names to its clients as their user, by
// OwnerLabel (redactFrames; compression is not offered to the gateway).
func (g *Gateway) ControlUI() http.Handler { return g.control }

func (g *Gateway) newControlProxy() http.Handler {
	target, _ := url.Parse(g.BaseURL())
	rp := &httputil.ReverseProxy{
		// With Rewrite, Forwarded and X-Forwarded-* are already gone from
		// the outgoing request, and hop-by-hop headers (but the upgrade).
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			h := pr.Out.Header
			// No compression on the WebSocket: its frames are redacted.
			for _, k := range []string{"Authorization", "Cookie", "X-Real-Ip", proxyUserHeader, "X-Openclaw-Scopes", "Sec-Websocket-Extensions"} {
				h.Del(k)
			}
			h.Set(proxyUserHeader, g.proxyUser)
			h.Set("X-Forwarded-For", clientAddr(pr.In))
			h.Set("X-Forwarded-Proto", "https")
			h.Set("X-Forwarded-Host", controlHost)
			if h.Get("Origin") != "" {
				h.Set("Origin", controlOrigin)
			}
		},
		ModifyResponse: func(resp *http.Response) error {
			resp.Header.Del("Set-Cookie")
			// The gateway names the proxy's identity to the browser
			// (hello, presence, config); it is a credential on loopback.
			if rwc, ok := resp.Body.(io.ReadWriteCloser); ok && resp.StatusCode == http.StatusSwitchingProtocols {
				resp.Body = newRedactFrames(rwc, g.proxyUser, OwnerLabel)
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() == nil {
				g.o.Log.WarnContext(r.Context(), "openclaw control ui: gateway request failed", "err", err)
			}
			respond.Error(w, http.StatusBadGateway, "the OpenClaw gateway did not answer")
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != ControlPath && !strings.HasPrefix(r.URL.Path, ControlPath+"/") {
			respond.Error(w, http.StatusNotFound, "not found")
			return
		}
		if g.Ready() != nil {
			w.Header().Set("Retry-After", "5")
			respond.Error(w, http.StatusServiceUnavailable, "the OpenClaw gateway is starting; try again in a few seconds")
			return
		}
		if isUpgrade(r) {
			// A WebSocket lives longer than the server's read and write
			// timeouts, whose deadlines stay on the hijacked connection.
			rc := http.NewResponseController(w)
			_ = rc.SetReadDeadline(time.Time{})
			_ = rc.SetWriteDeadline(time.Time{})
		}
		rp.ServeHTTP(w, r)
	})
}

// isUpgrade reports whether r asks to switch protocols (a WebSocket).
func isUpgrade(r *http.Request) bool {
	for _, v := range r.Header.Values("Connection") {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "upgrade") {
				return r.Header.Get("Upgrade") != ""
			}
		}
	}
	return false
}

// clientAddr is the browser's address as the web app reported it (the
// first X-Forwarded-For entry of a request the caller has authenticated),
// or standInClient when that is missing, malformed or loopback.
func clientAddr(r *http.Request) string {
	first, _, _ := strings.Cut(r.Header.Get("X-Forwarded-For"), ",")
	ip := net.ParseIP(strings.TrimSpace(first))
	if ip == nil || ip.IsLoopback() || ip.IsUnspecified() {
		return standInClient
	}
	return ip.String()
}
