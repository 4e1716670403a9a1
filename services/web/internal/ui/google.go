package ui

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"clawdbot.cloud/pkg/dashtoken"
	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/web/internal/store"
)

// GoogleScopes are the minimal scopes Gmail and Calendar need: read mail,
// write drafts (and send them, gmail.compose), and calendar events.
var GoogleScopes = []string{
	"https://www.googleapis.com/auth/gmail.readonly",
	"https://www.googleapis.com/auth/gmail.compose",
	"https://www.googleapis.com/auth/calendar.events",
}

// Google's production OAuth endpoints.
const (
	googleAuthURL  = "https://accounts.google.com/o/oauth2/v2/auth"
	googleTokenURL = "https://oauth2.googleapis.com/token"
	googleRevoke   = "https://oauth2.googleapis.com/revoke"
)

// googleStateTTL bounds the consent: a state older than this is refused.
const googleStateTTL = 10 * time.Minute

// GoogleOAuth is the platform's Google OAuth client. Empty ClientID: no
// Connect Google.
type GoogleOAuth struct {
	ClientID, ClientSecret string
	// BaseURL, when set (GOOGLE_OAUTH_BASE_URL), serves the consent at
	// /o/oauth2/v2/auth and /token, /revoke (a test server); else Google's.
	BaseURL string
	// HTTP calls the token endpoint (15-second timeout by default).
	HTTP *http.Client
}

func (g GoogleOAuth) endpoints() (auth, token, revoke string) {
	if b := strings.TrimRight(g.BaseURL, "/"); b != "" {
		return b + "/o/oauth2/v2/auth", b + "/token", b + "/revoke"
	}
	return googleAuthURL, googleTokenURL, googleRevoke
}

// googleResults are the outcomes of claw_web_google_connects_total.
var googleResults = []string{"started", "connected", "denied", "bad_state", "not_allowed", "exchange_failed", "instance_failed"}

func (s *Server) googleResult(r string) { s.o.Metrics.google.WithLabelValues(r).Inc() }

// googleAllowed reports whether the account's plan has Gmail or Calendar.
func googleAllowed(a store.Account) bool {
	p, err := plans.Lookup(a.Plan)
	return err == nil && (slices.Contains(p.Skills, plans.SkillGmail) || slices.Contains(p.Skills, plans.SkillCalendar))
}

func (s *Server) redirectURI() string {
	return strings.TrimRight(s.o.PublicURL, "/") + "/google/callback"
}

// googleConnect starts the authorization code flow with PKCE (S256): a
// fresh state bound to this session (stored hashed, single use, 10
// minutes) and a fresh verifier, then off to Google's consent.
func (s *Server) googleConnect(w http.ResponseWriter, r *http.Request) {
	ss, sessionHash, ok := s.session(r)
	if !ok {
		s.o.Metrics.refused.WithLabelValues("no_session").Inc()
		http.Redirect(w, r, "/signin", http.StatusSeeOther)
		return
	}
	if !s.checkCSRF(w, r, ss.CSRF) {
		return
	}
	if s.o.Google.ClientID == "" {
		s.fail(w, r, http.StatusServiceUnavailable, "Google is not set up on this platform.")
		return
	}
	a, err := s.o.Store.Account(r.Context(), ss.CustomerID)
	if err != nil || !googleAllowed(a) {
		s.googleResult("not_allowed")
		s.fail(w, r, http.StatusForbidden, "Gmail and Calendar come with the Pro and Team plans.")
		return
	}
	if a.InstanceURL == "" {
		s.fail(w, r, http.StatusConflict, "Your assistant is not running yet. Try again when it is.")
		return
	}
	state, verifier := randomToken(), randomToken()
	if err := s.o.Store.AddGoogleState(r.Context(), digest(state), sessionHash, ss.CustomerID, verifier, s.o.Now().Add(googleStateTTL)); err != nil {
		s.o.Log.ErrorContext(r.Context(), "google state", "err", err)
		s.fail(w, r, http.StatusServiceUnavailable, "Try again in a moment.")
		return
	}
	challenge := sha256.Sum256([]byte(verifier))
	auth, _, _ := s.o.Google.endpoints()
	q := url.Values{
		"client_id": {s.o.Google.ClientID}, "redirect_uri": {s.redirectURI()}, "response_type": {"code"},
		"scope": {strings.Join(GoogleScopes, " ")}, "state": {state},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(challenge[:])}, "code_challenge_method": {"S256"},
		// A refresh token, and the consent screen again on a reconnect (Google
		// sends the refresh token only with a consent).
		"access_type": {"offline"}, "prompt": {"consent"},
	}
	s.googleResult("started")
	http.Redirect(w, r, auth+"?"+q.Encode(), http.StatusSeeOther)
}

// googleTokens is the token endpoint's answer, passed on to the instance.
type googleTokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope"`
	TokenType    string `json:"token_type,omitempty"`
}

