// Package ui is the customer web app's HTTP side: server-rendered pages
// (html/template) with a little JavaScript, the dashboard's JSON API and
// the proxy to the signed-in customer's instance.
//
//	GET  /                         landing page: the plans of the catalog
//	GET  /checkout?plan=           checkout form (dev mode: a labelled dev checkout)
//	POST /checkout                 start checkout: Stripe Checkout, or (dev) a signed checkout.session.completed
//	GET  /welcome?session_id=      the success page, following provisioning live
//	GET  /welcome/events?session_id=  server-sent events of the provisioning steps
//	POST /welcome/reveal           the one-time API key, to the browser that paid; signs it in
//	GET  /signin, POST /signin     one-time email link
//	GET  /signin/link?token=, POST /signin/link   use the link
//	POST /signout
//	GET  /dashboard                the signed-in customer's dashboard
//	GET  /app/api/account          account, plan and instance state (JSON)
//	GET  /app/api/health           the instance's /health, live
//	*    /app/api/instance/{path}  proxied to the customer's own instance
//	POST /control-ui               open the OpenClaw Control UI: a one-time handoff to its own origin (controlui.go)
//	*    /openclaw/…               404: the Control UI moved to its own origin
//
// On the control origin (Options.ControlURL, told apart by the Host header;
// nothing else is served there):
//
//	POST /handoff                  use a handoff, set the control origin's cookie
//	*    /openclaw/…               the instance's OpenClaw Control UI and its WebSocket (openclaw engine)
//	POST /google/connect           Connect Google: OAuth code flow with PKCE (Pro, Team; google.go)
//	GET  /google/callback          Google's redirect: exchange the code, hand the tokens to the instance
//	POST /billing                  Stripe Billing Portal (or, in dev mode, the dev billing page)
//	GET  /dev/mail, POST /dev/billing/{plan-change,cancel}   dev mode only
//
// Who may do what: pages that change state need the session's CSRF token
// (a synchronizer token in a hidden field or the X-CSRF-Token header) and,
// when the browser sends one, a same-origin Origin header; anonymous forms
// use a double-submit cookie. The session cookie is HttpOnly, SameSite=Lax
// and Secure outside dev mode. Every route that reads a customer's data
// takes the customer from the session, never from the request.
package ui

import (
	"context"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"clawdbot.cloud/pkg/controlproxy"
	"clawdbot.cloud/pkg/secrets"
	"clawdbot.cloud/services/web/internal/ingressapi"
	"clawdbot.cloud/services/web/internal/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Mailer sends one plain-text mail.
type Mailer interface {
	Send(ctx context.Context, to, subject, body string) error
}

// Secrets reads the instance tokens the proxy signs with: *secrets.Store.
type Secrets interface {
	Get(ctx context.Context, ref string) ([]byte, error)
}

var _ Secrets = (*secrets.Store)(nil)

// Options are the web app's dependencies and settings.
type Options struct {
	Store   *store.Store
	Ingress *ingressapi.Client
	Secrets Secrets
	Mailer  Mailer
	Metrics *Metrics
	Log     *slog.Logger
	// PublicURL is the app as browsers reach it, e.g. https://app.example.com
	// (sign-in links and the Origin check use it).
	PublicURL string
	// ControlURL is the OpenClaw Control UI's own origin, e.g.
	// https://control.app.example.com (DefaultControlURL): the same
	// server answers it, told apart by the Host header. Empty: no Control
	// UI.
	ControlURL string
	// Dev enables the dev checkout, the dev billing buttons and the dev
	// mailbox; never in production.
	Dev bool
	// StripeCheckout is true when the ingress creates real Checkout
	// Sessions (STRIPE_SECRET_KEY set); otherwise checkout is the dev one.
	StripeCheckout bool
	// WebhookSecret signs the dev checkout's and dev billing's events.
	WebhookSecret string
	// SessionTTL is a session's absolute lifetime; SessionIdle ends one
	// unused for that long; LinkTTL is a sign-in link's lifetime.
	SessionTTL, SessionIdle, LinkTTL time.Duration
	// InstanceClient calls customers' instances (the proxy and the health
	// probe); it must not follow redirects.
	InstanceClient *http.Client
	// Google is the platform's Google OAuth client (Connect Google);
	// without a ClientID the dashboard offers no connection.
	Google GoogleOAuth
	// Now is the clock.
	Now func() time.Time
}

// Server is the web app's handler.
type Server struct {
	o Options
	// controlHost is Options.ControlURL's host[:port], "" without one.
	controlHost string
	pages       map[string]*template.Template
	signinIP    *limiter
	signinTo    *limiter
	checkout    *limiter
	// streamsDone closes when the server shuts down, ending the
	// provisioning event streams (they would otherwise hold shutdown).
	streamsDone chan struct{}
	endOnce     sync.Once
}

// EndStreams ends every server-sent event stream; register it with
// http.Server.RegisterOnShutdown. Browsers reconnect elsewhere by themselves.
func (s *Server) EndStreams() { s.endOnce.Do(func() { close(s.streamsDone) }) }

// New returns the web app's handler.
func New(o Options) (*Server, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	pages, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	var controlHost string
	if o.ControlURL != "" {
		u, err := url.Parse(o.ControlURL)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("control url %q: not an absolute URL", o.ControlURL)
		}
		controlHost = u.Host
	}
	return &Server{
		o:           o,
		controlHost: controlHost,
		pages:       pages,
		signinIP:    newLimiter(12*time.Second, 5), // 5 at once, then 5 a minute per address
		signinTo:    newLimiter(5*time.Minute, 3),  // 3 links at once, then one per 5 minutes per email
		checkout:    newLimiter(6*time.Second, 10), // 10 at once, then 10 a minute per address

		streamsDone: make(chan struct{}),
	}, nil
}

