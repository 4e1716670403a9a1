// Package google connects a customer's instance to their Google account
// (Pro and Team): it keeps the OAuth tokens the web app obtained, sealed in
// the customer's database, refreshes the access token before it expires,
// revokes the grant on disconnect, and offers the Gmail and Calendar tools.
//
// The OAuth consent itself (authorization code with PKCE) runs in the web
// app, which holds the user's browser; the instance receives the tokens by
// PUT /api/google. Endpoints are settings (GOOGLE_OAUTH_BASE_URL,
// GOOGLE_API_BASE_URL) so tests talk to pkg/googletest.
package google

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/googletoken"
)

// Google's production endpoints.
const (
	gmailBaseURL    = "https://gmail.googleapis.com"
	calendarBaseURL = "https://www.googleapis.com"
)

// RefreshMargin is how long before its expiry an access token is replaced:
// a call never starts with a token that could expire on the way.
const RefreshMargin = 5 * time.Minute

// ErrNotConnected means the customer has not connected Google.
var ErrNotConnected = errors.New("google is not connected: the customer can connect it on the dashboard (Connect Google)")

// Options configure a Client.
type Options struct {
	// ClientID and ClientSecret are the platform's OAuth client
	// (GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET), needed to refresh.
	ClientID, ClientSecret string
	// OAuthBaseURL is where /token and /revoke are (GOOGLE_OAUTH_BASE_URL,
	// default googletoken.DefaultOAuthBaseURL).
	OAuthBaseURL string
	// APIBaseURL, when set (GOOGLE_API_BASE_URL), serves both Gmail and
	// Calendar (a test server); else Google's own hosts.
	APIBaseURL string
	// Secret is the instance secret the token key is derived from.
	Secret string
	// DB is the customer's database.
	DB customerdb.TxBeginner
	// HTTP is the client for Google (a 30-second timeout by default).
	HTTP *http.Client
	// Now is the clock (time.Now).
	Now func() time.Time
}

// Client is the instance's side of the Google connection.
type Client struct {
	o      Options
	sealer *googletoken.Sealer
	// mu makes concurrent calls share one refresh.
	mu sync.Mutex
}

// New returns a Client, or an error when the settings cannot work.
func New(o Options) (*Client, error) {
	if o.ClientID == "" || o.ClientSecret == "" {
		return nil, errors.New("google: GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET are not set")
	}
	s, err := googletoken.NewSealer(o.Secret)
	if err != nil {
		return nil, err
	}
	if o.OAuthBaseURL == "" {
		o.OAuthBaseURL = googletoken.DefaultOAuthBaseURL
	}
	o.OAuthBaseURL = strings.TrimRight(o.OAuthBaseURL, "/")
	o.APIBaseURL = strings.TrimRight(o.APIBaseURL, "/")
	if o.HTTP == nil {
		o.HTTP = &http.Client{Timeout: 30 * time.Second}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Client{o: o, sealer: s}, nil
}

// Tokens is what Google's token endpoint answered, as the web app forwards it.
type Tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope"`
	// TokenType is "Bearer"; accepted so Google's answer passes as it is.
	TokenType string `json:"token_type,omitempty"`
}

