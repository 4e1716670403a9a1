package openclaw

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
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
	// TokenEnv holds the gateway token; OpenClaw reads it for token auth.
	TokenEnv = "OPENCLAW_GATEWAY_TOKEN"
	// ModelKeyEnv holds the platform's model API key.
	ModelKeyEnv = "CLAW_MODEL_API_KEY"
)

// providerID is the one model provider the gateway is given: the
// platform's own model endpoint.
const providerID = "platform"

// Model is the model endpoint the gateway's agent calls.
type Model struct {
	// API is APIAnthropic or APIOpenAI.
	API string
	// BaseURL is the endpoint (https://api.anthropic.com, or an
	// OpenAI-compatible base URL ending in /v1).
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
// documents are written: gateway (local mode, loopback, token auth with the
// token from TokenEnv, the OpenAI-compatible chat endpoint on), the agents'
// default workspace and model, and the platform's model endpoint as the
// only provider. JSON is valid JSON5.
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
			"auth": map[string]any{"mode": "token"},
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
