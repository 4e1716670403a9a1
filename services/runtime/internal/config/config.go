// Package config defines the runtime's configuration, reads it from standard
// input (or, where there is no supervisor to write it, one environment
// variable) and validates it.
//
// Why stdin: the process compute driver starts one runtime per customer on a
// shared host. Command-line arguments are world-readable in /proc/<pid>/cmdline,
// and the configuration holds the customer's database URL with its password,
// so it is written to the child's stdin instead. On Railway there is no
// supervisor to write stdin; there the whole document is the service variable
// RUNTIME_CONFIG_JSON (the environment, /proc/<pid>/environ, is readable only
// by the process owner and root).
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"clawdbot.cloud/pkg/plans"
)

// Config is everything a runtime instance needs to know about whose it is and
// where its resources are. It is one JSON document.
type Config struct {
	// CustomerID is the platform customer id (the Stripe customer id, cus_...).
	CustomerID string `json:"customer_id"`
	// Plan is the id of the customer's plan in pkg/plans ("starter", ...).
	Plan string `json:"plan"`
	// ListenAddr is the host:port to serve HTTP on, chosen by the supervisor.
	// Port 0 picks a free port (tests).
	ListenAddr string `json:"listen_addr"`
	// DatabaseURL is the customer's own Postgres database. It is a secret.
	DatabaseURL string `json:"database_url"`
	// InstanceID identifies this instance (deployment) of the customer's
	// runtime, for logs and the supervisor.
	InstanceID string `json:"instance_id"`
	// Version is the platform release the instance runs, reported by /status.
	Version string `json:"version"`

	// The fields below are optional; a supervisor that does not know them
	// (an older compute service) starts a working instance without them.

	// Provider chooses the model provider: ProviderAnthropic,
	// ProviderOpenAI, or empty for the first one configured in Env
	// (Anthropic when ANTHROPIC_API_KEY is set, else the OpenAI-compatible
	// endpoint when OPENAI_BASE_URL is set).
	Provider string `json:"provider,omitempty"`
	// Model overrides the plan's model id. OpenAI-compatible servers need
	// it (an Ollama server knows "llama3.2", not the plan's Claude model).
	Model string `json:"model,omitempty"`
	// Engine is the engine the compute service chose for the plan
	// (plans.EngineRuntime or plans.EngineOpenClaw). Empty: RUNTIME_ENGINES,
	// else the plan's catalog engine.
	Engine string `json:"engine,omitempty"`
	// DashboardOrigin is the one browser origin (scheme://host[:port])
	// allowed to call the API cross-origin: the platform's dashboard. No
	// CORS headers are sent for any other origin, or at all when empty.
	DashboardOrigin string `json:"dashboard_origin,omitempty"`
	// InstanceToken is a secret the platform holds to read /status (usage
	// against quota) without the customer's API key and without touching
	// the customer's database. It opens /status only. Empty disables it.
	InstanceToken string `json:"instance_token,omitempty"`
	// RatePerSecond and RateBurst set the per-API-key rate limit: a burst
	// of RateBurst requests, then RatePerSecond. Zero means the default
	// (5 per second, burst 30); a negative RatePerSecond turns the limit
	// off (benchmarks).
	RatePerSecond float64 `json:"rate_per_second,omitempty"`
	RateBurst     int     `json:"rate_burst,omitempty"`
	// MaxToolSteps bounds the model calls of one chat turn (tool use);
	// zero means the default, 8.
	MaxToolSteps int `json:"max_tool_steps,omitempty"`
	// TurnTimeoutSeconds bounds a whole chat turn, tools included; zero
	// means the default, 300.
	TurnTimeoutSeconds int `json:"turn_timeout_seconds,omitempty"`
	// PublicURL is where the internet reaches this instance
	// (scheme://host[:port][/path], no query), e.g. its Railway domain.
	// When it is https the Telegram channel runs in webhook mode: Telegram
	// POSTs updates to <PublicURL>/telegram/webhook/<path id>. Empty or
	// http (a local instance) means long polling.
	PublicURL string `json:"public_url,omitempty"`

	// Env holds the model-provider settings of the process environment
	// (see EnvFrom). It is never part of the JSON document: the compute
	// service passes provider credentials as environment variables.
	Env ProviderEnv `json:"-"`
}

