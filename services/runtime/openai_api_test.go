package runtime_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/openai/openai-go/v3"
	oaioption "github.com/openai/openai-go/v3/option"

	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/runtime/internal/llm"
	"clawdbot.cloud/services/runtime/internal/llm/anthropictest"
	"clawdbot.cloud/services/runtime/internal/llm/llmtest"
)

// specPath is OpenAI's published OpenAPI definition, read in place.
const specPath = "../../../shared/reference/openai/openapi.yaml"

var (
	specOnce sync.Once
	spec     *openapi3.T
	specErr  error
)

// openAISpec loads the definition once per test binary (~1 s).
func openAISpec(t *testing.T) *openapi3.T {
	t.Helper()
	specOnce.Do(func() { spec, specErr = openapi3.NewLoader().LoadFromFile(specPath) })
	if specErr != nil {
		t.Fatalf("load %s: %v", specPath, specErr)
	}
	return spec
}

// conform fails unless body (JSON) is valid against the named component
// schema of the OpenAI definition.
func conform(t *testing.T, schema string, body []byte) {
	t.Helper()
	if err := conformErr(t, schema, body); err != nil {
		t.Errorf("%s does not conform: %v\nbody: %s", schema, firstLines(err.Error(), 6), body)
	}
}

// conformErr validates body against the named schema. The definition is
// OpenAPI 3.1 but marks optional values with 3.0's `nullable`, which the
// 2020-12 validator ignores (it would refuse OpenAI's own finish_reason
// null), so the schema is checked with kin-openapi's default validator.
func conformErr(t *testing.T, schema string, body []byte) error {
	t.Helper()
	ref := openAISpec(t).Components.Schemas[schema]
	if ref == nil || ref.Value == nil {
		t.Fatalf("no schema %s in the definition", schema)
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return err
	}
	return ref.Value.VisitJSON(v, openapi3.VisitAsResponse(), openapi3.MultiErrors())
}

// TestSpecValidatorCatches: the validation above fails on answers that
// break the definition, so a passing check means something.
func TestSpecValidatorCatches(t *testing.T) {
	for schema, body := range map[string]string{
		"CreateChatCompletionResponse":       `{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"hi","refusal":null}}]}`,
		"CreateChatCompletionStreamResponse": `{"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"a"},"finish_reason":"done"}]}`,
		"ListModelsResponse":                 `{"object":"list","data":[{"id":"m","object":"model"}]}`,
		"ErrorResponse":                      `{"error":"bad key"}`,
	} {
		if conformErr(t, schema, []byte(body)) == nil {
			t.Errorf("%s accepted %s", schema, body)
		}
	}
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}