// googleCallback takes Google's redirect: the state must be this
// session's, unused and fresh; the code is exchanged with the verifier and
// the tokens go to the customer's instance (PUT /api/google), never to
// the browser or this app's database.
func (s *Server) googleCallback(w http.ResponseWriter, r *http.Request) {
	ss, sessionHash, ok := s.session(r)
	if !ok {
		s.o.Metrics.refused.WithLabelValues("no_session").Inc()
		http.Redirect(w, r, "/signin", http.StatusSeeOther)
		return
	}
	q := r.URL.Query()
	state := q.Get("state")
	if len(state) != 43 {
		s.googleResult("bad_state")
		s.fail(w, r, http.StatusBadRequest, "This Google sign-in link is not valid. Start again from the dashboard.")
		return
	}
	customerID, verifier, err := s.o.Store.TakeGoogleState(r.Context(), digest(state), sessionHash, s.o.Now())
	if err != nil || customerID != ss.CustomerID {
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			s.o.Log.ErrorContext(r.Context(), "google state", "err", err)
		}
		s.googleResult("bad_state")
		s.fail(w, r, http.StatusBadRequest, "This Google sign-in expired or was already used. Start again from the dashboard.")
		return
	}
	if q.Get("error") != "" || q.Get("code") == "" {
		s.googleResult("denied")
		http.Redirect(w, r, "/dashboard?google=denied#google", http.StatusSeeOther)
		return
	}
	tok, err := s.exchangeGoogle(r.Context(), q.Get("code"), verifier)
	if err != nil {
		s.o.Log.WarnContext(r.Context(), "google code exchange", "err", err)
		s.googleResult("exchange_failed")
		s.fail(w, r, http.StatusBadGateway, "Google did not complete the connection. Try again.")
		return
	}
	if err := s.putInstanceGoogle(r.Context(), ss.CustomerID, tok); err != nil {
		s.o.Log.WarnContext(r.Context(), "google tokens to instance", "err", err)
		// Nothing holds the grant now: give it back.
		s.revokeGoogle(context.WithoutCancel(r.Context()), tok.RefreshToken)
		s.googleResult("instance_failed")
		s.fail(w, r, http.StatusBadGateway, "Your assistant did not take the connection. Try again in a moment.")
		return
	}
	s.googleResult("connected")
	http.Redirect(w, r, "/dashboard?google=connected#google", http.StatusSeeOther)
}

func (s *Server) googleHTTP() *http.Client {
	if s.o.Google.HTTP != nil {
		return s.o.Google.HTTP
	}
	return &http.Client{Timeout: 15 * time.Second}
}

// exchangeGoogle trades the code for tokens with the PKCE verifier.
func (s *Server) exchangeGoogle(ctx context.Context, code, verifier string) (googleTokens, error) {
	_, tokenURL, _ := s.o.Google.endpoints()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {s.redirectURI()},
		"client_id": {s.o.Google.ClientID}, "client_secret": {s.o.Google.ClientSecret}, "code_verifier": {verifier}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return googleTokens{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.googleHTTP().Do(req)
	if err != nil {
		return googleTokens{}, fmt.Errorf("token endpoint: %w", errors.Unwrap(err))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(body, &e)
		return googleTokens{}, fmt.Errorf("token endpoint: %s %s", resp.Status, e.Error)
	}
	var t googleTokens
	if err := json.Unmarshal(body, &t); err != nil || t.AccessToken == "" || t.RefreshToken == "" {
		return googleTokens{}, errors.New("token endpoint: no access and refresh token in the answer")
	}
	return t, nil
}

// revokeGoogle revokes a grant, best effort (logged).
func (s *Server) revokeGoogle(ctx context.Context, token string) {
	_, _, revokeURL := s.o.Google.endpoints()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, revokeURL, strings.NewReader(url.Values{"token": {token}}.Encode()))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.googleHTTP().Do(req)
	if err != nil {
		s.o.Log.WarnContext(ctx, "google revoke", "err", errors.Unwrap(err))
		return
	}
	resp.Body.Close()
}

// putInstanceGoogle hands the tokens to the customer's instance, signed
// with a dashboard token like the proxy's requests.
func (s *Server) putInstanceGoogle(ctx context.Context, customerID string, t googleTokens) error {
	a, err := s.o.Store.Account(ctx, customerID)
	if err != nil || a.InstanceURL == "" {
		return errors.New("no running instance")
	}
	secret, err := s.o.Secrets.Get(ctx, names.InstanceTokenRef(customerID))
	if err != nil {
		return fmt.Errorf("instance token: %w", err)
	}
	body, _ := json.Marshal(t)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, strings.TrimRight(a.InstanceURL, "/")+"/api/google", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+dashtoken.Mint(string(secret), s.o.Now().Add(2*time.Minute)))
	resp, err := s.o.InstanceClient.Do(req)
	if err != nil {
		return fmt.Errorf("instance: %w", errors.Unwrap(err))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("instance answered %s", resp.Status)
	}
	return nil
}
