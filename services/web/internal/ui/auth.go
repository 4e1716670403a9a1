package ui

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"clawdbot.cloud/services/web/internal/store"
)

// Cookie names. The session and reveal cookies are HttpOnly: scripts never
// see them.
const (
	sessionCookie = "claw_session"
	// revealCookie holds the nonce of the checkout this browser started;
	// its SHA-256 is the reveal_hash the ingress binds the key reveal to.
	revealCookie = "claw_reveal"
	// csrfCookie is the double-submit token of anonymous forms.
	csrfCookie = "claw_csrf"
	csrfField  = "csrf_token"
	csrfHeader = "X-CSRF-Token"
)

// randomToken returns 32 random bytes, base64url.
func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// digest is the SHA-256 of a token, the only form stored.
func digest(token string) []byte {
	s := sha256.Sum256([]byte(token))
	return s[:]
}

func (s *Server) secure() bool { return strings.HasPrefix(s.o.PublicURL, "https://") }

// hostPrefix is "__Host-" over https: browsers accept such a cookie only
// Secure, host-only and for path /, so no other host of the site (the
// Control UI's control.<host> included) can set one in its place.
func hostPrefix(https bool) string {
	if https {
		return "__Host-"
	}
	return ""
}

// sessionCookieName is the session cookie's name: sessionCookie, with
// the __Host- prefix over https.
func (s *Server) sessionCookieName() string { return hostPrefix(s.secure()) + sessionCookie }

func (s *Server) setCookie(w http.ResponseWriter, name, value, path string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: path, MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secure(),
	})
}

func (s *Server) clearCookie(w http.ResponseWriter, name, path string) {
	s.setCookie(w, name, "", path, -1)
}

// session returns the signed-in customer's session, or false.
func (s *Server) session(r *http.Request) (store.Session, []byte, bool) {
	c, err := r.Cookie(s.sessionCookieName())
	if err != nil || len(c.Value) != 43 {
		return store.Session{}, nil, false
	}
	h := digest(c.Value)
	ss, err := s.o.Store.Session(r.Context(), h, s.o.SessionIdle)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.o.Log.ErrorContext(r.Context(), "read session", "err", err)
		}
		return store.Session{}, nil, false
	}
	return ss, h, true
}

// signIn starts a session for customerID in this browser.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request, customerID string) error {
	id := randomToken()
	exp := s.o.Now().Add(s.o.SessionTTL)
	if err := s.o.Store.CreateSession(r.Context(), digest(id), customerID, randomToken(), exp); err != nil {
		return err
	}
	s.setCookie(w, s.sessionCookieName(), id, "/", int(s.o.SessionTTL.Seconds()))
	return nil
}

// anonCSRF returns the browser's double-submit token, setting the cookie
// when it has none.
func (s *Server) anonCSRF(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 43 {
		return c.Value
	}
	t := randomToken()
	s.setCookie(w, csrfCookie, t, "/", 0)
	return t
}

// sameOrigin refuses a cross-site browser request. Browsers send
// Sec-Fetch-Site (scripts cannot forge it): it must say same-origin (or none,
// a typed URL). Older ones send only Origin, which must be this app's.
// Neither header: not a browser, and the CSRF token alone decides.
func (s *Server) sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" {
		return site == "same-origin" || site == "none"
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	want, err := url.Parse(s.o.PublicURL)
	if err != nil {
		return false
	}
	return origin == want.Scheme+"://"+want.Host
}

// checkCSRF verifies a state-changing request: same origin, and the token
// (form field or header) equal to want. It writes 403 and returns false
// otherwise.
func (s *Server) checkCSRF(w http.ResponseWriter, r *http.Request, want string) bool {
	got := r.Header.Get(csrfHeader)
	if got == "" {
		got = r.PostFormValue(csrfField)
	}
	tokenOK := want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
	if originOK := s.sameOrigin(r); !tokenOK || !originOK {
		s.o.Metrics.refused.WithLabelValues("csrf").Inc()
		s.o.Log.InfoContext(r.Context(), "refused a cross-site or stale form", "token_ok", tokenOK, "origin_ok", originOK,
			"sec_fetch_site", r.Header.Get("Sec-Fetch-Site"), "origin", r.Header.Get("Origin"))
		s.fail(w, r, http.StatusForbidden, "This form has expired or came from another site. Reload the page and try again.")
		return false
	}
	return true
}

// checkAnonCSRF is checkCSRF for anonymous forms (double-submit cookie).
func (s *Server) checkAnonCSRF(w http.ResponseWriter, r *http.Request) bool {
	c, err := r.Cookie(csrfCookie)
	want := ""
	if err == nil {
		want = c.Value
	}
	return s.checkCSRF(w, r, want)
}

// requireSession returns the session of a signed-in request; otherwise it
// answers (a redirect to sign in for pages, 401 for the API) and false.
func (s *Server) requireSession(w http.ResponseWriter, r *http.Request, api bool) (store.Session, bool) {
	ss, _, ok := s.session(r)
	if ok {
		return ss, true
	}
	s.o.Metrics.refused.WithLabelValues("no_session").Inc()
	if api {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "sign in first"})
		return store.Session{}, false
	}
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
	return store.Session{}, false
}
