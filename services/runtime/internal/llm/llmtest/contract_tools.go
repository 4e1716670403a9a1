package llmtest

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"clawdbot.cloud/services/runtime/internal/llm"
)

// contractTools is the tool-use part of the contract: tools are declared,
// the model's calls come back with their inputs (whole or streamed in
// pieces), results go back answering the calls, and tool_choice none
// reaches the wire.
func contractTools(t *testing.T, newProvider func(t *testing.T) (llm.Provider, Fake)) {
	spec := llm.ToolSpec{Name: "memory_search", Description: "Search memories.",
		Schema: json.RawMessage(`{"type":"object","properties":{"query":{"type":"string"}},"required":["query"]}`)}
	for _, stream := range []bool{false, true} {
		mode := map[bool]string{false: "whole", true: "streamed"}[stream]
		t.Run("tool round trip "+mode, func(t *testing.T) {
			p, fake := newProvider(t)
			calls := []llm.ToolCall{
				{Name: "memory_search", Input: json.RawMessage(`{"query":"birthday of Ana"}`)},
				{Name: "memory_search", Input: json.RawMessage(`{"query":"Ana's address"}`)},
			}
			fake.Enqueue(Answer{Text: "Let me look.", ToolCalls: calls, InputTokens: 10, OutputTokens: 5}, Answer{Text: "It is in May.", InputTokens: 20, OutputTokens: 6})
			var onText func(string) error
			if stream {
				onText = func(string) error { return nil }
			}
			req := llm.Request{Model: "test-model", MaxTokens: 100, Tools: []llm.ToolSpec{spec},
				Messages: []llm.Message{{Role: llm.User, Content: "When is Ana's birthday?"}}}
			r, err := p.Chat(t.Context(), req, onText)
			if err != nil {
				t.Fatalf("Chat: %v", err)
			}
			if len(r.ToolCalls) != 2 || r.Text != "Let me look." || r.InputTokens != 10 || r.OutputTokens != 5 {
				t.Fatalf("reply = %+v", r)
			}
			for i, c := range r.ToolCalls {
				if c.ID == "" || c.Name != "memory_search" || !jsonEqual(c.Input, calls[i].Input) {
					t.Errorf("call %d = %+v (input %s)", i, c, c.Input)
				}
			}
			results := []llm.ToolResult{{CallID: r.ToolCalls[0].ID, Content: "Ana: 12 May"}, {CallID: r.ToolCalls[1].ID, Content: "no such memory", IsError: true}}
			req.Messages = append(req.Messages,
				llm.Message{Role: llm.Assistant, Content: r.Text, ToolCalls: r.ToolCalls, Native: r.Native},
				llm.Message{Role: llm.User, ToolResults: results})
			req.NoTools = true
			r2, err := p.Chat(t.Context(), req, onText)
			if err != nil {
				t.Fatalf("second Chat: %v", err)
			}
			if r2.Text != "It is in May." || len(r2.ToolCalls) != 0 {
				t.Errorf("second reply = %+v", r2)
			}
			got := fake.Requests()
			if len(got) != 2 {
				t.Fatalf("server got %d requests", len(got))
			}
			if names := ToolNames(got[0]); !cmp.Equal(names, []string{"memory_search"}) || got[0].NoTools {
				t.Errorf("first request offered %v (no tools %v)", names, got[0].NoTools)
			}
			if diff := cmp.Diff(results, ToolResults(got[1])); diff != "" {
				t.Errorf("tool results sent (-want +got):\n%s", diff)
			}
			if !got[1].NoTools {
				t.Error("tool_choice none did not reach the server")
			}
		})
	}
}

func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && cmp.Equal(x, y)
}
