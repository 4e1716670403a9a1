package config

import (
	"fmt"
	"net/url"
	"strings"
	"unicode"
)

// validateOptional checks the optional fields and the provider environment.
// Messages name fields, never secret values.
func (c Config) validateOptional() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	switch c.Provider {
	case "", ProviderAnthropic, ProviderOpenAI:
	default:
		add("provider %q: want %q, %q or empty", c.Provider, ProviderAnthropic, ProviderOpenAI)
	}
	if c.Model != "" && (len(c.Model) > 200 || strings.ContainsFunc(c.Model, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	})) {
		add("model %q: want at most 200 characters without spaces", c.Model)
	}
	if c.DashboardOrigin != "" {
		if err := checkOrigin(c.DashboardOrigin); err != nil {
			add("dashboard_origin %q: %v", c.DashboardOrigin, err)
		}
	}
	if c.PublicURL != "" {
		if err := checkPublicURL(c.PublicURL); err != nil {
			add("public_url %q: %v", c.PublicURL, err)
		}
	}
	if t := c.InstanceToken; t != "" {
		ok := len(t) >= MinInstanceTokenLen && len(t) <= 512 && !strings.ContainsFunc(t, func(r rune) bool {
			return r <= ' ' || r > '~'
		})
		if !ok {
			add("instance_token: want %d to 512 printable ASCII characters without spaces", MinInstanceTokenLen)
		}
	}
	if c.RateBurst < 0 {
		add("rate_burst %d: want 0 (the default) or more", c.RateBurst)
	}
	if c.MaxToolSteps < 0 || c.MaxToolSteps > 50 {
		add("max_tool_steps %d: want 0 (the default, 8) to 50", c.MaxToolSteps)
	}
	if c.TurnTimeoutSeconds < 0 || c.TurnTimeoutSeconds > 1800 {
		add("turn_timeout_seconds %d: want 0 (the default, 300) to 1800", c.TurnTimeoutSeconds)
	}
	switch c.Env.SearchBackend {
	case "":
	case "searxng":
		if c.Env.SearXNGURL == "" {
			add("SEARCH_BACKEND=searxng needs SEARXNG_URL")
		}
	case "brave":
		if c.Env.BraveAPIKey == "" {
			add("SEARCH_BACKEND=brave needs BRAVE_API_KEY")
		}
	default:
		add("SEARCH_BACKEND %q: want searxng, brave or empty", c.Env.SearchBackend)
	}
	if (c.Env.GoogleClientID == "") != (c.Env.GoogleClientSecret == "") {
		add("GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET go together")
	}
	for _, v := range []struct{ name, value string }{
		{"ANTHROPIC_BASE_URL", c.Env.AnthropicBaseURL},
		{"OPENAI_BASE_URL", c.Env.OpenAIBaseURL},
		{"SEARXNG_URL", c.Env.SearXNGURL},
		{"BRAVE_BASE_URL", c.Env.BraveBaseURL},
		{"GOOGLE_OAUTH_BASE_URL", c.Env.GoogleOAuthBaseURL},
		{"GOOGLE_API_BASE_URL", c.Env.GoogleAPIBaseURL},
	} {
		if v.value == "" {
			continue
		}
		u, err := url.Parse(v.value)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			// Not quoted: a URL may carry credentials.
			add("%s is not an http(s) URL", v.name)
		}
	}
	return errs
}

// checkOrigin accepts a browser origin: http or https, a host, and nothing
// after it.
func checkOrigin(origin string) error {
	u, err := url.Parse(origin)
	switch {
	case err != nil:
		return err
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("scheme must be http or https")
	case u.Host == "" || u.User != nil || u.Opaque != "":
		return fmt.Errorf("want scheme://host[:port]")
	case u.Path != "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(origin, "?") || strings.HasSuffix(origin, "#"):
		return fmt.Errorf("an origin has no path, query or fragment")
	}
	return nil
}

// checkPublicURL accepts an http(s) base URL: a host, an optional path,
// nothing else (no credentials, query or fragment).
func checkPublicURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return err
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("scheme must be https (webhooks) or http (no webhooks)")
	case u.Host == "" || u.User != nil || u.Opaque != "":
		return fmt.Errorf("want scheme://host[:port][/path]")
	case u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(raw, "?#"):
		return fmt.Errorf("a base URL has no query or fragment")
	}
	return nil
}