// TestOpenAIAPIConformsToSpec checks every answer of the OpenAI-compatible
// API against OpenAI's definition: a completion, each stream chunk (with
// the usage chunk), the model list and error answers. The answers come
// from a real tool-using turn, so the API answers as the assistant.
func TestOpenAIAPIConformsToSpec(t *testing.T) {
	model := anthropictest.New(t)
	in := startInstance(t, "cus_OAI", plans.Starter, withAnthropic(model))
	key := in.addKey(t)

	model.Enqueue(llmtest.Answer{ToolCalls: []llm.ToolCall{call("memory_save", `{"content":"prefers tea"}`)}, InputTokens: 50, OutputTokens: 5},
		llmtest.Answer{Text: "Noted: tea.", InputTokens: 60, OutputTokens: 6})
	resp, raw := in.do(t, http.MethodPost, "/v1/chat/completions", key, map[string]any{
		"model": "gpt-4o", "messages": []any{
			map[string]any{"role": "system", "content": "Answer briefly."},
			map[string]any{"role": "user", "content": "I like coffee."},
			map[string]any{"role": "assistant", "content": "Good to know."},
			map[string]any{"role": "user", "content": []any{map[string]any{"type": "text", "text": "Actually, I prefer tea."}}},
		}, "temperature": 0.2})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("completion = %d %s", resp.StatusCode, raw)
	}
	conform(t, "CreateChatCompletionResponse", raw)
	var c struct {
		Choices []struct {
			Message struct{ Content string } `json:"message"`
		} `json:"choices"`
		Usage struct {
			PromptTokens     int64 `json:"prompt_tokens"`
			CompletionTokens int64 `json:"completion_tokens"`
		} `json:"usage"`
	}
	_ = json.Unmarshal(raw, &c)
	if c.Choices[0].Message.Content != "Noted: tea." || c.Usage.PromptTokens != 110 || c.Usage.CompletionTokens != 11 {
		t.Errorf("completion = %s", raw)
	}
	sent := model.Requests()[0]
	if !strings.Contains(sent.System, "Answer briefly.") || len(sent.Messages) != 3 || sent.Messages[1].Content != "Good to know." {
		t.Errorf("the model got system %q… and %d messages", sent.System[:20], len(sent.Messages))
	}
	var mems struct{ Memories []struct{ Content string } }
	in.get(t, "/api/memory", key, &mems)
	if len(mems.Memories) != 1 || mems.Memories[0].Content != "prefers tea" {
		t.Errorf("memories = %+v", mems.Memories)
	}

	// Streamed, with usage.
	model.Enqueue(llmtest.Answer{Text: "A streamed answer in several pieces.", InputTokens: 9, OutputTokens: 8})
	resp, raw = in.do(t, http.MethodPost, "/v1/chat/completions", key, map[string]any{
		"model": "x", "stream": true, "stream_options": map[string]any{"include_usage": true},
		"messages": []any{map[string]any{"role": "user", "content": "stream please"}}})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream = %d %s", resp.StatusCode, raw)
	}
	var text strings.Builder
	var chunks int
	var done, usage bool
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if data == "[DONE]" {
			done = true
			continue
		}
		chunks++
		conform(t, "CreateChatCompletionStreamResponse", []byte(data))
		var ch struct {
			Choices []struct {
				Delta struct{ Content string } `json:"delta"`
			} `json:"choices"`
			Usage *struct {
				TotalTokens int64 `json:"total_tokens"`
			} `json:"usage"`
		}
		_ = json.Unmarshal([]byte(data), &ch)
		for _, c := range ch.Choices {
			text.WriteString(c.Delta.Content)
		}
		usage = usage || ch.Usage != nil && ch.Usage.TotalTokens == 17
	}
	if !done || !usage || chunks < 4 || text.String() != "A streamed answer in several pieces." {
		t.Errorf("stream: done %v usage %v chunks %d text %q", done, usage, chunks, text.String())
	}

	var list json.RawMessage
	in.get(t, "/v1/models", key, &list)
	conform(t, "ListModelsResponse", list)

	for _, tc := range []struct {
		name   string
		body   any
		status int
	}{
		{"no messages", map[string]any{"model": "x", "messages": []any{}}, http.StatusBadRequest},
		{"last message not the user's", map[string]any{"model": "x", "messages": []any{map[string]any{"role": "assistant", "content": "hi"}}}, http.StatusBadRequest},
		{"client tools", map[string]any{"model": "x", "messages": []any{map[string]any{"role": "user", "content": "hi"}}, "tools": []any{map[string]any{"type": "function"}}}, http.StatusBadRequest},
		{"image part", map[string]any{"model": "x", "messages": []any{map[string]any{"role": "user", "content": []any{map[string]any{"type": "image_url"}}}}}, http.StatusBadRequest},
		{"not json", "{", http.StatusBadRequest},
	} {
		resp, raw := in.do(t, http.MethodPost, "/v1/chat/completions", key, tc.body)
		if resp.StatusCode != tc.status {
			t.Errorf("%s = %d %s", tc.name, resp.StatusCode, raw)
			continue
		}
		conform(t, "ErrorResponse", raw)
	}
	resp, raw = in.do(t, http.MethodGet, "/v1/models", "claw_wrong", nil)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong key = %d %s", resp.StatusCode, raw)
	}
	conform(t, "ErrorResponse", raw)
	model.Enqueue(llmtest.Answer{Status: 429, RetryAfter: "3"})
	resp, raw = in.do(t, http.MethodPost, "/v1/chat/completions", key, map[string]any{"model": "x", "messages": []any{map[string]any{"role": "user", "content": "hi"}}})
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "3" {
		t.Errorf("upstream 429 = %d %s", resp.StatusCode, raw)
	}
	conform(t, "ErrorResponse", raw)
}

// TestOpenAISDK drives the API with the official openai-go client,
// unchanged but for its base URL and the instance's claw_ key.
func TestOpenAISDK(t *testing.T) {
	model := anthropictest.New(t)
	in := startInstance(t, "cus_SDK", plans.Starter, withAnthropic(model))
	key := in.addKey(t)
	client := openai.NewClient(oaioption.WithBaseURL(in.url+"/v1/"), oaioption.WithAPIKey(key), oaioption.WithMaxRetries(0))

	model.Enqueue(llmtest.Answer{Text: "Hello from the assistant.", InputTokens: 12, OutputTokens: 4})
	c, err := client.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{
		Model:    "clawdbot",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.DeveloperMessage("Be brief."), openai.UserMessage("Say hello")},
	})
	if err != nil {
		t.Fatalf("Chat.Completions.New: %v", err)
	}
	if c.Choices[0].Message.Content != "Hello from the assistant." || c.Usage.TotalTokens != 16 || c.Model != "claude-haiku-4-5" {
		t.Errorf("completion = %+v", c)
	}

	model.Enqueue(llmtest.Answer{Text: "Streaming through the SDK works fine.", InputTokens: 5, OutputTokens: 7})
	stream := client.Chat.Completions.NewStreaming(t.Context(), openai.ChatCompletionNewParams{
		Model:         "clawdbot",
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Stream something")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	if got := acc.Choices[0].Message.Content; got != "Streaming through the SDK works fine." || acc.Usage.TotalTokens != 12 {
		t.Errorf("streamed %q, usage %+v", got, acc.Usage)
	}

	page, err := client.Models.List(t.Context())
	if err != nil || len(page.Data) != 1 || page.Data[0].ID != "claude-haiku-4-5" {
		t.Errorf("models = %+v, %v", page, err)
	}

	bad := openai.NewClient(oaioption.WithBaseURL(in.url+"/v1/"), oaioption.WithAPIKey("claw_not-a-key"), oaioption.WithMaxRetries(0))
	_, err = bad.Models.List(t.Context())
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong key = %v, want 401", err)
	}
}
