package runtime_test

import (
	"net/http"
	"strings"
	"testing"

	"clawdbot.cloud/pkg/apikey"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/runtime"
	"clawdbot.cloud/services/runtime/internal/llm/anthropictest"
	"clawdbot.cloud/services/runtime/internal/llm/openaitest"
)

const (
	dashboard     = "https://app.clawdbot.test"
	instanceToken = "it_0123456789abcdef0123456789abcdef0123"
)

func TestCORSOnlyForTheDashboard(t *testing.T) {
	in := startInstance(t, "cus_CORS", plans.Starter, withConfig(func(c *runtime.Config) { c.DashboardOrigin = dashboard }))
	key := in.addKey(t)
	for _, tc := range []struct {
		name, origin string
		status       int
		allowed      bool
	}{
		{"dashboard", dashboard, http.StatusNoContent, true},
		{"other origin", "https://evil.test", http.StatusForbidden, false},
		{"dashboard over http", "http://app.clawdbot.test", http.StatusForbidden, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, _ := in.do(t, http.MethodOptions, "/api/memory", "", nil,
				"Origin", tc.origin, "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "authorization, content-type")
			if resp.StatusCode != tc.status {
				t.Fatalf("preflight = %d, want %d", resp.StatusCode, tc.status)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); (got == tc.origin) != tc.allowed {
				t.Errorf("preflight Allow-Origin = %q", got)
			}
			if tc.allowed && !strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
				t.Errorf("preflight Allow-Headers = %q", resp.Header.Get("Access-Control-Allow-Headers"))
			}
			resp, _ = in.do(t, http.MethodGet, "/api/memory", key, nil, "Origin", tc.origin)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET = %d", resp.StatusCode)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); (got != "") != tc.allowed {
				t.Errorf("GET Allow-Origin = %q", got)
			}
			if !strings.Contains(resp.Header.Get("Vary"), "Origin") {
				t.Error("no Vary: Origin")
			}
		})
	}
	// Without a configured origin nobody is allowed.
	plain := startInstance(t, "cus_NOCORS", plans.Starter)
	resp, _ := plain.do(t, http.MethodOptions, "/api/chat", "", nil, "Origin", dashboard, "Access-Control-Request-Method", "POST")
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight without a dashboard origin = %d %v", resp.StatusCode, resp.Header)
	}
}

func TestRateLimitPerKey(t *testing.T) {
	in := startInstance(t, "cus_RATE", plans.Starter, withOptions(runtime.Options{RatePerSecond: 0.01, RateBurst: 3}))
	a, b := in.addKey(t), in.addKey(t)
	for range 3 {
		in.call(t, http.MethodGet, "/api/memory", a, nil, http.StatusOK, nil)
	}
	resp, raw := in.do(t, http.MethodGet, "/api/memory", a, nil)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "100" {
		t.Fatalf("4th request = %d %s Retry-After %q", resp.StatusCode, raw, resp.Header.Get("Retry-After"))
	}
	// Another key has its own budget; bad keys are refused before counting.
	in.call(t, http.MethodGet, "/api/memory", b, nil, http.StatusOK, nil)
	unknown, _ := apikey.Generate()
	in.call(t, http.MethodGet, "/api/memory", unknown, nil, http.StatusUnauthorized, nil)
}

func TestInstanceTokenOpensStatusOnly(t *testing.T) {
	in := startInstance(t, "cus_TOKEN", plans.Team, withConfig(func(c *runtime.Config) { c.InstanceToken = instanceToken }))
	var st statusBody
	if resp := in.get(t, "/status", instanceToken, &st); resp.StatusCode != http.StatusOK || st.Plan != "team" || st.Quota.MonthlyMessages != 100_000 {
		t.Fatalf("GET /status with the instance token = %d %+v", resp.StatusCode, st)
	}
	for _, path := range []string{"/api/memory", "/api/conversations", "/api/skills", "/api/workspace/export"} {
		in.call(t, http.MethodGet, path, instanceToken, nil, http.StatusUnauthorized, nil)
	}
	in.call(t, http.MethodGet, "/status", instanceToken[:len(instanceToken)-1]+"x", nil, http.StatusUnauthorized, nil)
	if strings.Contains(in.logs.String(), instanceToken) {
		t.Error("logs contain the instance token")
	}
}

