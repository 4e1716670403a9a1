package ui

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/pkg/stripefixture"
	"clawdbot.cloud/services/web/internal/ingressapi"
	"clawdbot.cloud/services/web/internal/store"
)

// checkoutSessionID is the shape of a Checkout Session id (as the ingress
// validates it).
var checkoutSessionID = regexp.MustCompile(`^cs_[A-Za-z0-9_]{1,252}$`)

func (s *Server) landing(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "landing", page{Title: "Your own AI assistant", Data: plans.All()})
}

// checkoutData is the checkout form's model.
type checkoutData struct {
	Plan   plans.Plan
	Stripe bool
	// Off: neither Stripe nor dev mode, so no checkout can start.
	Off    bool
	Email  string
	Name   string
	Errors []string
}

func (s *Server) checkoutForm(w http.ResponseWriter, r *http.Request) {
	p, err := plans.Lookup(r.URL.Query().Get("plan"))
	if err != nil {
		s.o.Metrics.refused.WithLabelValues("bad_input").Inc()
		s.fail(w, r, http.StatusNotFound, "There is no such plan. Pick one on the home page.")
		return
	}
	s.render(w, r, http.StatusOK, "checkout", page{Title: "Start your " + p.Name + " trial", CSRF: s.anonCSRF(w, r),
		Data: checkoutData{Plan: p, Stripe: s.o.StripeCheckout, Off: !s.o.StripeCheckout && !s.o.Dev}})
}

// clientAddr is the rate-limit key of a request: the peer address (put a
// proxy that sets it right in front of the app).
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// tooMany answers 429 with Retry-After.
func (s *Server) tooMany(w http.ResponseWriter, r *http.Request, wait time.Duration) {
	s.o.Metrics.refused.WithLabelValues("rate_limited").Inc()
	w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
	s.fail(w, r, http.StatusTooManyRequests, "Too many attempts. Wait a little and try again.")
}

// startCheckout begins a trial: the browser gets a fresh nonce in an
// HttpOnly cookie, and the checkout carries only its SHA-256, so only this
// browser can later reveal the key.
func (s *Server) startCheckout(w http.ResponseWriter, r *http.Request) {
	if !s.checkAnonCSRF(w, r) {
		return
	}
	if ok, wait := s.checkout.allow(clientAddr(r), s.o.Now()); !ok {
		s.tooMany(w, r, wait)
		return
	}
	if !s.o.StripeCheckout && !s.o.Dev {
		s.fail(w, r, http.StatusServiceUnavailable, "Checkout is not set up on this platform yet.")
		return
	}
	p, perr := plans.Lookup(r.PostFormValue("plan"))
	email := strings.TrimSpace(r.PostFormValue("email"))
	name := strings.TrimSpace(r.PostFormValue("name"))
	tz := strings.TrimSpace(r.PostFormValue("timezone"))
	var problems []string
	if perr != nil {
		s.o.Metrics.refused.WithLabelValues("bad_input").Inc()
		s.fail(w, r, http.StatusBadRequest, "There is no such plan. Pick one on the home page.")
		return
	}
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email || len(email) > 254 {
		problems = append(problems, "Enter a valid email address, like ada@example.com.")
	}
	if utf8.RuneCountInString(name) > 100 || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 }) {
		problems = append(problems, "Your name can have at most 100 characters.")
	}
	if _, err := time.LoadLocation(tz); err != nil || len(tz) > 64 {
		tz = ""
	}
	if problems != nil {
		s.o.Metrics.refused.WithLabelValues("bad_input").Inc()
		s.render(w, r, http.StatusBadRequest, "checkout", page{Title: "Start your " + p.Name + " trial", CSRF: s.anonCSRF(w, r),
			Data: checkoutData{Plan: p, Stripe: s.o.StripeCheckout, Email: email, Name: name, Errors: problems}})
		return
	}
	nonce := randomToken()
	sum := sha256.Sum256([]byte(nonce))
	revealHash := hex.EncodeToString(sum[:])
	mode := "dev"
	if s.o.StripeCheckout {
		mode = "stripe"
	}

	var csID, next string
	if s.o.StripeCheckout {
		sess, err := s.o.Ingress.Checkout(r.Context(), ingressapi.CheckoutRequest{Plan: p.ID, Email: email, Timezone: tz, RevealHash: revealHash})
		if err != nil {
			s.o.Metrics.checkouts.WithLabelValues(mode, "failed").Inc()
			s.o.Log.ErrorContext(r.Context(), "start checkout", "plan", p.ID, "err", err)
			s.fail(w, r, http.StatusBadGateway, "We could not reach our payment provider. Try again in a moment.")
			return
		}
		csID, next = sess.ID, sess.URL
	} else {
		// Dev: exactly what Stripe would send once the customer paid.
		c := stripefixture.Checkout{Email: email, Name: name, Plan: p.ID, RevealHash: revealHash}
		c.Fill()
		body := stripefixture.CheckoutCompleted(c)
		if err := s.o.Ingress.PostWebhook(r.Context(), body, stripefixture.Sign(body, s.o.WebhookSecret, s.o.Now())); err != nil {
			s.o.Metrics.checkouts.WithLabelValues(mode, "failed").Inc()
			s.o.Log.ErrorContext(r.Context(), "dev checkout webhook", "plan", p.ID, "err", err)
			s.fail(w, r, http.StatusBadGateway, "The platform did not accept the signup. Try again in a moment.")
			return
		}
		csID, next = c.SessionID, "/welcome?session_id="+c.SessionID
	}
	if err := s.o.Store.RecordCheckout(r.Context(), csID, revealHash, p.ID); err != nil {
		s.o.Log.ErrorContext(r.Context(), "record checkout", "err", err)
	}
	s.o.Metrics.checkouts.WithLabelValues(mode, "started").Inc()
	s.setCookie(w, revealCookie, nonce, "/welcome", int((24 * time.Hour).Seconds()))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// welcomeAccess decides whether this browser may follow a checkout: it
