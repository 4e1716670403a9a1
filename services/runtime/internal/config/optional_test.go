package config

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

const token = "tok_0123456789abcdef0123456789abcdef"

func TestOptionalFields(t *testing.T) {
	ok := validConfig()
	ok.Provider, ok.Model = ProviderOpenAI, "llama3.2:3b"
	ok.DashboardOrigin, ok.InstanceToken = "https://app.clawdbot.cloud", token
	ok.Env = ProviderEnv{AnthropicBaseURL: "http://127.0.0.1:9/", OpenAIBaseURL: "http://127.0.0.1:11434/v1"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid optional fields: %v", err)
	}
	// A document written by an older supervisor, without the new fields.
	if _, err := Decode(strings.NewReader(`{"customer_id":"cus_1","plan":"starter","listen_addr":":0","database_url":"postgres://u@h/d","instance_id":"i","version":"v"}`)); err != nil {
		t.Errorf("config without optional fields: %v", err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"unknown provider", func(c *Config) { c.Provider = "gemini" }, "provider"},
		{"model with space", func(c *Config) { c.Model = "llama 3" }, "model"},
		{"origin with path", func(c *Config) { c.DashboardOrigin = "https://app.example.com/" }, "dashboard_origin"},
		{"origin without scheme", func(c *Config) { c.DashboardOrigin = "app.example.com" }, "dashboard_origin"},
		{"origin ftp", func(c *Config) { c.DashboardOrigin = "ftp://app.example.com" }, "dashboard_origin"},
		{"short token", func(c *Config) { c.InstanceToken = "short" }, "instance_token"},
		{"token with space", func(c *Config) { c.InstanceToken = token + " x" }, "instance_token"},
		{"bad base url", func(c *Config) { c.Env.OpenAIBaseURL = "localhost:11434" }, "OPENAI_BASE_URL"},
		{"public url without scheme", func(c *Config) { c.PublicURL = "cus-1.up.railway.app" }, "public_url"},
		{"public url with query", func(c *Config) { c.PublicURL = "https://cus-1.up.railway.app/?x=1" }, "public_url"},
		{"public url with credentials", func(c *Config) { c.PublicURL = "https://u:p@cus-1.up.railway.app" }, "public_url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mutate(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want an error about %s", err, tc.want)
			}
			if strings.Contains(err.Error(), token) {
				t.Errorf("error leaks the instance token: %v", err)
			}
		})
	}
}

func TestWebhookModeNeedsHTTPS(t *testing.T) {
	for _, tc := range []struct {
		url     string
		webhook bool
	}{
		{"", false},
		{"http://127.0.0.1:8080", false},
		{"https://cus-1.up.railway.app", true},
		{"https://edge.example.com/instances/cus-1", true},
	} {
		c := validConfig()
		c.PublicURL = tc.url
		if err := c.Validate(); err != nil {
			t.Errorf("public_url %q: %v", tc.url, err)
		}
		if c.WebhookMode() != tc.webhook {
			t.Errorf("public_url %q: webhook mode %v, want %v", tc.url, c.WebhookMode(), tc.webhook)
		}
	}
}

func TestLoadReadsProviderEnv(t *testing.T) {
	env := map[string]string{
		EnvVar:               encode(t, validConfig()),
		"ANTHROPIC_API_KEY":  "sk-ant-secret",
		"ANTHROPIC_BASE_URL": "http://127.0.0.1:9",
		"OPENAI_BASE_URL":    "http://127.0.0.1:11434/v1",
		"OPENAI_API_KEY":     "sk-local",
	}
	c, err := Load(nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	want := ProviderEnv{AnthropicAPIKey: "sk-ant-secret", AnthropicBaseURL: "http://127.0.0.1:9", OpenAIAPIKey: "sk-local", OpenAIBaseURL: "http://127.0.0.1:11434/v1"}
	if c.Env != want {
		t.Errorf("Env = %+v", c.Env)
	}
	env["OPENAI_BASE_URL"] = "nope"
	if _, err := Load(nil, func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "OPENAI_BASE_URL") {
		t.Errorf("Load with a bad OPENAI_BASE_URL = %v", err)
	}
}

func TestLogValueHidesSecrets(t *testing.T) {
	c := validConfig()
	c.InstanceToken = token
	c.Env = ProviderEnv{AnthropicAPIKey: "sk-ant-secret", OpenAIAPIKey: "sk-openai-secret"}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("cfg", "config", c)
	for _, secret := range []string{token, "sk-ant-secret", "sk-openai-secret", "s3cret"} {
		if strings.Contains(buf.String(), secret) {
			t.Errorf("log line leaks %q: %s", secret, buf.String())
		}
	}
	if !strings.Contains(buf.String(), `"instance_token_set":true`) {
		t.Errorf("log line does not say the token is set: %s", buf.String())
	}
}