// WebhookMode reports whether the Telegram channel takes updates by
// webhook: the instance has a public https URL.
func (c Config) WebhookMode() bool { return strings.HasPrefix(c.PublicURL, "https://") }

// Model providers (Config.Provider).
const (
	// ProviderAnthropic is the Anthropic Messages API.
	ProviderAnthropic = "anthropic"
	// ProviderOpenAI is an OpenAI-compatible chat completions endpoint
	// (Ollama, vLLM, llama.cpp's server, ...).
	ProviderOpenAI = "openai"
)

// MinInstanceTokenLen is the shortest instance token accepted: 32
// characters, e.g. 24 random bytes in base64.
const MinInstanceTokenLen = 32

// ProviderEnv is the model-provider part of the process environment, the
// variables the compute service forwards to every runtime.
type ProviderEnv struct {
	// AnthropicAPIKey is ANTHROPIC_API_KEY. Secret.
	AnthropicAPIKey string
	// AnthropicBaseURL is ANTHROPIC_BASE_URL (a proxy; default the API).
	AnthropicBaseURL string
	// OpenAIAPIKey is OPENAI_API_KEY. Secret.
	OpenAIAPIKey string
	// OpenAIBaseURL is OPENAI_BASE_URL, the API root with its version,
	// e.g. http://127.0.0.1:11434/v1.
	OpenAIBaseURL string
	// SearchBackend is SEARCH_BACKEND: "searxng", "brave" or empty (none:
	// an OpenAI-compatible provider then offers no web_search).
	SearchBackend string
	// SearXNGURL is SEARXNG_URL, the root of a SearXNG instance with its
	// JSON format enabled.
	SearXNGURL string
	// BraveAPIKey is BRAVE_API_KEY. Secret.
	BraveAPIKey string
	// BraveBaseURL is BRAVE_BASE_URL (default the Brave Search API), for
	// a proxy or a test server.
	BraveBaseURL string
	// TelegramBaseURL is TELEGRAM_API_BASE_URL, the Bot API root (default
	// https://api.telegram.org), for a proxy or a test server.
	TelegramBaseURL string
	// GoogleClientID and GoogleClientSecret (GOOGLE_CLIENT_ID,
	// GOOGLE_CLIENT_SECRET) are the platform's Google OAuth client, which
	// refreshes and revokes the customer's Gmail and Calendar tokens. The
	// secret is secret. Without them no Google tools are offered.
	// OpenClawDir is the Node/OpenClaw install the openclaw engine runs
	// (OPENCLAW_DIR; `make openclaw` installs into deploy/openclaw).
	OpenClawDir string
	// OpenClawSandbox is "bwrap" (the default: bubblewrap from PATH), a
	// path to bubblewrap, or "off" (development only) (OPENCLAW_SANDBOX).
	OpenClawSandbox string
	// Engines overrides plans' engines, "team=openclaw[,plan=engine...]"
	// (RUNTIME_ENGINES), so the operator chooses which plans run the
	// real OpenClaw gateway.
	Engines            string
	GoogleClientID     string
	GoogleClientSecret string
	// GoogleOAuthBaseURL (GOOGLE_OAUTH_BASE_URL, default
	// https://oauth2.googleapis.com) serves /token and /revoke;
	// GoogleAPIBaseURL (GOOGLE_API_BASE_URL) replaces Gmail's and
	// Calendar's hosts. Both for a test server.
	GoogleOAuthBaseURL string
	GoogleAPIBaseURL   string
}

