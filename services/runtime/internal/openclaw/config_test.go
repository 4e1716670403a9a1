package openclaw

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRender(t *testing.T) {
	b, err := Render(Settings{Port: 41234, Workspace: "/srv/c1/openclaw/workspace",
		Model: Model{API: APIOpenAI, BaseURL: "http://127.0.0.1:9/v1", ID: "m1", HasKey: true}})
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("openclaw.json is not JSON: %v", err)
	}
	get := func(path string) any {
		var v any = doc
		for _, k := range strings.Split(path, ".") {
			m, _ := v.(map[string]any)
			v = m[k]
		}
		return v
	}
	want := map[string]any{
		"gateway.mode":                                   "local",
		"gateway.port":                                   float64(41234),
		"gateway.bind":                                   "loopback",
		"gateway.auth.mode":                              "trusted-proxy",
		"gateway.auth.trustedProxy.userHeader":           "x-claw-proxy-user",
		"gateway.auth.trustedProxy.allowLoopback":        true,
		"gateway.auth.trustedProxy.allowUsers":           []any{"${CLAW_PROXY_USER}"},
		"gateway.trustedProxies":                         []any{"127.0.0.1"},
		"gateway.controlUi.basePath":                     "/openclaw",
		"gateway.terminal.enabled":                       false,
		"gateway.http.endpoints.chatCompletions.enabled": true,
		"agents.defaults.workspace":                      "/srv/c1/openclaw/workspace",
		"agents.defaults.model.primary":                  "platform/m1",
		"models.mode":                                    "replace",
		"models.providers.platform.baseUrl":              "http://127.0.0.1:9/v1",
		"models.providers.platform.api":                  "openai-completions",
		"models.providers.platform.apiKey":               "${CLAW_MODEL_PROXY_KEY}",
	}
	for path, w := range want {
		if diff := cmp.Diff(w, get(path)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", path, diff)
		}
	}
	if get("gateway.auth.token") != nil || get("gateway.auth.password") != nil {
		t.Error("the gateway token is written into openclaw.json; it must come from the environment only")
	}
	scopes, _ := get("gateway.auth.trustedProxy.deviceAutoApprove.scopes").([]any)
	for _, s := range scopes {
		if s == "operator.admin" {
			t.Error("Control UI devices are auto-approved with operator.admin")
		}
	}
}

func TestRenderRejectsBadSettings(t *testing.T) {
	good := Settings{Port: 1, Workspace: "/w", Model: Model{API: APIAnthropic, BaseURL: "https://api.anthropic.com", ID: "m"}}
	tests := map[string]func(*Settings){
		"port":      func(s *Settings) { s.Port = 0 },
		"workspace": func(s *Settings) { s.Workspace = "rel/w" },
		"api":       func(s *Settings) { s.Model.API = "grpc" },
		"base url":  func(s *Settings) { s.Model.BaseURL = "file:///etc/passwd" },
		"model":     func(s *Settings) { s.Model.ID = "" },
	}
	if _, err := Render(good); err != nil {
		t.Fatalf("good settings: %v", err)
	}
	for name, breakIt := range tests {
		t.Run(name, func(t *testing.T) {
			s := good
			breakIt(&s)
			if _, err := Render(s); err == nil {
				t.Errorf("Render accepted bad %s", name)
			}
		})
	}
}
