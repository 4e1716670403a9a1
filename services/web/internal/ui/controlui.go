package ui

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"clawdbot.cloud/pkg/controlproxy"
	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/services/web/internal/store"
)

// The OpenClaw Control UI has an origin of its own (Options.ControlURL),
// served by this app but sharing nothing with it: OpenClaw's scripts, which
// render the agent's output, must not run with the web app's same-origin
// rights. The way in:
//
//  1. the dashboard's form posts to POST /control-ui on the web app (session
//     and CSRF token): it mints a handoff, a random token valid once, for
//     ControlHandoffTTL, bound to the session and the instance, stored only
//     as its SHA-256, and answers a page whose form carries it (in the
//     body, never in a URL) to the control origin;
//  2. the control origin's POST /handoff (Origin: the web app, exactly)
//     uses it up and sets the control origin's own cookie (HttpOnly,
//     SameSite=Lax, Secure when https, host-only), then sends the browser
//     to /openclaw/;
//  3. the control origin's /openclaw/… proxies to that instance only, as the
//     web app's /openclaw/ did before (controlproxy.Forward).
//
// The web app's own session cookie opens nothing on the control origin,
// and the web app refuses every request that comes from the control origin
// (refuseCrossOrigin).

// Cookie and lifetimes of the control origin.
const (
	controlCookie = "claw_control"
	// ControlHandoffTTL is how long a handoff can be used: it is used at
	// once by the page that carries it.
	ControlHandoffTTL = time.Minute
	// controlSessionTTL bounds a control session; it also ends with its
	// web session.
	controlSessionTTL = 12 * time.Hour
)

// DefaultControlURL is the Control UI's origin when WEB_CONTROL_URL is not
// set: "control." before the web app's host, and control.localhost for a
// loopback address (browsers resolve *.localhost to loopback), same scheme
// and port. An IP address that is not loopback has no default ("").
func DefaultControlURL(publicURL string) string {
	u, err := url.Parse(publicURL)
	if err != nil || u.Host == "" {
		return ""
	}
	host, port := u.Hostname(), u.Port()
	if ip := net.ParseIP(host); ip != nil {
		if !ip.IsLoopback() {
			return ""
		}
		host = "localhost"
	}
	if port != "" {
		host = net.JoinHostPort("control."+host, port)
	} else {
		host = "control." + host
	}
	return u.Scheme + "://" + host
}

// origin is scheme://host of an absolute URL, "" when it is not one.
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// isControlHost reports whether r was sent to the control origin's host.
func (s *Server) isControlHost(r *http.Request) bool {
	return s.controlHost != "" && strings.EqualFold(r.Host, s.controlHost)
}

// controlHandler is everything the control origin serves: the handoff and
// the Control UI. Nothing of the web app is reachable there.
func (s *Server) controlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /handoff", s.controlHandoff)
	mux.HandleFunc(controlproxy.Path+"/", s.controlUI)
	mux.HandleFunc(controlproxy.Path, s.controlUIRoot)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not found: this address serves only the OpenClaw Control UI; open it from your dashboard", http.StatusNotFound)
	})
	return s.observe(mux, http.MaxBytesHandler(mux, maxBody))
}

