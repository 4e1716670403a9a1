package ui

import (
	"errors"
	"net/http"
	"net/url"

	"clawdbot.cloud/pkg/controlproxy"
	"clawdbot.cloud/pkg/names"
)

// controlUI proxies the OpenClaw Control UI of the signed-in customer's own
// instance (pages, assets and its WebSocket) under controlproxy.Path: the
// session decides the instance, never the request. Who is refused, and how:
// no session 401; a WebSocket or a state-changing request from another
// origin 403 (a page of another site must not drive the customer's agent
// with the customer's cookie); no running instance 409; an instance on the
// runtime engine answers 404 itself. The gateway token never leaves the
// instance; the browser holds only its session cookie, which is not
// forwarded.
func (s *Server) controlUI(w http.ResponseWriter, r *http.Request) {
	kind := "page"
	if controlproxy.IsWebSocket(r) {
		kind = "websocket"
	}
	ss, ok := s.requireSession(w, r, true)
	if !ok {
		s.o.Metrics.controlUI.WithLabelValues(kind, "401").Inc()
		return
	}
	if !s.controlOriginOK(r, kind == "websocket") {
		s.o.Metrics.refused.WithLabelValues("csrf").Inc()
		s.o.Metrics.controlUI.WithLabelValues(kind, "403").Inc()
		s.o.Log.InfoContext(r.Context(), "refused a cross-site control ui request", "kind", kind,
			"sec_fetch_site", r.Header.Get("Sec-Fetch-Site"), "origin", r.Header.Get("Origin"))
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "the Control UI opens only from this site"})
		return
	}
	a, err := s.o.Store.Account(r.Context(), ss.CustomerID)
	if err != nil || a.InstanceURL == "" {
		s.o.Metrics.controlUI.WithLabelValues(kind, "409").Inc()
		writeJSON(w, http.StatusConflict, map[string]string{"error": "your assistant is not running yet"})
		return
	}
	secret, err := s.o.Secrets.Get(r.Context(), names.InstanceTokenRef(a.CustomerID))
	if err != nil {
		s.o.Log.ErrorContext(r.Context(), "instance token", "err", err)
		s.o.Metrics.controlUI.WithLabelValues(kind, "503").Inc()
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "your assistant cannot be reached right now"})
		return
	}
	// The gateway's pages carry their own policy (inline script hashes,
	// its WebSocket); this app's would add to it and break the UI.
	for _, h := range []string{"Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy"} {
		w.Header().Del(h)
	}
	answered := false
	controlproxy.Forward(w, r, controlproxy.Target{URL: a.InstanceURL, Token: string(secret)}, controlproxy.Options{
		Transport: s.o.InstanceClient.Transport,
		Now:       s.o.Now,
		OnResponse: func(_ *http.Request, status int) {
			answered = true
			s.o.Metrics.controlUI.WithLabelValues(kind, codeClass(status)).Inc()
		},
		OnError: func(r *http.Request, err error) {
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err // the URL names the instance's address only, but keep logs short
			}
			s.o.Log.WarnContext(r.Context(), "control ui request", "kind", kind, "err", err)
		},
	})
	if !answered {
		s.o.Metrics.controlUI.WithLabelValues(kind, "error").Inc()
	}
}

// controlOriginOK: a WebSocket must come with this app's own Origin (the
// browser always sends one on a WebSocket; a missing one is not a
// browser's); other unsafe methods must be same-origin; plain page loads
// may come from anywhere (a link), the SameSite=Lax cookie decides.
func (s *Server) controlOriginOK(r *http.Request, websocket bool) bool {
	if websocket {
		want, err := url.Parse(s.o.PublicURL)
		return err == nil && r.Header.Get("Origin") == want.Scheme+"://"+want.Host
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	return s.sameOrigin(r) && (r.Header.Get("Sec-Fetch-Site") != "" || r.Header.Get("Origin") != "")
}

// controlUIRoot serves the prefix itself: the Control UI opens its
// WebSocket there (no trailing slash); a page load is sent to /openclaw/,
// where the UI's relative asset paths resolve.
func (s *Server) controlUIRoot(w http.ResponseWriter, r *http.Request) {
	if controlproxy.IsWebSocket(r) {
		s.controlUI(w, r)
		return
	}
	http.Redirect(w, r, controlproxy.Path+"/", http.StatusSeeOther)
}