func TestUnknownRoutesAndMethods(t *testing.T) {
	in := startInstance(t, "cus_ROUTES", plans.Starter)
	key := in.addKey(t)
	for _, tc := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{http.MethodGet, "/api/nope", http.StatusNotFound, ""},
		{http.MethodDelete, "/status", http.StatusMethodNotAllowed, "GET, HEAD"},
		{http.MethodGet, "/api/chat", http.StatusMethodNotAllowed, "POST"},
		{http.MethodPost, "/api/memory/search", http.StatusMethodNotAllowed, "GET, DELETE, HEAD"}, // DELETE: /api/memory/{id}
		{http.MethodPut, "/api/memory", http.StatusMethodNotAllowed, "GET, POST, HEAD"},
		{http.MethodPost, "/api/memory/12", http.StatusMethodNotAllowed, "DELETE"},
		{http.MethodGet, "/api/skills/gmail", http.StatusMethodNotAllowed, "PUT, PATCH"},
	} {
		resp, raw := in.do(t, tc.method, tc.path, key, nil)
		if resp.StatusCode != tc.status || resp.Header.Get("Allow") != tc.allow || jsonField(t, string(raw), "error") == "" {
			t.Errorf("%s %s = %d Allow %q %s, want %d %q", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Allow"), raw, tc.status, tc.allow)
		}
	}
	// Every /api route wants a key.
	for _, path := range []string{"/api/chat", "/api/memory", "/api/memory/search?q=x", "/api/conversations", "/api/skills", "/api/workspace/export"} {
		method := http.MethodGet
		if path == "/api/chat" {
			method = http.MethodPost
		}
		resp, _ := in.do(t, method, path, "", nil)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s without a key = %d", method, path, resp.StatusCode)
		}
	}
}

func TestOpenAICompatibleProvider(t *testing.T) {
	model := openaitest.New(t)
	anthropic := anthropictest.New(t) // configured too: the explicit choice wins
	in := startInstance(t, "cus_OLLAMA", plans.Starter, withOpenAI(model, "llama3.2"), withAnthropic(anthropic),
		withConfig(func(c *runtime.Config) { c.Provider = "openai" }))
	key := in.addKey(t)
	in.call(t, http.MethodPost, "/api/memory", key, map[string]any{"content": "Favourite colour is teal"}, http.StatusCreated, nil)

	var first struct {
		ConversationID string `json:"conversation_id"`
		Reply          string `json:"reply"`
		Model          string `json:"model"`
	}
	in.call(t, http.MethodPost, "/api/chat", key, chatReq{Message: "What is my favourite colour?"}, http.StatusOK, &first)
	if first.Reply != "Echo: What is my favourite colour?" || first.Model != "llama3.2" {
		t.Fatalf("reply = %+v", first)
	}
	resp, raw := in.do(t, http.MethodPost, "/api/chat", key, chatReq{Message: "and again", ConversationID: first.ConversationID, Stream: true})
	events := parseSSE(t, string(raw))
	if resp.StatusCode != http.StatusOK || events[len(events)-1].name != "done" {
		t.Fatalf("stream = %d %+v", resp.StatusCode, events)
	}
	reqs := model.Requests()
	if len(reqs) != 2 || len(anthropic.Requests()) != 0 {
		t.Fatalf("openai requests %d, anthropic %d", len(reqs), len(anthropic.Requests()))
	}
	if reqs[0].Model != "llama3.2" || !strings.Contains(reqs[0].System, "Favourite colour is teal") || !reqs[1].Stream || len(reqs[1].Messages) != 3 {
		t.Errorf("requests = %+v", reqs)
	}
	var st statusBody
	in.get(t, "/status", key, &st)
	if st.Model.Provider != "openai" || st.Model.Model != "llama3.2" || st.Usage.Messages != 2 || st.Usage.OutputTokens == 0 {
		t.Errorf("status = %+v %+v", st.Model, st.Usage)
	}
}
