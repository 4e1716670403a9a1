package ui

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"clawdbot.cloud/pkg/dashtoken"
	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/pkg/stripefixture"
	"clawdbot.cloud/services/web/internal/store"
)

// dashboardData is the dashboard's model; the rest loads from the JSON API.
type dashboardData struct {
	Account      store.Account
	Plan         plans.Plan
	Plans        []plans.Plan
	StripePortal bool
	// Google offers Connect Google (Pro and Team, on a platform with a
	// Google OAuth client); GoogleResult is the outcome just returned from
	// Google's consent ("connected", "denied").
	Google       bool
	GoogleResult string
}

func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) {
	ss, ok := s.requireSession(w, r, false)
	if !ok {
		return
	}
	a, err := s.o.Store.Account(r.Context(), ss.CustomerID)
	if err != nil {
		s.o.Log.ErrorContext(r.Context(), "dashboard account", "err", err)
		s.fail(w, r, http.StatusServiceUnavailable, "Your account is not available right now. Try again in a moment.")
		return
	}
	p, _ := plans.Lookup(a.Plan)
	s.render(w, r, http.StatusOK, "dashboard", page{Title: "Your assistant", SignedIn: true, CSRF: ss.CSRF,
		Data: dashboardData{Account: a, Plan: p, Plans: plans.All(), StripePortal: s.o.StripeCheckout,
			Google: s.o.Google.ClientID != "" && googleAllowed(a), GoogleResult: googleOutcome(r.URL.Query().Get("google"))}})
}

// accountBody is GET /app/api/account.
type accountBody struct {
	Email       string   `json:"email"`
	Name        string   `json:"name"`
	Plan        string   `json:"plan"`
	PlanName    string   `json:"plan_name"`
	Skills      []string `json:"skills"`
	State       string   `json:"state"`
	Health      string   `json:"health"`
	InstanceURL string   `json:"instance_url"`
}

func (s *Server) account(w http.ResponseWriter, r *http.Request) {
	ss, ok := s.requireSession(w, r, true)
	if !ok {
		return
	}
	a, err := s.o.Store.Account(r.Context(), ss.CustomerID)
	if err != nil {
		s.o.Log.ErrorContext(r.Context(), "account", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "try again"})
		return
	}
	p, _ := plans.Lookup(a.Plan)
	writeJSON(w, http.StatusOK, accountBody{Email: a.Email, Name: a.Name, Plan: a.Plan, PlanName: p.Name, Skills: p.Skills,
		State: a.State, Health: a.Health, InstanceURL: a.InstanceURL})
}

// instanceHealth probes the instance's /health now.
func (s *Server) instanceHealth(w http.ResponseWriter, r *http.Request) {
	ss, ok := s.requireSession(w, r, true)
	if !ok {
		return
	}
	a, err := s.o.Store.Account(r.Context(), ss.CustomerID)
	if err != nil || a.InstanceURL == "" {
		writeJSON(w, http.StatusOK, map[string]any{"health": "unknown"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.InstanceURL+"/health", nil)
	start := s.o.Now()
	resp, err := s.o.InstanceClient.Do(req)
	health := "down"
	if err == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			health = "ok"
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"health": health, "latency_ms": s.o.Now().Sub(start).Milliseconds(), "state": a.State})
}

// proxyHeaders are the response headers passed back from the instance.
var proxyHeaders = []string{"Content-Type", "Content-Disposition", "Retry-After", "Cache-Control", "Content-Length"}

// proxy sends a dashboard request to the signed-in customer's own instance
// with a dashboard token minted for it (pkg/dashtoken): the browser holds
// no instance credential, and the target is the session's customer's
// instance, whatever the request says.
func (s *Server) proxy(w http.ResponseWriter, r *http.Request) {
	ss, ok := s.requireSession(w, r, true)
	if !ok {
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead && !s.checkCSRF(w, r, ss.CSRF) {
		return
	}
	path := r.PathValue("path")
	if !(path == "status" || strings.HasPrefix(path, "api/")) || strings.Contains(path, "..") || strings.ContainsAny(path, "\\%") {
		s.o.Metrics.refused.WithLabelValues("bad_input").Inc()
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found"})
		return
	}
	a, err := s.o.Store.Account(r.Context(), ss.CustomerID)
	if err != nil || a.InstanceURL == "" {
		writeJSON(w, http.StatusConflict, map[string]string{"error": "your assistant is not running yet"})
		return
	}
	secret, err := s.o.Secrets.Get(r.Context(), names.InstanceTokenRef(a.CustomerID))
	if err != nil {
		s.o.Log.ErrorContext(r.Context(), "instance token", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "your assistant cannot be reached right now"})
		return
	}
	target := strings.TrimRight(a.InstanceURL, "/") + "/" + path
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery
	}
	out, err := http.NewRequestWithContext(r.Context(), r.Method, target, r.Body)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad request"})
		return
	}
	for _, h := range []string{"Content-Type", "Accept"} {
		if v := r.Header.Get(h); v != "" {
			out.Header.Set(h, v)
		}
	}
	out.ContentLength = r.ContentLength
	out.Header.Set("Authorization", "Bearer "+dashtoken.Mint(string(secret), s.o.Now().Add(2*time.Minute)))
	resp, err := s.o.InstanceClient.Do(out)
	if err != nil {
		s.o.Metrics.proxied.WithLabelValues("error").Inc()
		if !errors.Is(r.Context().Err(), context.Canceled) {
			s.o.Log.WarnContext(r.Context(), "instance request", "path", firstSegments(path), "err", errors.Unwrap(err))
		}
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": "your assistant did not answer"})
		return
	}
	defer resp.Body.Close()
	s.o.Metrics.proxied.WithLabelValues(codeClass(resp.StatusCode)).Inc()
	for _, h := range proxyHeaders {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	rc := http.NewResponseController(w)
	buf := make([]byte, 16<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			_ = rc.Flush() // streamed chat answers reach the browser as they come
		}
		if err != nil {
			return
		}
	}
}