// Status is the connection as the customer may see it: never a token.
type Status struct {
	Connected   bool       `json:"connected"`
	Email       string     `json:"email,omitempty"`
	Scopes      []string   `json:"scopes,omitempty"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	ConnectedAt *time.Time `json:"connected_at,omitempty"`
	RefreshedAt *time.Time `json:"refreshed_at,omitempty"`
	// Broken says why a stored connection cannot be used.
	Broken string `json:"broken,omitempty"`
}

// ErrBadTokens is tokens Google does not accept.
var ErrBadTokens = errors.New("google did not accept the tokens")

// Connect checks the tokens with Google (the account's address, from
// Gmail's profile), seals and stores them, replacing a previous
// connection, whose grant is revoked.
func (c *Client) Connect(ctx context.Context, t Tokens) (Status, error) {
	if t.AccessToken == "" || t.RefreshToken == "" || t.ExpiresIn <= 0 {
		return Status{}, fmt.Errorf("%w: access_token, refresh_token and a positive expires_in are required", ErrBadTokens)
	}
	var profile struct {
		EmailAddress string `json:"emailAddress"`
	}
	if err := c.call(ctx, t.AccessToken, http.MethodGet, c.gmailURL("profile"), nil, nil, &profile); err != nil {
		return Status{}, fmt.Errorf("%w: %v", ErrBadTokens, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old, err := customerdb.GoogleAccountFor(ctx, c.o.DB)
	if err != nil && !errors.Is(err, customerdb.ErrNoGoogle) {
		return Status{}, err
	}
	acc := customerdb.GoogleAccount{
		Email: profile.EmailAddress, Scopes: strings.Fields(t.Scope),
		AccessToken:  c.sealer.Seal("access", t.AccessToken),
		RefreshToken: c.sealer.Seal("refresh", t.RefreshToken),
		ExpiresAt:    c.o.Now().Add(time.Duration(t.ExpiresIn) * time.Second),
	}
	if err := customerdb.PutGoogleAccount(ctx, c.o.DB, acc); err != nil {
		return Status{}, err
	}
	if old.RefreshToken != nil {
		if rt, err := c.sealer.Open("refresh", old.RefreshToken); err == nil && rt != t.RefreshToken {
			_ = c.revoke(ctx, rt)
		}
	}
	return c.status(ctx)
}

// Status reads the connection.
func (c *Client) Status(ctx context.Context) (Status, error) {
	return c.status(ctx)
}

func (c *Client) status(ctx context.Context) (Status, error) {
	a, err := customerdb.GoogleAccountFor(ctx, c.o.DB)
	if errors.Is(err, customerdb.ErrNoGoogle) {
		return Status{}, nil
	}
	if err != nil {
		return Status{}, err
	}
	st := Status{Connected: true, Email: a.Email, Scopes: a.Scopes, ExpiresAt: &a.ExpiresAt,
		ConnectedAt: &a.ConnectedAt, RefreshedAt: a.RefreshedAt}
	if _, err := c.sealer.Open("refresh", a.RefreshToken); err != nil {
		st.Broken = err.Error()
	}
	return st, nil
}

// Disconnect revokes the grant at Google and deletes the tokens. The
// tokens are deleted even when Google cannot be reached (revoked then
// reports false): the customer asked for them to be gone.
func (c *Client) Disconnect(ctx context.Context) (connected, revoked bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, err := customerdb.GoogleAccountFor(ctx, c.o.DB)
	if errors.Is(err, customerdb.ErrNoGoogle) {
		return false, false, nil
	}
	if err != nil {
		return false, false, err
	}
	if rt, err := c.sealer.Open("refresh", a.RefreshToken); err == nil {
		revoked = c.revoke(ctx, rt) == nil
	}
	if _, err := customerdb.DeleteGoogleAccount(ctx, c.o.DB); err != nil {
		return true, revoked, err
	}
	return true, revoked, nil
}

// revoke revokes a token's grant at Google.
func (c *Client) revoke(ctx context.Context, token string) error {
	return googletoken.Revoke(ctx, c.o.HTTP, c.o.OAuthBaseURL, token)
}

// accessToken returns an access token valid for RefreshMargin at least,
// refreshing (and storing) it first when needed.
func (c *Client) accessToken(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, err := customerdb.GoogleAccountFor(ctx, c.o.DB)
	if errors.Is(err, customerdb.ErrNoGoogle) {
		return "", ErrNotConnected
	}
	if err != nil {
		return "", err
	}
	if c.o.Now().Add(RefreshMargin).Before(a.ExpiresAt) {
		return c.sealer.Open("access", a.AccessToken)
	}
	rt, err := c.sealer.Open("refresh", a.RefreshToken)
	if err != nil {
		return "", err
	}
	t, err := c.refresh(ctx, rt)
	if err != nil {
		return "", err
	}
	err = customerdb.UpdateGoogleAccess(ctx, c.o.DB, a.RefreshToken, c.sealer.Seal("access", t.AccessToken),
		c.o.Now().Add(time.Duration(t.ExpiresIn)*time.Second))
	if err != nil {
		return "", err
	}
	return t.AccessToken, nil
}

// ErrRevoked means Google refused the refresh token: the customer revoked
// the access in their Google account, or it expired.
var ErrRevoked = errors.New("google refused the stored grant (revoked or expired): the customer needs to connect Google again")

func (c *Client) refresh(ctx context.Context, refresh string) (Tokens, error) {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh},
		"client_id": {c.o.ClientID}, "client_secret": {c.o.ClientSecret}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.o.OAuthBaseURL+"/token", strings.NewReader(form.Encode()))
	if err != nil {
		return Tokens{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := c.o.HTTP.Do(req)
	if err != nil {
		return Tokens{}, fmt.Errorf("refresh the google token: %w", err)
	}
	defer res.Body.Close()
	var t Tokens
	var e struct {
		Error string `json:"error"`
	}
	body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if res.StatusCode != http.StatusOK {
		_ = json.Unmarshal(body, &e)
		if e.Error == "invalid_grant" {
			return Tokens{}, ErrRevoked
		}
		return Tokens{}, fmt.Errorf("refresh the google token: %s %s", res.Status, e.Error)
	}
	if err := json.Unmarshal(body, &t); err != nil || t.AccessToken == "" || t.ExpiresIn <= 0 {
		return Tokens{}, errors.New("refresh the google token: unexpected answer")
	}
	return t, nil
}

func (c *Client) gmailURL(path string) string {
	base := gmailBaseURL
	if c.o.APIBaseURL != "" {
		base = c.o.APIBaseURL
	}
	return base + "/gmail/v1/users/me/" + path
}

func (c *Client) calendarURL(path string) string {
	base := calendarBaseURL
	if c.o.APIBaseURL != "" {
		base = c.o.APIBaseURL
	}
	return base + "/calendar/v3/calendars/primary/" + path
}

// api calls a Google API with the current access token.
func (c *Client) api(ctx context.Context, method, u string, q url.Values, in, out any) error {
	tok, err := c.accessToken(ctx)
	if err != nil {
		return err
	}
	return c.call(ctx, tok, method, u, q, in, out)
}

// call makes one API call; Google's error message comes back as the error.
func (c *Client) call(ctx context.Context, token, method, u string, q url.Values, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.o.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("google: %w", err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("google: read answer: %w", err)
	}
	if res.StatusCode/100 != 2 {
		var e struct {
			Error struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		_ = json.Unmarshal(b, &e)
		return fmt.Errorf("google answered %d: %s", res.StatusCode, e.Error.Message)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("google: decode answer: %w", err)
	}
	return nil
}