// holds the checkout's nonce, or it is signed in as the customer the
// checkout created. A checkout session id alone opens nothing.
func (s *Server) welcomeAccess(r *http.Request, csID string) (canReveal, ok bool) {
	if !checkoutSessionID.MatchString(csID) {
		return false, false
	}
	if c, err := r.Cookie(revealCookie); err == nil && c.Value != "" {
		want, err := s.o.Store.CheckoutRevealHash(r.Context(), csID)
		if err == nil {
			sum := sha256.Sum256([]byte(c.Value))
			if subtle.ConstantTimeCompare([]byte(hex.EncodeToString(sum[:])), []byte(want)) == 1 {
				return true, true
			}
		}
	}
	if ss, _, signed := s.session(r); signed {
		a, err := s.o.Store.Account(r.Context(), ss.CustomerID)
		if err == nil && a.CheckoutSessionID == csID {
			return false, true
		}
	}
	return false, false
}

// welcomeData is the success page's model.
type welcomeData struct {
	SessionID string
	CanReveal bool
}

func (s *Server) welcome(w http.ResponseWriter, r *http.Request) {
	cs := r.URL.Query().Get("session_id")
	canReveal, ok := s.welcomeAccess(r, cs)
	if !ok {
		s.o.Metrics.refused.WithLabelValues("forbidden").Inc()
		s.fail(w, r, http.StatusNotFound, "We do not know this checkout in this browser. If you paid, sign in with your email.")
		return
	}
	s.render(w, r, http.StatusOK, "welcome", page{Title: "Setting up your assistant", CSRF: s.anonCSRF(w, r),
		Data: welcomeData{SessionID: cs, CanReveal: canReveal}})
}

// revealRequest is the body of POST /welcome/reveal.
type revealRequest struct {
	SessionID string `json:"session_id"`
}

// reveal hands this browser its new key, once, and signs it in.
func (s *Server) reveal(w http.ResponseWriter, r *http.Request) {
	if !s.checkAnonCSRF(w, r) {
		return
	}
	var req revealRequest
	if !decodeJSON(w, r, &req) {
		s.o.Metrics.refused.WithLabelValues("bad_input").Inc()
		return
	}
	canReveal, ok := s.welcomeAccess(r, req.SessionID)
	if !ok || !canReveal {
		s.o.Metrics.reveals.WithLabelValues("forbidden").Inc()
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "this browser cannot reveal this key"})
		return
	}
	nonce, _ := r.Cookie(revealCookie)
	acct, err := s.o.Store.AccountByCheckout(r.Context(), req.SessionID)
	if errors.Is(err, store.ErrNotFound) {
		s.o.Metrics.reveals.WithLabelValues("not_ready").Inc()
		writeJSON(w, http.StatusConflict, map[string]string{"error": "still setting up; try again"})
		return
	}
	if err != nil {
		s.o.Log.ErrorContext(r.Context(), "account by checkout", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "try again"})
		return
	}
	got, err := s.o.Ingress.Reveal(r.Context(), req.SessionID, nonce.Value)
	if err != nil {
		status := ingressapi.StatusOf(err)
		outcome := map[int]string{http.StatusForbidden: "forbidden", http.StatusConflict: "not_ready", http.StatusGone: "already_revealed"}[status]
		if outcome == "" {
			outcome, status = "failed", http.StatusBadGateway
			s.o.Log.ErrorContext(r.Context(), "reveal key", "err", err)
		}
		s.o.Metrics.reveals.WithLabelValues(outcome).Inc()
		var ie *ingressapi.Error
		msg := "try again"
		if errors.As(err, &ie) {
			msg = ie.Message
		}
		writeJSON(w, status, map[string]string{"error": msg})
		return
	}
	if err := s.signIn(w, r, acct.CustomerID); err != nil {
		// The key is already out of the store: show it all the same.
		s.o.Log.ErrorContext(r.Context(), "sign in after reveal", "err", err)
	}
	s.clearCookie(w, revealCookie, "/welcome")
	s.o.Metrics.reveals.WithLabelValues("revealed").Inc()
	writeJSON(w, http.StatusOK, map[string]string{"api_key": got.APIKey, "instance_url": got.InstanceURL})
}
