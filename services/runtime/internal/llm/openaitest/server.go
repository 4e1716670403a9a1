// Package openaitest is a test server that speaks the OpenAI-compatible
// chat completions wire format as Ollama, vLLM and llama.cpp's server do:
// POST /v1/chat/completions answered with a completion, or streamed as
// "data: {chunk}" server-sent events ending in "data: [DONE]" (with a usage
// chunk when stream_options.include_usage is set), or with error answers in
// OpenAI's {"error":{...}} shape. It records every request.
package openaitest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"clawdbot.cloud/services/runtime/internal/llm"
	"clawdbot.cloud/services/runtime/internal/llm/llmtest"
)

// APIKey is the Bearer token the server accepts.
const APIKey = "sk-local-test"

// Server is a running fake endpoint.
type Server struct {
	llmtest.Script
	// URL is the base URL to give the client (OPENAI_BASE_URL), with /v1.
	URL string
}

// New starts a server, closed when the test ends.
func New(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	tb.Cleanup(srv.Close)
	s.URL = srv.URL + "/v1"
	return s
}

type toolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type request struct {
	Model    string `json:"model"`
	Messages []struct {
		Role       string     `json:"role"`
		Content    *content   `json:"content"`
		ToolCalls  []toolCall `json:"tool_calls"`
		ToolCallID string     `json:"tool_call_id"`
	} `json:"messages"`
	Tools []struct {
		Type     string `json:"type"`
		Function struct {
			Name        string          `json:"name"`
			Description string          `json:"description"`
			Parameters  json.RawMessage `json:"parameters"`
		} `json:"function"`
	} `json:"tools"`
	ToolChoice json.RawMessage `json:"tool_choice"`
	MaxTokens  int64           `json:"max_tokens"`
	// MaxCompletionTokens is the current name of max_tokens (OpenClaw's
	// gateway sends it).
	MaxCompletionTokens int64 `json:"max_completion_tokens"`
	Stream              bool  `json:"stream"`
	StreamOptions       *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
		writeError(w, http.StatusNotFound, "not_found", "no route "+r.URL.Path, "")
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+APIKey {
		writeError(w, http.StatusUnauthorized, "invalid_api_key", "bad key", "")
		return
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	var body request
	if err := dec.Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", err.Error(), "")
		return
	}
	req := llmtest.Request{Stream: body.Stream, Header: r.Header.Clone()}
	req.Model, req.MaxTokens = body.Model, body.MaxTokens
	if body.MaxCompletionTokens != 0 {
		req.MaxTokens = body.MaxCompletionTokens
	}
	if body.Model == "" || len(body.Messages) == 0 {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "model and messages are required", "")
		return
	}
	if err := decodeMessages(&req, body); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", err.Error(), "")
		return
	}
	a := s.Next(req)
	switch {
	case a.Hang:
		<-r.Context().Done()
	case a.Status != 0:
		typ := a.ErrorType
		if typ == "" {
			typ = "server_error"
		}
		writeError(w, a.Status, typ, "scripted failure", a.RetryAfter)
	case body.Stream:
		stream(r.Context(), w, req, a, body.StreamOptions != nil && body.StreamOptions.IncludeUsage)
	default:
		w.Header().Set("Content-Type", "application/json")
		msg := map[string]any{"role": "assistant", "content": a.Text}
		finish := "stop"
		if len(a.ToolCalls) > 0 {
			msg["tool_calls"], finish = calls(a.ToolCalls), "tool_calls"
			if a.Text == "" {
				msg["content"] = nil
			}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id": "chatcmpl-test", "object": "chat.completion", "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "finish_reason": finish, "message": msg}},
			"usage":   usage(a),
		})
	}
}

