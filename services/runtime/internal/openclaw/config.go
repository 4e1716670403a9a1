package openclaw

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"clawdbot.cloud/pkg/controlproxy"
)

// Model APIs OpenClaw speaks to a provider (models.providers.<id>.api).
const (
	// APIAnthropic is the Anthropic Messages API.
	APIAnthropic = "anthropic-messages"
	// APIOpenAI is an OpenAI-compatible chat completions endpoint.
	APIOpenAI = "openai-completions"
)

// Environment variables the rendered config refers to (OpenClaw substitutes
// ${VAR} in its config), so no secret is ever written to the state
// directory.
const (
	// TokenEnv holds the gateway token: the shared secret the runtime's own
	// calls (chat) authenticate with. In trusted-proxy mode OpenClaw calls
	// it the gateway password and accepts it only from loopback callers
	// without forwarded headers (its "local direct" fallback); a token
	// proper (OPENCLAW_GATEWAY_TOKEN) is refused beside trusted-proxy auth.
	TokenEnv = "OPENCLAW_GATEWAY_PASSWORD"
	// ProxyUserEnv holds the identity the front door vouches for on the
	// Control UI's requests: random per start, the one entry of
	// allowUsers, so a process that can reach the loopback port (another
	// customer's agent shares the network) cannot pose as the proxy
	// without it.
	ProxyUserEnv = "CLAW_PROXY_USER"
	// ModelKeyEnv holds the key of the gateway's model endpoint: the
	// runtime's metering model proxy (package modelproxy), whose key is a
	// secret made per runtime start. The platform's own model key is never
	// given to the gateway.
	ModelKeyEnv = "CLAW_MODEL_PROXY_KEY"
)

// The Control UI behind the front door (controlui.go).
const (
	// ControlPath is where the gateway serves its Control UI
	// (gateway.controlUi.basePath) and where the front door and the web
	// app proxy it, so no path is rewritten on the way.
	ControlPath = controlproxy.Path
	// proxyUserHeader carries the front door's identity to the gateway
	// (gateway.auth.trustedProxy.userHeader).
	proxyUserHeader = "X-Claw-Proxy-User"
	// controlOrigin is the browser origin the front door presents to the
	// gateway (gateway.controlUi.allowedOrigins): the web app checks the
	// browser's real Origin exactly before it forwards anything, and the
	// gateway, which cannot know the web app's address, checks this one.
	controlOrigin = "https://control-ui.claw.invalid"
)

// deviceScopes are what a Control UI device of the customer is approved
// for on its first connection through the proxy: OpenClaw's default
// non-admin set. Admin (config, the host terminal) stays out of reach:
// the gateway's environment holds its secrets (the gateway password, the
// proxy identity, the model proxy's key).
var deviceScopes = []string{"operator.read", "operator.write", "operator.approvals", "operator.questions"}

// providerID is the one model provider the gateway is given: the
// runtime's metering model proxy in front of the platform's endpoint.
const providerID = "platform"

// Model is the model endpoint the gateway's agent calls: the runtime's
// metering model proxy, on loopback.
type Model struct {
	// API is APIAnthropic or APIOpenAI.
	API string
	// BaseURL is the endpoint (the API's root, http://127.0.0.1:<port>, for
	// APIAnthropic; a base URL ending in /v1 for APIOpenAI).
	BaseURL string
	// ID is the model id ("claude-sonnet-4-5").
	ID string
	// HasKey says whether the endpoint takes a key (from ModelKeyEnv).
	HasKey bool
}

// Settings are what a gateway's openclaw.json is rendered from.
type Settings struct {
	// Port is the loopback port the gateway listens on.
	Port int
	// Workspace is the agent's workspace directory (absolute).
	Workspace string
	// Model is the model endpoint.
	Model Model
}

// Render returns the gateway's openclaw.json for s. OpenClaw's config is
// strict (an unknown key stops the gateway), so only keys its reference
// documents are written: gateway (local mode, loopback, trusted-proxy auth
// for the Control UI behind the front door and the password from TokenEnv
// for the runtime's own calls, the Control UI under ControlPath, no host
// terminal, the OpenAI-compatible chat endpoint on), the agents' default
// workspace and model, and the platform's model endpoint as the only
// provider. JSON is valid JSON5.
func Render(s Settings) ([]byte, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	provider := map[string]any{
		"baseUrl": s.Model.BaseURL,
		"api":     s.Model.API,
		"models": []any{map[string]any{
			"id": s.Model.ID, "name": s.Model.ID, "reasoning": false, "input": []string{"text"},
			"contextWindow": 200000, "maxTokens": 8192,
		}},
	}
	if s.Model.HasKey {
		provider["apiKey"] = "${" + ModelKeyEnv + "}"
	}
	doc := map[string]any{
		"gateway": map[string]any{
			"mode": "local",
			"port": s.Port,
			"bind": "loopback",
			// Only the front door, on loopback, is a trusted proxy; it
			// proves itself with the identity from ProxyUserEnv, and the
			// customer's Control UI devices are approved by it.
			"trustedProxies": []string{"127.0.0.1"},
			"auth": map[string]any{
				"mode": "trusted-proxy",
				"trustedProxy": map[string]any{
					"userHeader":        strings.ToLower(proxyUserHeader),
					"allowUsers":        []string{"${" + ProxyUserEnv + "}"},
					"allowLoopback":     true,
					"deviceAutoApprove": map[string]any{"enabled": true, "scopes": deviceScopes},
				},
			},
			"controlUi": map[string]any{"basePath": ControlPath, "allowedOrigins": []string{controlOrigin}},
			// The terminal runs a shell with the gateway's environment.
			"terminal": map[string]any{"enabled": false},
			"http": map[string]any{"endpoints": map[string]any{
				"chatCompletions": map[string]any{"enabled": true},
			}},
		},
		"agents": map[string]any{"defaults": map[string]any{
			"workspace": s.Workspace,
			"model":     map[string]any{"primary": providerID + "/" + s.Model.ID},
		}},
		"models": map[string]any{
			// Only the platform's endpoint: no provider the customer's
			// agent could switch to behind the platform's metering.
			"mode":      "replace",
			"providers": map[string]any{providerID: provider},
		},
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("render openclaw.json: %w", err)
	}
	return append(b, '\n'), nil
}

func (s Settings) validate() error {
	var errs []error
	if s.Port <= 0 || s.Port > 65535 {
		errs = append(errs, fmt.Errorf("port %d out of range", s.Port))
	}
	if !filepath.IsAbs(s.Workspace) {
		errs = append(errs, fmt.Errorf("workspace %q: want an absolute path", s.Workspace))
	}
	if s.Model.API != APIAnthropic && s.Model.API != APIOpenAI {
		errs = append(errs, fmt.Errorf("model api %q: want %q or %q", s.Model.API, APIAnthropic, APIOpenAI))
	}
	if u, err := url.Parse(s.Model.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, errors.New("model base URL: want an http(s) URL"))
	}
	if s.Model.ID == "" {
		errs = append(errs, errors.New("model id is required"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("openclaw settings: %w", errors.Join(errs...))
	}
	return nil
}
