package runtime

import (
	"cmp"
	"net/http"
	"time"

	"clawdbot.cloud/services/runtime/internal/chat"
	"clawdbot.cloud/services/runtime/internal/config"
	"clawdbot.cloud/services/runtime/internal/llm"
	"clawdbot.cloud/services/runtime/internal/llm/anthropic"
	"clawdbot.cloud/services/runtime/internal/llm/openai"
)

// Hints for a missing provider: what the platform operator must set, in the
// compute service's environment (it forwards ANTHROPIC_* and OPENAI_* to
// every runtime).
const (
	hintAnthropic = "set ANTHROPIC_API_KEY (and ANTHROPIC_BASE_URL for a proxy) in the compute service's environment"
	hintOpenAI    = "set OPENAI_BASE_URL (e.g. http://127.0.0.1:11434/v1 for Ollama) and, if the server wants one, OPENAI_API_KEY in the compute service's environment"
	hintAny       = "set ANTHROPIC_API_KEY (Anthropic) or OPENAI_BASE_URL (an OpenAI-compatible server such as Ollama) in the compute service's environment"
)

// newProvider returns the provider cfg chooses, or nil and what to set.
func newProvider(cfg config.Config) (llm.Provider, string) {
	env := cfg.Env
	anthropicOK, openaiOK := env.AnthropicAPIKey != "", env.OpenAIBaseURL != ""
	switch {
	case cfg.Provider == config.ProviderAnthropic && !anthropicOK:
		return nil, hintAnthropic
	case cfg.Provider == config.ProviderOpenAI && !openaiOK:
		return nil, hintOpenAI
	case cfg.Provider == config.ProviderAnthropic, cfg.Provider == "" && anthropicOK:
		return anthropic.New(anthropic.Config{APIKey: env.AnthropicAPIKey, BaseURL: env.AnthropicBaseURL, HTTPClient: modelClient()}), ""
	case cfg.Provider == config.ProviderOpenAI, cfg.Provider == "" && openaiOK:
		return openai.New(openai.Config{BaseURL: env.OpenAIBaseURL, APIKey: env.OpenAIAPIKey, HTTPClient: modelClient()}), ""
	default:
		return nil, hintAny
	}
}

// modelClient is the HTTP client of model calls: proxies from the
// environment (HTTPS_PROXY is forwarded), a few idle connections kept for
// the next turn, and bounded connection set-up. The call itself is bounded
// by the turn's context, since a non-streamed reply sends its headers only
// when the whole reply is written.
func modelClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 4
	t.MaxIdleConnsPerHost = 4
	t.IdleConnTimeout = 90 * time.Second
	t.TLSHandshakeTimeout = 10 * time.Second
	return &http.Client{Transport: t}
}

// withDefaults fills what o leaves unset from cfg, then from the defaults.
func (o Options) withDefaults(cfg config.Config) Options {
	if o.ModelTimeout <= 0 {
		o.ModelTimeout = modelTimeout
	}
	if o.RatePerSecond == 0 {
		o.RatePerSecond = cmp.Or(cfg.RatePerSecond, ratePerSecond)
	}
	if o.RateBurst <= 0 {
		o.RateBurst = cmp.Or(cfg.RateBurst, rateBurst)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxSteps <= 0 {
		o.MaxSteps = cmp.Or(cfg.MaxToolSteps, chat.DefaultMaxSteps)
	}
	if o.TurnTimeout <= 0 {
		o.TurnTimeout = cmp.Or(time.Duration(cfg.TurnTimeoutSeconds)*time.Second, chat.DefaultTurnTimeout)
	}
	return o
}