// decodeMessages checks and records messages and tools: a tool message
// must answer a tool call of the assistant message before it, and every
// call must be answered before the next user or assistant message.
func decodeMessages(req *llmtest.Request, body request) error {
	for i, t := range body.Tools {
		var schema struct {
			Type string `json:"type"`
		}
		if t.Type != "function" || t.Function.Name == "" || json.Unmarshal(t.Function.Parameters, &schema) != nil || schema.Type != "object" {
			return fmt.Errorf("tools[%d]: a function with a name and object parameters is required", i)
		}
		req.Tools = append(req.Tools, llm.ToolSpec{Name: t.Function.Name, Description: t.Function.Description, Schema: t.Function.Parameters})
	}
	if len(body.ToolChoice) > 0 {
		req.NoTools = string(body.ToolChoice) == `"none"`
	}
	var open []string // calls of the last assistant message not yet answered
	for i, m := range body.Messages {
		content := ""
		if m.Content != nil {
			content = string(*m.Content)
		}
		if m.Role != "tool" && len(open) > 0 {
			return fmt.Errorf("messages[%d]: tool_calls %v must be followed by tool messages responding to each", i, open)
		}
		switch {
		case m.Role == "system" && i == 0:
			req.System = content
		case m.Role == "user" || m.Role == "assistant":
			msg := llm.Message{Role: llm.Role(m.Role), Content: content}
			if m.Content == nil && (m.Role == "user" || len(m.ToolCalls) == 0) {
				return fmt.Errorf("messages[%d].content: required", i)
			}
			for _, c := range m.ToolCalls {
				if m.Role != "assistant" || c.ID == "" || c.Type != "function" || !json.Valid([]byte(c.Function.Arguments)) {
					return fmt.Errorf("messages[%d].tool_calls: assistant only, function calls with an id and JSON arguments", i)
				}
				msg.ToolCalls = append(msg.ToolCalls, llm.ToolCall{ID: c.ID, Name: c.Function.Name, Input: json.RawMessage(c.Function.Arguments)})
				open = append(open, c.ID)
			}
			req.Messages = append(req.Messages, msg)
		case m.Role == "tool":
			j := slices.Index(open, m.ToolCallID)
			if j < 0 {
				return fmt.Errorf("messages[%d]: tool message does not respond to a preceding tool_call (%q)", i, m.ToolCallID)
			}
			open = slices.Delete(open, j, j+1)
			last := &req.Messages[len(req.Messages)-1]
			if last.Role != llm.User || len(last.ToolResults) == 0 {
				req.Messages = append(req.Messages, llm.Message{Role: llm.User})
				last = &req.Messages[len(req.Messages)-1]
			}
			last.ToolResults = append(last.ToolResults, llm.ToolResult{CallID: m.ToolCallID, Content: strings.TrimPrefix(content, "error: "),
				IsError: strings.HasPrefix(content, "error: ")})
		default:
			return fmt.Errorf("messages[%d]: unexpected role %q", i, m.Role)
		}
	}
	if len(open) > 0 {
		return fmt.Errorf("tool_calls %v must be followed by tool messages", open)
	}
	return nil
}

func usage(a llmtest.Answer) map[string]any {
	return map[string]any{"prompt_tokens": a.InputTokens, "completion_tokens": a.OutputTokens,
		"total_tokens": a.InputTokens + a.OutputTokens}
}

func stream(ctx context.Context, w http.ResponseWriter, req llmtest.Request, a llmtest.Answer, withUsage bool) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	chunk := func(v any) {
		b, _ := json.Marshal(v)
		fmt.Fprintf(w, "data: %s\n\n", b)
		_ = rc.Flush()
	}
	delta := func(content string, finish any) map[string]any {
		return map[string]any{"id": "chatcmpl-test", "object": "chat.completion.chunk", "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "delta": map[string]any{"content": content}, "finish_reason": finish}}}
	}
	for i, piece := range llmtest.Chunks(a.Text, 8) {
		if i > 0 && !llmtest.Pause(ctx, a.ChunkDelay) {
			return
		}
		chunk(delta(piece, nil))
		if i == 0 && a.StreamError != "" {
			chunk(map[string]any{"error": map[string]any{"message": "scripted stream failure", "type": a.StreamError}})
			return
		}
		if i == 0 && a.CutStream {
			return
		}
	}
	finish := "stop"
	for i, c := range a.ToolCalls {
		finish = "tool_calls"
		pieces := llmtest.Chunks(string(c.Input), 6)
		for j, piece := range pieces {
			call := map[string]any{"index": i, "function": map[string]any{"arguments": piece}}
			if j == 0 {
				call["id"], call["type"] = c.ID, "function"
				call["function"].(map[string]any)["name"] = c.Name
			}
			chunk(map[string]any{"id": "chatcmpl-test", "object": "chat.completion.chunk", "model": req.Model,
				"choices": []any{map[string]any{"index": 0, "delta": map[string]any{"tool_calls": []any{call}}, "finish_reason": nil}}})
		}
	}
	chunk(delta("", finish))
	if withUsage {
		chunk(map[string]any{"id": "chatcmpl-test", "object": "chat.completion.chunk", "model": req.Model,
			"choices": []any{}, "usage": usage(a)})
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
	_ = rc.Flush()
}

// calls are tool calls as a completion's message carries them.
func calls(cs []llm.ToolCall) []any {
	var out []any
	for _, c := range cs {
		out = append(out, map[string]any{"id": c.ID, "type": "function",
			"function": map[string]any{"name": c.Name, "arguments": string(c.Input)}})
	}
	return out
}

func writeError(w http.ResponseWriter, status int, typ, msg, retryAfter string) {
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": typ}})
}

// content is a message's content: a string, or (as the API also accepts)
// an array of text parts, [{"type":"text","text":"..."}], joined.
type content string

func (c *content) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*c = content(s)
		return nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&parts); err != nil {
		return fmt.Errorf("content must be a string or an array of text parts: %w", err)
	}
	var buf strings.Builder
	for i, p := range parts {
		if p.Type != "text" {
			return fmt.Errorf("content[%d]: unsupported part type %q", i, p.Type)
		}
		buf.WriteString(p.Text)
	}
	*c = content(buf.String())
	return nil
}