// Handler returns the routes with their middleware.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", cacheStatic(http.FileServerFS(static))))
	mux.HandleFunc("GET /{$}", s.landing)
	mux.HandleFunc("GET /checkout", s.checkoutForm)
	mux.HandleFunc("POST /checkout", s.startCheckout)
	mux.HandleFunc("GET /welcome", s.welcome)
	mux.HandleFunc("GET /welcome/events", s.welcomeEvents)
	mux.HandleFunc("POST /welcome/reveal", s.reveal)
	mux.HandleFunc("GET /signin", s.signinForm)
	mux.HandleFunc("POST /signin", s.signin)
	mux.HandleFunc("GET /signin/link", s.signinLinkForm)
	mux.HandleFunc("POST /signin/link", s.signinLink)
	mux.HandleFunc("POST /signout", s.signout)
	mux.HandleFunc("GET /dashboard", s.dashboard)
	mux.HandleFunc("GET /openapi.json", serveOpenAPI)
	mux.HandleFunc("GET /app/api/account", s.account)
	mux.HandleFunc("GET /app/api/health", s.instanceHealth)
	mux.HandleFunc("/app/api/instance/{path...}", s.proxy)
	mux.HandleFunc("POST /control-ui", s.openControlUI)
	mux.HandleFunc(controlproxy.Path+"/", s.controlUIMoved)
	mux.HandleFunc(controlproxy.Path, s.controlUIMoved)
	mux.HandleFunc("POST /billing", s.billing)
	mux.HandleFunc("POST /google/connect", s.googleConnect)
	mux.HandleFunc("GET /google/callback", s.googleCallback)
	if s.o.Dev {
		mux.HandleFunc("GET /dev/mail", s.devMail)
		mux.HandleFunc("POST /dev/billing/plan-change", s.devPlanChange)
		mux.HandleFunc("POST /dev/billing/cancel", s.devCancel)
	}
	mux.HandleFunc("/", s.notFound)
	web := s.observe(mux, securityHeaders(http.MaxBytesHandler(s.refuseCrossOrigin(mux), maxBody)))
	control := s.controlHandler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.isControlHost(r) {
			control.ServeHTTP(w, r)
			return
		}
		web.ServeHTTP(w, r)
	})
}

// maxBody bounds every request body: forms and dashboard JSON are small;
// chat messages (32,000 characters) fit.
const maxBody = 256 << 10

// observe counts and times each request by its route pattern (never its
// path or query, which may carry ids) and logs it.
func (s *Server) observe(mux *http.ServeMux, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.o.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		_, route := mux.Handler(r)
		if route == "" || route == "/" {
			route = "other"
		}
		s.o.Metrics.requests.WithLabelValues(route, strconv.Itoa(rec.status)).Inc()
		if !rec.stream {
			s.o.Metrics.duration.WithLabelValues(route).Observe(s.o.Now().Sub(start).Seconds())
		}
		s.o.Log.DebugContext(r.Context(), "request", "route", route, "status", rec.status, "ms", s.o.Now().Sub(start).Milliseconds())
	})
}

// statusRecorder remembers the status written and passes Flush through
// (server-sent events and streamed chat answers).
type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
	stream bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Flush() {
	r.stream = true
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// securityHeaders: no framing, no sniffing, no referrer to other sites
// (the success URL carries the checkout session id; "same-origin" rather
// than "no-referrer", which makes browsers send "Origin: null" on this
// app's own forms), scripts and styles from this origin only.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
			"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

func cacheStatic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		next.ServeHTTP(w, r)
	})
}
