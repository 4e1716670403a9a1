package runtime_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/runtime"
	"clawdbot.cloud/services/runtime/internal/llm"
	"clawdbot.cloud/services/runtime/internal/llm/llmtest"
	"clawdbot.cloud/services/runtime/internal/llm/openaitest"
)

// TestAgentWebTools: with an OpenAI-compatible provider the runtime runs
// web_search (a SearXNG backend) and web_fetch itself; the fetcher reads a
// local page opened by the test allowlist and refuses the metadata address.
func TestAgentWebTools(t *testing.T) {
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/search":
			_ = json.NewEncoder(w).Encode(map[string]any{"results": []any{map[string]any{"title": "Tide tables", "url": "https://tides.example/lisbon", "content": "High tide 14:02"}}})
		default:
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<html><title>Tides</title><body><p>High tide at 14:02.</p><script>x()</script></body></html>")
		}
	}))
	defer site.Close()
	model := openaitest.New(t)
	in := startInstance(t, "cus_WEB", plans.Starter, withOpenAI(model, "llama3.2"),
		withConfig(func(c *runtime.Config) { c.Env.SearchBackend, c.Env.SearXNGURL = "searxng", site.URL }),
		withOptions(runtime.Options{FetchAllow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}))
	key := in.addKey(t)
	model.Enqueue(
		llmtest.Answer{ToolCalls: []llm.ToolCall{call("web_search", `{"query":"lisbon tides"}`)}},
		llmtest.Answer{ToolCalls: []llm.ToolCall{call("web_fetch", `{"url":"`+site.URL+`/tides"}`), call("web_fetch", `{"url":"http://169.254.169.254/latest/meta-data/"}`)}},
		llmtest.Answer{Text: "High tide is at 14:02."},
	)
	in.call(t, http.MethodPost, "/api/chat", key, chatReq{Message: "When is high tide in Lisbon?"}, http.StatusOK, nil)
	reqs := model.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d model calls", len(reqs))
	}
	if names := llmtest.ToolNames(reqs[0]); !sameSet(names, []string{"memory_save", "memory_search", "memory_forget", "web_search", "web_fetch"}) {
		t.Errorf("offered %v", names)
	}
	if r := llmtest.ToolResults(reqs[1]); len(r) != 1 || !strings.Contains(r[0].Content, "Tide tables") || !strings.Contains(r[0].Content, "https://tides.example/lisbon") {
		t.Errorf("search result %+v", r)
	}
	r := llmtest.ToolResults(reqs[2])
	if len(r) != 2 {
		t.Fatalf("fetch results %+v", r)
	}
	if r[0].IsError || !strings.Contains(r[0].Content, "Title: Tides") || !strings.Contains(r[0].Content, "High tide at 14:02.") || strings.Contains(r[0].Content, "x()") {
		t.Errorf("fetched page = %+v", r[0])
	}
	if !r[1].IsError || !strings.Contains(r[1].Content, "not a public internet address") {
		t.Errorf("metadata fetch = %+v, want a refusal", r[1])
	}
}
