package ui

import (
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"strings"

	"clawdbot.cloud/services/web/internal/store"
)

func (s *Server) signinForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "signin", page{Title: "Sign in", CSRF: s.anonCSRF(w, r)})
}

// signin mails a one-time link to the address if it belongs to a customer.
// The answer is the same either way, so the form does not tell who is a
// customer. Rate-limited per client address and per address asked for.
func (s *Server) signin(w http.ResponseWriter, r *http.Request) {
	if !s.checkAnonCSRF(w, r) {
		return
	}
	now := s.o.Now()
	if ok, wait := s.signinIP.allow(clientAddr(r), now); !ok {
		s.o.Metrics.signins.WithLabelValues("rate_limited").Inc()
		s.tooMany(w, r, wait)
		return
	}
	email := strings.TrimSpace(r.PostFormValue("email"))
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email || len(email) > 254 {
		s.o.Metrics.refused.WithLabelValues("bad_input").Inc()
		s.render(w, r, http.StatusBadRequest, "signin", page{Title: "Sign in", CSRF: s.anonCSRF(w, r),
			Data: "Enter a valid email address, like ada@example.com."})
		return
	}
	if ok, wait := s.signinTo.allow(strings.ToLower(email), now); !ok {
		s.o.Metrics.signins.WithLabelValues("rate_limited").Inc()
		s.tooMany(w, r, wait)
		return
	}
	acct, err := s.o.Store.AccountByEmail(r.Context(), email)
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.o.Metrics.signins.WithLabelValues("unknown_email").Inc()
	case err != nil:
		s.o.Log.ErrorContext(r.Context(), "account by email", "err", err)
		s.fail(w, r, http.StatusServiceUnavailable, "Something went wrong on our side. Try again in a moment.")
		return
	default:
		token := randomToken()
		if err := s.o.Store.CreateLoginToken(r.Context(), digest(token), acct.CustomerID, now.Add(s.o.LinkTTL)); err != nil {
			s.o.Log.ErrorContext(r.Context(), "create sign-in link", "err", err)
			s.fail(w, r, http.StatusServiceUnavailable, "Something went wrong on our side. Try again in a moment.")
			return
		}
		link := strings.TrimRight(s.o.PublicURL, "/") + "/signin/link?token=" + url.QueryEscape(token)
		body := fmt.Sprintf("Hello%s,\n\nSign in to your Clawdbot dashboard with this link:\n\n%s\n\n"+
			"It works once and expires in %d minutes. If you did not ask for it, ignore this mail.\n",
			greetingName(acct.Name), link, int(s.o.LinkTTL.Minutes()))
		if err := s.o.Mailer.Send(r.Context(), acct.Email, "Your Clawdbot sign-in link", body); err != nil {
			s.o.Metrics.signins.WithLabelValues("mail_failed").Inc()
			s.o.Log.ErrorContext(r.Context(), "send sign-in link", "err", err)
			s.fail(w, r, http.StatusServiceUnavailable, "We could not send the mail. Try again in a moment.")
			return
		}
		s.o.Metrics.signins.WithLabelValues("link_sent").Inc()
	}
	s.render(w, r, http.StatusOK, "signin_sent", page{Title: "Check your mail", Data: email})
}

func greetingName(name string) string {
	if name == "" {
		return ""
	}
	first, _, _ := strings.Cut(name, " ")
	return " " + first
}

// signinLinkForm shows a button rather than signing in on GET: mail
// scanners and link previews fetch links, and must not use them up.
func (s *Server) signinLinkForm(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	ok := false
	if len(token) == 43 {
		var err error
		if ok, err = s.o.Store.LoginTokenValid(r.Context(), digest(token)); err != nil {
			s.o.Log.ErrorContext(r.Context(), "check sign-in link", "err", err)
		}
	}
	if !ok {
		s.o.Metrics.signins.WithLabelValues("bad_link").Inc()
		s.render(w, r, http.StatusGone, "message", page{Title: "Link expired",
			Data: "This sign-in link has expired or was already used. Ask for a new one."})
		return
	}
	s.render(w, r, http.StatusOK, "signin_link", page{Title: "Sign in", CSRF: s.anonCSRF(w, r), Data: token})
}

// signinLink uses a sign-in link: once, within its lifetime.
func (s *Server) signinLink(w http.ResponseWriter, r *http.Request) {
	if !s.checkAnonCSRF(w, r) {
		return
	}
	token := r.PostFormValue("token")
	customer := ""
	err := store.ErrNotFound
	if len(token) == 43 {
		customer, err = s.o.Store.UseLoginToken(r.Context(), digest(token))
	}
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.o.Log.ErrorContext(r.Context(), "use sign-in link", "err", err)
		}
		s.o.Metrics.signins.WithLabelValues("bad_link").Inc()
		s.render(w, r, http.StatusGone, "message", page{Title: "Link expired",
			Data: "This sign-in link has expired or was already used. Ask for a new one."})
		return
	}
	// A new session id on every sign-in (no fixation): drop any old one.
	if _, h, ok := s.session(r); ok {
		_ = s.o.Store.DeleteSession(r.Context(), h)
	}
	if err := s.signIn(w, r, customer); err != nil {
		s.o.Log.ErrorContext(r.Context(), "sign in", "err", err)
		s.fail(w, r, http.StatusServiceUnavailable, "Something went wrong on our side. Try again in a moment.")
		return
	}
	s.o.Metrics.signins.WithLabelValues("signed_in").Inc()
	http.Redirect(w, r, "/dashboard", http.StatusSeeOther)
}

func (s *Server) signout(w http.ResponseWriter, r *http.Request) {
	ss, h, ok := s.session(r)
	if !ok {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	if !s.checkCSRF(w, r, ss.CSRF) {
		return
	}
	if err := s.o.Store.DeleteSession(r.Context(), h); err != nil {
		s.o.Log.ErrorContext(r.Context(), "sign out", "err", err)
	}
	s.clearCookie(w, s.sessionCookieName(), "/")
	s.o.Metrics.signins.WithLabelValues("signed_out").Inc()
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// devMail shows the mail kept instead of sent (dev mode only: the route
// does not exist otherwise).
func (s *Server) devMail(w http.ResponseWriter, r *http.Request) {
	mails, err := s.o.Store.KeptMails(r.Context(), 50)
	if err != nil {
		s.o.Log.ErrorContext(r.Context(), "kept mail", "err", err)
		s.fail(w, r, http.StatusServiceUnavailable, "Cannot read the dev mailbox.")
		return
	}
	s.render(w, r, http.StatusOK, "devmail", page{Title: "Dev mailbox", Data: mails})
}