// openControlUI (POST /control-ui on the web app) mints a handoff for the
// signed-in customer's instance and answers the page that carries it to
// the control origin.
func (s *Server) openControlUI(w http.ResponseWriter, r *http.Request) {
	ss, sessionHash, ok := s.session(r)
	if !ok {
		s.o.Metrics.refused.WithLabelValues("no_session").Inc()
		s.o.Metrics.controlUI.WithLabelValues("open", "401").Inc()
		http.Redirect(w, r, "/signin", http.StatusSeeOther)
		return
	}
	if !s.checkCSRF(w, r, ss.CSRF) {
		s.o.Metrics.controlUI.WithLabelValues("open", "403").Inc()
		return
	}
	if s.o.ControlURL == "" {
		s.o.Metrics.controlUI.WithLabelValues("open", "404").Inc()
		s.fail(w, r, http.StatusNotFound, "The OpenClaw Control UI is not set up on this platform.")
		return
	}
	a, err := s.o.Store.Account(r.Context(), ss.CustomerID)
	if err != nil || a.InstanceURL == "" {
		s.o.Metrics.controlUI.WithLabelValues("open", "409").Inc()
		s.fail(w, r, http.StatusConflict, "Your assistant is not running yet.")
		return
	}
	token := randomToken()
	g := store.ControlGrant{SessionHash: sessionHash, CustomerID: a.CustomerID, InstanceURL: a.InstanceURL}
	if err := s.o.Store.CreateControlHandoff(r.Context(), digest(token), g, s.o.Now().Add(ControlHandoffTTL)); err != nil {
		s.o.Log.ErrorContext(r.Context(), "control handoff", "err", err)
		s.o.Metrics.controlUI.WithLabelValues("open", "503").Inc()
		s.fail(w, r, http.StatusServiceUnavailable, "The Control UI cannot be opened right now. Try again in a moment.")
		return
	}
	s.o.Metrics.controlUI.WithLabelValues("open", "2xx").Inc()
	// The page's form posts across origins: with this app's usual
	// "same-origin" policy the browser would send "Origin: null", and the
	// control origin checks the Origin.
	w.Header().Set("Referrer-Policy", "strict-origin")
	s.render(w, r, http.StatusOK, "control_handoff", page{Title: "Opening the Control UI",
		Data: map[string]string{"Action": strings.TrimRight(s.o.ControlURL, "/") + "/handoff", "Token": token}})
}

// controlHandoff (POST /handoff on the control origin) uses a handoff up
// and starts the control origin's own session.
func (s *Server) controlHandoff(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	if r.Header.Get("Origin") != origin(s.o.PublicURL) {
		s.o.Metrics.refused.WithLabelValues("csrf").Inc()
		s.o.Metrics.controlUI.WithLabelValues("handoff", "403").Inc()
		s.o.Log.InfoContext(r.Context(), "refused a control ui handoff from another origin", "origin", r.Header.Get("Origin"))
		http.Error(w, "forbidden: the Control UI opens only from your dashboard", http.StatusForbidden)
		return
	}
	token := r.PostFormValue("token")
	var g store.ControlGrant
	err := store.ErrNotFound
	if len(token) == 43 {
		g, err = s.o.Store.UseControlHandoff(r.Context(), digest(token))
	}
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.o.Log.ErrorContext(r.Context(), "use control handoff", "err", err)
			s.o.Metrics.controlUI.WithLabelValues("handoff", "503").Inc()
			http.Error(w, "the Control UI cannot be opened right now; try again from your dashboard", http.StatusServiceUnavailable)
			return
		}
		s.o.Metrics.refused.WithLabelValues("bad_handoff").Inc()
		s.o.Metrics.controlUI.WithLabelValues("handoff", "401").Inc()
		http.Error(w, "this way into the Control UI was used already or has expired: open it again from your dashboard", http.StatusUnauthorized)
		return
	}
	id := randomToken()
	if err := s.o.Store.CreateControlSession(r.Context(), digest(id), g, s.o.Now().Add(controlSessionTTL)); err != nil {
		s.o.Log.ErrorContext(r.Context(), "control session", "err", err)
		s.o.Metrics.controlUI.WithLabelValues("handoff", "503").Inc()
		http.Error(w, "the Control UI cannot be opened right now; try again from your dashboard", http.StatusServiceUnavailable)
		return
	}
	// Host-only (no Domain): the web app's host never receives it, and it
	// lasts no longer than the session stored beside it.
	https := strings.HasPrefix(s.o.ControlURL, "https://")
	http.SetCookie(w, &http.Cookie{Name: hostPrefix(https) + controlCookie, Value: id, Path: "/", MaxAge: int(controlSessionTTL.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: https})
	s.o.Metrics.controlUI.WithLabelValues("handoff", "303").Inc()
	http.Redirect(w, r, controlproxy.Path+"/", http.StatusSeeOther)
}

