package runtime

import (
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/runtime/internal/browser"
	"clawdbot.cloud/services/runtime/internal/config"
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
// The browser (plans with the browser skill) starts on its first use; the
// returned func stops it.
func newTools(cfg config.Config, plan plans.Plan, pool *pgxpool.Pool, provider llm.Provider, opts Options, log *slog.Logger) (*tools.Box, func()) {
	box := &tools.Box{DB: pool, Log: log}
	stop := func() {}
	if plan.Allows(plans.SkillBrowser) {
		b := browser.New(browser.Options{IdleTimeout: opts.BrowserIdle, Allow: opts.FetchAllow, Log: log})
		box.Browser, stop = b, b.Close
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
	return box, stop
}
