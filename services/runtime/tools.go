package runtime

import (
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"clawdbot.cloud/services/runtime/internal/browser"
	"clawdbot.cloud/services/runtime/internal/config"
	"clawdbot.cloud/services/runtime/internal/google"
	"clawdbot.cloud/services/runtime/internal/llm"
	"clawdbot.cloud/services/runtime/internal/llm/anthropic"
	"clawdbot.cloud/services/runtime/internal/tools"
	"clawdbot.cloud/services/runtime/internal/webfetch"
	"clawdbot.cloud/services/runtime/internal/websearch"
)

// newTools wires the tools of chat turns: memory always; web search and
// fetch run by Anthropic itself, or, for other providers, the runtime's
// own fetcher and the search backend the environment names (none: no
// web_search tool).
//
// The browser is wired whatever the plan (a plan change may grant it
// without a restart; Box.For offers it only with the skill) when Chromium
// is installed, and starts on its first use; the returned func stops it.
func newTools(cfg config.Config, pool *pgxpool.Pool, provider llm.Provider, opts Options, log *slog.Logger) (*tools.Box, func()) {
	box := &tools.Box{DB: pool}
	b := browser.New(browser.Options{IdleTimeout: opts.BrowserIdle, Allow: opts.FetchAllow, Log: log})
	if b.Available() {
		box.Browser = b
	} else {
		log.Info("no Chromium found (CHROMIUM_PATH, chromium on PATH): the browser tools are not offered")
	}
	if provider != nil && provider.Name() == anthropic.Name {
		box.ServerWeb = true
	} else {
		box.Fetch = webfetch.New(webfetch.Options{Allow: opts.FetchAllow})
	}
	switch cfg.Env.SearchBackend {
	case "searxng":
		box.Search = &websearch.SearXNG{BaseURL: cfg.Env.SearXNGURL}
	case "brave":
		box.Search = &websearch.Brave{APIKey: cfg.Env.BraveAPIKey, URL: cfg.Env.BraveBaseURL}
	}
	return box, b.Close
}

// newGoogle is the Google connection (Gmail and Calendar) when the platform
// has a Google OAuth client and the instance a secret to seal tokens with;
// nil otherwise (the /api/google routes then answer 503 and the tools are
// not offered).
func newGoogle(cfg config.Config, pool *pgxpool.Pool, opts Options, log *slog.Logger) *google.Client {
	if cfg.Env.GoogleClientID == "" {
		return nil
	}
	g, err := google.New(google.Options{
		ClientID: cfg.Env.GoogleClientID, ClientSecret: cfg.Env.GoogleClientSecret,
		OAuthBaseURL: cfg.Env.GoogleOAuthBaseURL, APIBaseURL: cfg.Env.GoogleAPIBaseURL,
		Secret: cfg.InstanceToken, DB: pool, Now: opts.Now,
	})
	if err != nil {
		log.Warn("Gmail and Calendar are not offered", "reason", err.Error())
		return nil
	}
	return g
}
