package ui

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/pkg/secrets"
	"clawdbot.cloud/services/web/internal/ingressapi"
	"clawdbot.cloud/services/web/internal/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// fakeIngress answers like the ingress's provisioning and reveal API for
// the checkouts a test arranges, and records the webhooks it is sent.
type fakeIngress struct {
	mu       sync.Mutex
	signups  map[string]*signup // by checkout session id
	webhooks [][]byte
}

type signup struct {
	status, instanceURL, revealHash, key string
	revealed                             bool
}

func (f *fakeIngress) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.URL.Path == "/webhooks/stripe" {
		b, _ := io.ReadAll(r.Body)
		f.webhooks = append(f.webhooks, b)
		_, _ = io.WriteString(w, `{"received":true}`)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/v1/provisioning/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	cs, reveal := strings.CutSuffix(rest, "/reveal")
	s := f.signups[cs]
	if s == nil {
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"error":"unknown checkout session"}`)
		return
	}
	if !reveal {
		_ = json.NewEncoder(w).Encode(map[string]any{"status": s.status, "instance_url": s.instanceURL,
			"steps": []map[string]any{{"name": "database", "status": "done"}}, "api_key_available": !s.revealed})
		return
	}
	var body struct{ Nonce string }
	_ = json.NewDecoder(r.Body).Decode(&body)
	sum := sha256.Sum256([]byte(body.Nonce))
	switch {
	case hex.EncodeToString(sum[:]) != s.revealHash:
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, `{"error":"this browser cannot reveal this key"}`)
	case s.revealed:
		w.WriteHeader(http.StatusGone)
		_, _ = io.WriteString(w, `{"error":"already revealed"}`)
	default:
		s.revealed = true
		_ = json.NewEncoder(w).Encode(map[string]string{"api_key": s.key, "instance_url": s.instanceURL})
	}
}

// app is a web app under test on a real database.
type app struct {
	t   *testing.T
	url string
	// control is the Control UI's origin (http://control.localhost:<port>).
	control string
	srv     *Server
	st      *store.Store
	secrets *secrets.Store
	ingress *fakeIngress
	metrics *Metrics
	mail    *mailbox
}

type mailbox struct {
	mu   sync.Mutex
	sent []string
}

func (m *mailbox) Send(_ context.Context, to, subject, body string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, to+"\n"+body)
	return nil
}

func (m *mailbox) last() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.sent) == 0 {
		return ""
	}
	return m.sent[len(m.sent)-1]
}

func newApp(t *testing.T, dev bool, tweak func(*Options)) *app {
	t.Helper()
	pool := pgtest.NewPool(t)
	st, err := store.Open(t.Context(), pool)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := secrets.NewKey()
	raw, _ := secrets.ParseKey(key)
	sec, err := secrets.Open(t.Context(), pool, raw)
	if err != nil {
		t.Fatal(err)
	}
	ing := &fakeIngress{signups: map[string]*signup{}}
	ingSrv := httptest.NewServer(ing)
	t.Cleanup(ingSrv.Close)
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	a := &app{t: t, st: st, secrets: sec, ingress: ing, metrics: m, mail: &mailbox{}}
	ln := httptest.NewUnstartedServer(nil)
	o := Options{
		Store: st, Ingress: &ingressapi.Client{BaseURL: ingSrv.URL}, Secrets: sec, Mailer: a.mail, Metrics: m,
		Log: slog.New(slog.DiscardHandler), PublicURL: "http://" + ln.Listener.Addr().String(), Dev: dev,
		WebhookSecret: "whsec_test", SessionTTL: time.Hour, SessionIdle: 30 * time.Minute, LinkTTL: 15 * time.Minute,
		InstanceClient: &http.Client{},
	}
	if tweak != nil {
		tweak(&o)
	}
	if o.ControlURL == "" {
		o.ControlURL = DefaultControlURL(o.PublicURL)
	}
	srv, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ln.Config.Handler = checkedHandler(t, srv.Handler())
	ln.Start()
	t.Cleanup(ln.Close)
	a.url, a.control, a.srv = ln.URL, o.ControlURL, srv
	return a
}

// browser is a cookie-keeping client that does not follow redirects.
type browser struct {
	t   *testing.T
	app *app
	c   *http.Client
}

func (a *app) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: a.t, app: a, c: &http.Client{Jar: jar, Transport: localhostTransport(), CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// localhostTransport resolves *.localhost (the control origin's host in
// development) to loopback, as browsers do.
func localhostTransport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	var d net.Dialer
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if host, port, err := net.SplitHostPort(addr); err == nil && strings.HasSuffix(host, ".localhost") {
			addr = net.JoinHostPort("127.0.0.1", port)
		}
		return d.DialContext(ctx, network, addr)
	}
	return tr
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]*)">`)

// get fetches a page and returns status, body and the page's CSRF token.
func (b *browser) get(path string) (int, string, string) {
	b.t.Helper()
	resp, err := b.c.Get(b.app.url + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	tok := ""
	if m := csrfMeta.FindStringSubmatch(string(body)); m != nil {
		tok = m[1]
	}
	return resp.StatusCode, string(body), tok
}

// post sends a form the way a same-origin page does.
func (b *browser) post(path string, form url.Values, header ...string) *http.Response {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.app.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// postJSON sends JSON with the CSRF header, as the pages' scripts do.
func (b *browser) postJSON(path, csrf string, body any) (*http.Response, map[string]string) {
	b.t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, b.app.url+path, strings.NewReader(string(raw)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", csrf)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]string{}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp, out
}

func (b *browser) cookie(name string) *http.Cookie {
	u, _ := url.Parse(b.app.url + "/welcome")
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func (a *app) refused(reason string) float64 {
	return testutil.ToFloat64(a.metrics.refused.WithLabelValues(reason))
}

// newInstance serves h as a customer's instance for the test.
func newInstance(t *testing.T, h http.HandlerFunc) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
