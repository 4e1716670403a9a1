package googletest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TokenAnswer is the token endpoint's answer to a code exchange.
type TokenAnswer struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope"`
	TokenType    string `json:"token_type"`
}

// Grant runs the authorization code flow with PKCE as a client would
// (consent allowed, code exchanged) and returns the tokens, for tests that
// need a connected account without a browser.
func (s *Server) Grant(t testing.TB, scopes ...string) TokenAnswer {
	t.Helper()
	const redirect = "http://127.0.0.1/oauth/callback"
	verifier := random() + random()
	sum := sha256.Sum256([]byte(verifier))
	form := url.Values{"client_id": {s.opts.ClientID}, "redirect_uri": {redirect}, "response_type": {"code"},
		"scope": {strings.Join(scopes, " ")}, "state": {random()}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"}, "decision": {"allow"}}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.PostForm(s.URL+"/o/oauth2/v2/approve", form)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("googletest: consent gave %s %q", res.Status, res.Header.Get("Location"))
	}
	res, err = http.PostForm(s.URL+"/token", url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {redirect}, "client_id": {s.opts.ClientID}, "client_secret": {s.opts.ClientSecret}, "code_verifier": {verifier}})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out TokenAnswer
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("googletest: exchange: %s %v", res.Status, err)
	}
	return out
}