// EnvFrom reads the provider settings with getenv (os.Getenv).
func EnvFrom(getenv func(string) string) ProviderEnv {
	return ProviderEnv{
		AnthropicAPIKey:  strings.TrimSpace(getenv("ANTHROPIC_API_KEY")),
		AnthropicBaseURL: strings.TrimSpace(getenv("ANTHROPIC_BASE_URL")),
		OpenAIAPIKey:     strings.TrimSpace(getenv("OPENAI_API_KEY")),
		OpenAIBaseURL:    strings.TrimSpace(getenv("OPENAI_BASE_URL")),
		SearchBackend:    strings.TrimSpace(getenv("SEARCH_BACKEND")),
		SearXNGURL:       strings.TrimSpace(getenv("SEARXNG_URL")),
		BraveAPIKey:      strings.TrimSpace(getenv("BRAVE_API_KEY")),
		BraveBaseURL:     strings.TrimSpace(getenv("BRAVE_BASE_URL")),
		TelegramBaseURL:  strings.TrimSpace(getenv("TELEGRAM_API_BASE_URL")),

		OpenClawDir:     strings.TrimSpace(getenv("OPENCLAW_DIR")),
		OpenClawSandbox: strings.TrimSpace(getenv("OPENCLAW_SANDBOX")),
		Engines:         strings.TrimSpace(getenv("RUNTIME_ENGINES")),

		GoogleClientID:     strings.TrimSpace(getenv("GOOGLE_CLIENT_ID")),
		GoogleClientSecret: strings.TrimSpace(getenv("GOOGLE_CLIENT_SECRET")),
		GoogleOAuthBaseURL: strings.TrimSpace(getenv("GOOGLE_OAUTH_BASE_URL")),
		GoogleAPIBaseURL:   strings.TrimSpace(getenv("GOOGLE_API_BASE_URL")),
	}
}

// LogValue keeps the database URL (which holds a password), the instance
// token and the provider keys out of logs: secrets appear only as whether
// they are set.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("customer_id", c.CustomerID),
		slog.String("plan", c.Plan),
		slog.String("listen_addr", c.ListenAddr),
		slog.String("instance_id", c.InstanceID),
		slog.String("version", c.Version),
		slog.String("provider", c.Provider),
		slog.String("model", c.Model),
		slog.String("dashboard_origin", c.DashboardOrigin),
		slog.String("public_url", c.PublicURL),
		slog.Bool("instance_token_set", c.InstanceToken != ""),
		slog.Bool("anthropic_api_key_set", c.Env.AnthropicAPIKey != ""),
		slog.Bool("openai_base_url_set", c.Env.OpenAIBaseURL != ""),
		slog.Bool("google_client_set", c.Env.GoogleClientID != ""),
	)
}

// Validate reports every problem with c in one error (errors.Join), so a
// misconfigured instance is fixed in one round. Messages never contain the
// database URL.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if c.CustomerID == "" {
		add("customer_id is required")
	} else if !isID(c.CustomerID) {
		add("customer_id %q: want 1-255 letters, digits, '_' or '-'", c.CustomerID)
	}
	if c.Plan == "" {
		add("plan is required")
	} else if _, err := plans.Lookup(c.Plan); err != nil {
		add("plan: %w", err)
	}
	if c.ListenAddr == "" {
		add("listen_addr is required")
	} else if err := checkAddr(c.ListenAddr); err != nil {
		add("listen_addr %q: %v", c.ListenAddr, err)
	}
	if c.DatabaseURL == "" {
		add("database_url is required")
	} else if _, err := pgx.ParseConfig(c.DatabaseURL); err != nil {
		// pgx's message quotes the (redacted) URL; say less to be sure.
		add("database_url is not a valid PostgreSQL connection string")
	}
	if c.InstanceID == "" {
		add("instance_id is required")
	} else if !isID(c.InstanceID) {
		add("instance_id %q: want 1-255 letters, digits, '_' or '-'", c.InstanceID)
	}
	if strings.TrimSpace(c.Version) == "" {
		add("version is required")
	} else if len(c.Version) > 128 {
		add("version is longer than 128 bytes")
	}
	errs = append(errs, c.validateOptional()...)
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("invalid runtime config: %w", errors.Join(errs...))
}

// isID reports whether s is a short identifier safe to put in logs and names.
func isID(s string) bool {
	if len(s) == 0 || len(s) > 255 {
		return false
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-'
		if !ok {
			return false
		}
	}
	return true
}

// checkAddr accepts "host:port" and ":port" with a numeric port.
func checkAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return nil
}

// unmarshal decodes one JSON config document strictly: unknown fields are an
// error, so a typo in a field name does not silently leave it empty.
func unmarshal(dec *json.Decoder) (Config, error) {
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err != nil {
		return Config{}, err
	}
	return c, nil
}
