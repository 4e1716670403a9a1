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
	for _, v := range []struct{ name, value string }{
		{"ANTHROPIC_BASE_URL", c.Env.AnthropicBaseURL},
		{"OPENAI_BASE_URL", c.Env.OpenAIBaseURL},
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