// firstSegments names a proxied path for logs without its ids.
func firstSegments(path string) string {
	parts := strings.SplitN(path, "/", 3)
	if len(parts) > 2 {
		parts = parts[:2]
	}
	return strings.Join(parts, "/")
}

func codeClass(code int) string {
	return string(rune('0'+code/100)) + "xx"
}

// billing opens Stripe's Billing Portal for the signed-in customer. The
// customer comes from the session: the ingress's portal endpoint trusts
// only this app (INGRESS_INTERNAL_TOKEN).
func (s *Server) billing(w http.ResponseWriter, r *http.Request) {
	ss, ok := s.requireSession(w, r, false)
	if !ok || !s.checkCSRF(w, r, ss.CSRF) {
		return
	}
	if !s.o.StripeCheckout {
		if s.o.Dev {
			http.Redirect(w, r, "/dashboard#billing", http.StatusSeeOther)
			return
		}
		s.fail(w, r, http.StatusServiceUnavailable, "Billing is not set up on this platform.")
		return
	}
	sess, err := s.o.Ingress.BillingPortal(r.Context(), ss.CustomerID)
	if err != nil {
		s.o.Log.ErrorContext(r.Context(), "billing portal", "err", err)
		s.fail(w, r, http.StatusBadGateway, "We could not open the billing portal. Try again in a moment.")
		return
	}
	http.Redirect(w, r, sess.URL, http.StatusSeeOther)
}

// devPlanChange sends a signed customer.subscription.updated for the
// signed-in customer, as Stripe would after a plan change in the portal.
func (s *Server) devPlanChange(w http.ResponseWriter, r *http.Request) {
	a, ok := s.devAccount(w, r)
	if !ok {
		return
	}
	p, err := plans.Lookup(r.PostFormValue("plan"))
	if err != nil || p.ID == a.Plan {
		s.o.Metrics.refused.WithLabelValues("bad_input").Inc()
		s.fail(w, r, http.StatusBadRequest, "Pick another plan.")
		return
	}
	body := stripefixture.SubscriptionUpdated(stripefixture.Subscription{CustomerID: a.CustomerID, SubscriptionID: a.SubscriptionID,
		Plan: p.ID, PreviousPlan: a.Plan})
	s.devWebhook(w, r, body)
}

// devCancel sends a signed customer.subscription.deleted.
func (s *Server) devCancel(w http.ResponseWriter, r *http.Request) {
	a, ok := s.devAccount(w, r)
	if !ok {
		return
	}
	s.devWebhook(w, r, stripefixture.SubscriptionDeleted(stripefixture.Subscription{CustomerID: a.CustomerID, SubscriptionID: a.SubscriptionID, Plan: a.Plan}))
}

func (s *Server) devAccount(w http.ResponseWriter, r *http.Request) (store.Account, bool) {
	ss, ok := s.requireSession(w, r, false)
	if !ok || !s.checkCSRF(w, r, ss.CSRF) {
		return store.Account{}, false
	}
	a, err := s.o.Store.Account(r.Context(), ss.CustomerID)
	if err != nil || a.SubscriptionID == "" {
		s.fail(w, r, http.StatusConflict, "This account has no subscription yet.")
		return store.Account{}, false
	}
	return a, true
}

func (s *Server) devWebhook(w http.ResponseWriter, r *http.Request, body []byte) {
	if err := s.o.Ingress.PostWebhook(r.Context(), body, stripefixture.Sign(body, s.o.WebhookSecret, s.o.Now())); err != nil {
		s.o.Log.ErrorContext(r.Context(), "dev billing webhook", "err", err)
		s.fail(w, r, http.StatusBadGateway, "The platform did not accept the change.")
		return
	}
	http.Redirect(w, r, "/dashboard", http.StatusSeeOther)
}

// googleOutcome keeps only the outcomes the dashboard knows how to say.
func googleOutcome(v string) string {
	if v == "connected" || v == "denied" {
		return v
	}
	return ""
}
