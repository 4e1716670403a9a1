package googletest

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

var consentPage = template.Must(template.New("consent").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in - Google Accounts (test)</title></head>
<body><main>
<h1>Test app wants access to your Google Account</h1>
<p>{{.Email}}</p>
<ul>{{range .Scopes}}<li>{{.}}</li>{{end}}</ul>
<form method="post" action="/o/oauth2/v2/approve">
{{range $k, $v := .Fields}}<input type="hidden" name="{{$k}}" value="{{$v}}">{{end}}
<button type="submit" name="decision" value="deny">Cancel</button>
<button type="submit" name="decision" value="allow">Allow</button>
</form>
</main></body></html>`))

// authParams checks an authorization request: the client, an http(s)
// redirect, response_type=code, a state, a PKCE S256 challenge and known
// scopes. It returns the problem, or "".
func (s *Server) authParams(q url.Values) string {
	switch {
	case q.Get("client_id") != s.opts.ClientID:
		return "invalid_client: unknown client_id"
	case q.Get("response_type") != "code":
		return "unsupported_response_type: want code"
	case q.Get("state") == "":
		return "invalid_request: state is required by this server"
	case q.Get("code_challenge_method") != "S256":
		return "invalid_request: code_challenge_method must be S256"
	case len(q.Get("code_challenge")) != 43:
		return "invalid_request: code_challenge must be 43 characters of base64url"
	}
	u, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" {
		return "redirect_uri_mismatch: want an absolute http(s) URL"
	}
	scopes := strings.Fields(q.Get("scope"))
	if len(scopes) == 0 {
		return "invalid_scope: scope is required"
	}
	for _, sc := range scopes {
		if sc != ScopeGmailReadonly && sc != ScopeGmailCompose && sc != ScopeCalendarEvents && sc != "openid" && sc != "email" {
			return "invalid_scope: " + sc
		}
	}
	return ""
}

// consent is Google's consent screen: it lists the scopes and offers Allow.
func (s *Server) consent(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if msg := s.authParams(q); msg != "" {
		s.mu.Lock()
		s.refused = append(s.refused, "authorize: "+msg)
		s.mu.Unlock()
		http.Error(w, "Error 400: "+msg, http.StatusBadRequest)
		return
	}
	fields := map[string]string{}
	for _, k := range []string{"client_id", "redirect_uri", "response_type", "scope", "state", "code_challenge", "code_challenge_method"} {
		fields[k] = q.Get(k)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = consentPage.Execute(w, map[string]any{"Email": s.opts.Email, "Scopes": strings.Fields(q.Get("scope")), "Fields": fields})
}

// approve issues a code (Allow) or an access_denied error (Cancel) to the
// redirect URI, as Google does.
func (s *Server) approve(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	f := r.PostForm
	if msg := s.authParams(f); msg != "" {
		http.Error(w, "Error 400: "+msg, http.StatusBadRequest)
		return
	}
	back, _ := url.Parse(f.Get("redirect_uri"))
	q := back.Query()
	q.Set("state", f.Get("state"))
	if f.Get("decision") != "allow" {
		q.Set("error", "access_denied")
	} else {
		code := "4/0" + random()
		s.mu.Lock()
		s.codes[code] = &grant{clientID: f.Get("client_id"), redirectURI: f.Get("redirect_uri"),
			challenge: f.Get("code_challenge"), scopes: strings.Fields(f.Get("scope")), issued: time.Now()}
		s.mu.Unlock()
		q.Set("code", code)
		q.Set("scope", f.Get("scope"))
	}
	back.RawQuery = q.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

// token is the token endpoint: authorization_code (with the PKCE verifier
// and the same redirect_uri) and refresh_token grants.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		tokenError(w, 400, "invalid_request", "bad form")
		return
	}
	f := r.PostForm
	id, secret, basic := r.BasicAuth()
	if !basic {
		id, secret = f.Get("client_id"), f.Get("client_secret")
	}
	if id != s.opts.ClientID || subtle.ConstantTimeCompare([]byte(secret), []byte(s.opts.ClientSecret)) != 1 {
		tokenError(w, 401, "invalid_client", "The OAuth client was not found.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, "token:"+f.Get("grant_type"))
	var g *grant
	switch f.Get("grant_type") {
	case "authorization_code":
		g = s.codes[f.Get("code")]
		switch {
		case g == nil || g.used || time.Since(g.issued) > 10*time.Minute:
			if g != nil && g.used {
				// A code used twice revokes what it granted (RFC 6749 4.1.2).
				g.revoked = true
			}
			tokenError(w, 400, "invalid_grant", "Malformed auth code.")
			return
		case f.Get("redirect_uri") != g.redirectURI:
			tokenError(w, 400, "redirect_uri_mismatch", "Bad Request")
			return
		case !pkceOK(f.Get("code_verifier"), g.challenge):
			tokenError(w, 400, "invalid_grant", "Invalid code verifier.")
			return
		}
		g.used = true
		g.refresh = "1//0" + random()
		s.refresh[g.refresh] = g
		s.issue(w, g, true)
	case "refresh_token":
		g = s.refresh[f.Get("refresh_token")]
		if g == nil || g.revoked {
			tokenError(w, 400, "invalid_grant", "Token has been expired or revoked.")
			return
		}
		s.issue(w, g, false)
	default:
		tokenError(w, 400, "unsupported_grant_type", "Invalid grant_type: "+f.Get("grant_type"))
	}
}

// pkceOK checks an RFC 7636 verifier (43 to 128 unreserved characters)
// against its S256 challenge.
func pkceOK(verifier, challenge string) bool {
	if len(verifier) < 43 || len(verifier) > 128 {
		return false
	}
	for _, c := range verifier {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-._~", c)) {
			return false
		}
	}
	sum := sha256.Sum256([]byte(verifier))
	return subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(challenge)) == 1
}

// issue answers a new access token of g (with its refresh token on the
// code exchange). Called with s.mu held.
func (s *Server) issue(w http.ResponseWriter, g *grant, withRefresh bool) {
	at := "ya29." + random()
	s.access[at] = &token{g: g, expires: time.Now().Add(s.opts.TokenTTL)}
	out := map[string]any{
		"access_token": at, "token_type": "Bearer",
		"expires_in": int(s.opts.TokenTTL.Seconds()), "scope": strings.Join(g.scopes, " "),
	}
	if withRefresh {
		out["refresh_token"] = g.refresh
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(out)
}

// revoke is the revocation endpoint: revoking an access or refresh token
// revokes the grant, every token of it.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		tokenError(w, 400, "invalid_request", "bad form")
		return
	}
	tok := r.Form.Get("token")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, "revoke")
	var g *grant
	if t, ok := s.access[tok]; ok {
		g = t.g
	} else {
		g = s.refresh[tok]
	}
	if g == nil || g.revoked {
		tokenError(w, 400, "invalid_token", "Token expired or revoked")
		return
	}
	g.revoked = true
	s.revoked = append(s.revoked, tok)
	w.WriteHeader(http.StatusOK)
}

// Granted reports whether refresh is a live (unrevoked) refresh token.
func (s *Server) Granted(refresh string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.refresh[refresh]
	return g != nil && !g.revoked
}

// Grants returns the refresh tokens issued, live or revoked.
func (s *Server) Grants() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k := range s.refresh {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func tokenError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

func random() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