// controlUI proxies the OpenClaw Control UI (pages, assets and its
// WebSocket) on the control origin to the instance its control session
// was handed off for: the session decides the instance, never the request.
// Who is refused, and how: no control session 401 (the web app's session
// cookie is not one); a WebSocket or a state-changing request from another
// origin 403; an instance that is not running, or not the one the handoff
// was for, 409; an instance on the runtime engine answers 404 itself. The
// gateway token never leaves the instance; the browser's cookies are not
// forwarded.
func (s *Server) controlUI(w http.ResponseWriter, r *http.Request) {
	kind := "page"
	if controlproxy.IsWebSocket(r) {
		kind = "websocket"
	}
	var g store.ControlGrant
	err := store.ErrNotFound
	if c, cerr := r.Cookie(hostPrefix(strings.HasPrefix(s.o.ControlURL, "https://")) + controlCookie); cerr == nil && len(c.Value) == 43 {
		g, err = s.o.Store.ControlSession(r.Context(), digest(c.Value))
	}
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.o.Log.ErrorContext(r.Context(), "read control session", "err", err)
		}
		s.o.Metrics.refused.WithLabelValues("no_session").Inc()
		s.o.Metrics.controlUI.WithLabelValues(kind, "401").Inc()
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "open the Control UI from your dashboard"})
		return
	}
	if !s.controlOriginOK(r, kind == "websocket") {
		s.o.Metrics.refused.WithLabelValues("csrf").Inc()
		s.o.Metrics.controlUI.WithLabelValues(kind, "403").Inc()
		s.o.Log.InfoContext(r.Context(), "refused a cross-site control ui request", "kind", kind,
			"sec_fetch_site", r.Header.Get("Sec-Fetch-Site"), "origin", r.Header.Get("Origin"))
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "the Control UI opens only from its own address"})
		return
	}
	a, err := s.o.Store.Account(r.Context(), g.CustomerID)
	if err != nil || a.InstanceURL == "" || a.InstanceURL != g.InstanceURL {
		s.o.Metrics.controlUI.WithLabelValues(kind, "409").Inc()
		writeJSON(w, http.StatusConflict, map[string]string{"error": "your assistant is not running, or has moved: open the Control UI again from your dashboard"})
		return
	}
	secret, err := s.o.Secrets.Get(r.Context(), names.InstanceTokenRef(a.CustomerID))
	if err != nil {
		s.o.Log.ErrorContext(r.Context(), "instance token", "err", err)
		s.o.Metrics.controlUI.WithLabelValues(kind, "503").Inc()
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "your assistant cannot be reached right now"})
		return
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

// controlOriginOK: a WebSocket must come with the control origin as its
// Origin, exactly (the browser always sends one on a WebSocket; a missing
// one is not a browser's); other unsafe methods must be same-origin; plain
// page loads may come from anywhere (a link), the SameSite=Lax cookie
// decides.
func (s *Server) controlOriginOK(r *http.Request, websocket bool) bool {
	want := origin(s.o.ControlURL)
	if websocket {
		return want != "" && r.Header.Get("Origin") == want
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" {
		return site == "same-origin"
	}
	return r.Header.Get("Origin") == want
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

// controlUIMoved answers the web app's old /openclaw/ path: the Control UI
// is no longer served on this origin.
func (s *Server) controlUIMoved(w http.ResponseWriter, r *http.Request) {
	kind := "page"
	if controlproxy.IsWebSocket(r) {
		kind = "websocket"
	}
	s.o.Metrics.controlUI.WithLabelValues(kind, "404").Inc()
	writeJSON(w, http.StatusNotFound, map[string]string{"error": "the OpenClaw Control UI has moved to an address of its own: open it from your dashboard"})
}

// refuseCrossOrigin keeps the web app's session to the web app: a request
// sent by a page of the control origin (its Origin) is refused, whatever
// cookie it carries, and so is a dashboard API call a browser says came
// from another origin (Sec-Fetch-Site same-site or cross-site: the control
// origin may share this app's site, and SameSite=Lax cookies travel
// between same-site origins).
func (s *Server) refuseCrossOrigin(next http.Handler) http.Handler {
	control := origin(s.o.ControlURL)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		site := r.Header.Get("Sec-Fetch-Site")
		fromControl := control != "" && r.Header.Get("Origin") == control
		if fromControl || (strings.HasPrefix(r.URL.Path, "/app/api/") && (site == "same-site" || site == "cross-site")) {
			s.o.Metrics.refused.WithLabelValues("cross_origin").Inc()
			s.o.Log.InfoContext(r.Context(), "refused a request from another origin", "path_prefix", firstSegments(strings.TrimPrefix(r.URL.Path, "/")),
				"sec_fetch_site", site, "origin", r.Header.Get("Origin"))
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "this API answers only the web app's own pages"})
			return
		}
		next.ServeHTTP(w, r)
	})
}
