// Package anthropictest is a test server that speaks the Anthropic Messages
// API wire format: POST /v1/messages with x-api-key and anthropic-version
// headers, answered with a message of content blocks and usage, or streamed
// as server-sent events (message_start, content_block_start, ping,
// content_block_delta, content_block_stop, message_delta, message_stop), or
// with the API's error answers (429 rate_limit_error with retry-after, 500
// api_error, 529 overloaded_error, an error event inside a stream).
//
// It validates requests the way the API does where the runtime could get it
// wrong (required fields, unknown fields, roles, the first message being the
// user's), and records every request so tests can assert on the prompt the
// runtime actually sent.
package anthropictest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"

	"clawdbot.cloud/services/runtime/internal/llm"
	"clawdbot.cloud/services/runtime/internal/llm/llmtest"
)

// APIKey is the key the server accepts.
const APIKey = "sk-ant-test-0123456789"

// Server is a running fake Messages API.
type Server struct {
	llmtest.Script
	// URL is the base URL to give the client (ANTHROPIC_BASE_URL).
	URL string
	ids atomic.Int64
}

// New starts a server, closed when the test ends.
func New(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	tb.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// block is a content block: text, tool_use, tool_result, or a server tool's
// blocks echoed back. A string content is also accepted.
type block struct {
	Type         string          `json:"type"`
	Text         string          `json:"text"`
	ID           string          `json:"id"`
	Name         string          `json:"name"`
	Input        json.RawMessage `json:"input"`
	ToolUseID    string          `json:"tool_use_id"`
	Content      json.RawMessage `json:"content"`
	IsError      bool            `json:"is_error"`
	Caller       json.RawMessage `json:"caller"`
	Citations    json.RawMessage `json:"citations"`
	CacheControl json.RawMessage `json:"cache_control"`
}

// content is a message content or system prompt: a string or blocks.
type content []block

func (c *content) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*c = content{{Type: "text", Text: s}}
		return nil
	}
	var blocks []block
	if err := json.Unmarshal(b, &blocks); err != nil {
		return fmt.Errorf("content must be a string or an array of blocks: %w", err)
	}
	*c = blocks
	return nil
}

// text is the text of a system prompt, which holds text blocks only.
func (c content) text() (string, error) {
	var buf bytes.Buffer
	for _, b := range c {
		if b.Type != "text" {
			return "", fmt.Errorf("unsupported content block type %q", b.Type)
		}
		buf.WriteString(b.Text)
	}
	return buf.String(), nil
}

// message decodes one message's blocks; prev is the message before it,
// whose tool_use blocks its tool_result blocks must answer.
func (c content) message(role string, prev *llm.Message) (llm.Message, error) {
	m := llm.Message{Role: llm.Role(role)}
	var buf bytes.Buffer
	for _, b := range c {
		switch b.Type {
		case "text":
			if b.Text == "" {
				return m, fmt.Errorf("text content blocks must be non-empty")
			}
			buf.WriteString(b.Text)
		case "tool_use":
			if role != "assistant" || b.ID == "" || b.Name == "" || !json.Valid(b.Input) || !bytes.HasPrefix(bytes.TrimSpace(b.Input), []byte("{")) {
				return m, fmt.Errorf("tool_use: assistant only, with id, name and an object input")
			}
			m.ToolCalls = append(m.ToolCalls, llm.ToolCall{ID: b.ID, Name: b.Name, Input: b.Input})
		case "tool_result":
			if role != "user" || prev == nil || !slices.ContainsFunc(prev.ToolCalls, func(t llm.ToolCall) bool { return t.ID == b.ToolUseID }) {
				return m, fmt.Errorf("tool_result block(s) provided when previous message does not have a matching tool_use block (%s)", b.ToolUseID)
			}
			text, err := resultText(b.Content)
			if err != nil {
				return m, err
			}
			m.ToolResults = append(m.ToolResults, llm.ToolResult{CallID: b.ToolUseID, Content: text, IsError: b.IsError})
		case "server_tool_use", "web_search_tool_result", "web_fetch_tool_result":
			if role != "assistant" {
				return m, fmt.Errorf("%s: assistant only", b.Type)
			}
		default:
			return m, fmt.Errorf("unsupported content block type %q", b.Type)
		}
	}
	if prev != nil && role == "user" && len(prev.ToolCalls) > len(m.ToolResults) {
		return m, fmt.Errorf("tool_use ids were found without tool_result blocks immediately after")
	}
	m.Content = buf.String()
	return m, nil
}

// resultText is a tool_result's content: a string or text blocks.
func resultText(raw json.RawMessage) (string, error) {
	if len(raw) == 0 {
		return "", nil
	}
	var c content
	if err := json.Unmarshal(raw, &c); err != nil {
		return "", fmt.Errorf("tool_result content: %w", err)
	}
	return c.text()
}

// tool is an entry of the request's tools: a client tool with an input
// schema, or a server tool with a versioned type.
type tool struct {
	Type             string          `json:"type"`
	Name             string          `json:"name"`
	Description      string          `json:"description"`
	InputSchema      json.RawMessage `json:"input_schema"`
	MaxUses          int64           `json:"max_uses"`
	MaxContentTokens int64           `json:"max_content_tokens"`
}

// request is the body of POST /v1/messages, as far as the API knows it.
type request struct {
	Model     string  `json:"model"`
	MaxTokens int64   `json:"max_tokens"`
	System    content `json:"system"`
	Messages  []struct {
		Role    string  `json:"role"`
		Content content `json:"content"`
	} `json:"messages"`
	Stream        bool            `json:"stream"`
	Metadata      json.RawMessage `json:"metadata"`
	Temperature   *float64        `json:"temperature"`
	TopK          *int64          `json:"top_k"`
	TopP          *float64        `json:"top_p"`
	StopSequences []string        `json:"stop_sequences"`
	Tools         []tool          `json:"tools"`
	ToolChoice    *struct {
		Type string `json:"type"`
		Name string `json:"name"`
	} `json:"tool_choice"`
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/messages" {
		writeError(w, http.StatusNotFound, "not_found_error", "no route "+r.Method+" "+r.URL.Path, "")
		return
	}
	if r.Header.Get("X-Api-Key") != APIKey {
		writeError(w, http.StatusUnauthorized, "authentication_error", "invalid x-api-key", "")
		return
	}
	if r.Header.Get("Anthropic-Version") == "" {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "anthropic-version header is required", "")
		return
	}
	req, err := decode(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", err.Error(), "")
		return
	}
	a := s.Next(req)
	switch {
	case a.Hang:
		<-r.Context().Done()
	case a.Status != 0:
		writeError(w, a.Status, errorType(a), "scripted failure", a.RetryAfter)
	case req.Stream:
		s.stream(r.Context(), w, req, a)
	default:
		s.message(w, req, a)
	}
}

// decode reads and validates a request body.
func decode(r *http.Request) (llmtest.Request, error) {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	var body request
	if err := dec.Decode(&body); err != nil {
		return llmtest.Request{}, fmt.Errorf("body: %w", err)
	}
	out := llmtest.Request{Stream: body.Stream, Header: r.Header.Clone()}
	out.Model, out.MaxTokens = body.Model, body.MaxTokens
	switch {
	case body.Model == "":
		return out, fmt.Errorf("model: field required")
	case body.MaxTokens <= 0:
		return out, fmt.Errorf("max_tokens: must be positive")
	case len(body.Messages) == 0:
		return out, fmt.Errorf("messages: at least one message is required")
	case body.Messages[0].Role != "user":
		return out, fmt.Errorf("messages: first message must use the \"user\" role")
	}
	var err error
	if out.System, err = body.System.text(); err != nil {
		return out, fmt.Errorf("system: %w", err)
	}
	if err := tools(&out, body); err != nil {
		return out, err
	}
	usesTools := false
	for i, m := range body.Messages {
		if m.Role != "user" && m.Role != "assistant" {
			return out, fmt.Errorf("messages.%d.role: unexpected role %q", i, m.Role)
		}
		var prev *llm.Message
		if i > 0 {
			prev = &out.Messages[i-1]
		}
		msg, err := m.Content.message(m.Role, prev)
		if err != nil {
			return out, fmt.Errorf("messages.%d.content: %w", i, err)
		}
		if msg.Content == "" && len(msg.ToolCalls) == 0 && len(msg.ToolResults) == 0 && len(m.Content) == 0 {
			return out, fmt.Errorf("messages.%d: content must be non-empty", i)
		}
		usesTools = usesTools || len(msg.ToolCalls) > 0
		out.Messages = append(out.Messages, msg)
	}
	if usesTools && len(out.Tools) == 0 {
		return out, fmt.Errorf("requests which include tool_use or tool_result blocks must define tools")
	}
	return out, nil
}

// tools checks and records the request's tools and tool_choice.
func tools(out *llmtest.Request, body request) error {
	seen := map[string]bool{}
	for i, t := range body.Tools {
		if t.Name == "" || seen[t.Name] {
			return fmt.Errorf("tools.%d.name: missing or not unique", i)
		}
		seen[t.Name] = true
		switch t.Type {
		case "", "custom":
			var schema struct {
				Type string `json:"type"`
			}
			if json.Unmarshal(t.InputSchema, &schema) != nil || schema.Type != "object" {
				return fmt.Errorf("tools.%d.input_schema: type must be \"object\"", i)
			}
			out.Tools = append(out.Tools, llm.ToolSpec{Name: t.Name, Description: t.Description, Schema: t.InputSchema})
		case "web_search_20250305", "web_search_20260209":
			if t.Name != "web_search" {
				return fmt.Errorf("tools.%d: %s must be named web_search", i, t.Type)
			}
			out.ServerTools = append(out.ServerTools, llm.ServerWebSearch)
		case "web_fetch_20250910", "web_fetch_20260209":
			if t.Name != "web_fetch" {
				return fmt.Errorf("tools.%d: %s must be named web_fetch", i, t.Type)
			}
			out.ServerTools = append(out.ServerTools, llm.ServerWebFetch)
		default:
			return fmt.Errorf("tools.%d.type: unknown tool type %q", i, t.Type)
		}
	}
	if body.ToolChoice != nil {
		if len(body.Tools) == 0 {
			return fmt.Errorf("tool_choice may only be specified while providing tools")
		}
		out.NoTools = body.ToolChoice.Type == "none"
	}
	return nil
}

func errorType(a llmtest.Answer) string {
	if a.ErrorType != "" {
		return a.ErrorType
	}
	switch a.Status {
	case http.StatusTooManyRequests:
		return "rate_limit_error"
	case 529:
		return "overloaded_error"
	case http.StatusBadRequest:
		return "invalid_request_error"
	case http.StatusUnauthorized:
		return "authentication_error"
	default:
		return "api_error"
	}
}

func writeError(w http.ResponseWriter, status int, typ, msg, retryAfter string) {
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Request-Id", "req_test_"+strconv.Itoa(status))
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(errorBody(typ, msg))
}

func errorBody(typ, msg string) map[string]any {
	return map[string]any{"type": "error", "error": map[string]any{"type": typ, "message": msg}}
}

func (s *Server) id() string { return fmt.Sprintf("msg_test_%06d", s.ids.Add(1)) }

// blocks are the content blocks of an answer: its text, then the server
// tools' uses and results, then the tool_use blocks it asks for.
func blocks(a llmtest.Answer) []map[string]any {
	var out []map[string]any
	if a.Text != "" {
		out = append(out, map[string]any{"type": "text", "text": a.Text})
	}
	for _, u := range a.ServerToolUses {
		out = append(out, map[string]any{"type": "server_tool_use", "id": u.ID, "name": u.Name, "input": json.RawMessage(u.Input)})
		var result any = []map[string]any{{"type": "web_search_result", "url": "https://example.com/result",
			"title": "A result", "encrypted_content": "opaque", "page_age": nil}}
		kind := u.Name + "_tool_result"
		if u.Name == "web_fetch" {
			result = map[string]any{"type": "web_fetch_result", "url": "https://example.com/page", "retrieved_at": "2026-12-04T00:00:00Z",
				"content": map[string]any{"type": "document", "source": map[string]any{"type": "text", "media_type": "text/plain", "data": "page text"}}}
		}
		if u.Failed {
			result = map[string]any{"type": kind + "_error", "error_code": "unavailable"}
		}
		out = append(out, map[string]any{"type": kind, "tool_use_id": u.ID, "content": result})
	}
	for _, c := range a.ToolCalls {
		out = append(out, map[string]any{"type": "tool_use", "id": c.ID, "name": c.Name, "input": json.RawMessage(c.Input)})
	}
	return out
}

func stopReason(a llmtest.Answer) string {
	if len(a.ToolCalls) > 0 {
		return "tool_use"
	}
	return "end_turn"
}

func usage(a llmtest.Answer, output int64) map[string]any {
	u := map[string]any{"input_tokens": a.InputTokens, "output_tokens": output}
	if n := len(a.ServerToolUses); n > 0 {
		u["server_tool_use"] = map[string]any{"web_search_requests": n, "web_fetch_requests": 0}
	}
	return u
}

// message writes a complete (non-streamed) message.
func (s *Server) message(w http.ResponseWriter, req llmtest.Request, a llmtest.Answer) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"id":            s.id(),
		"type":          "message",
		"role":          "assistant",
		"model":         req.Model,
		"content":       blocks(a),
		"stop_reason":   stopReason(a),
		"stop_sequence": nil,
		"usage":         usage(a, a.OutputTokens),
	})
}

// stream writes the message as server-sent events, in the API's order:
// text as text_delta pieces, tool inputs as input_json_delta pieces,
// server tool results whole in their content_block_start.
func (s *Server) stream(ctx context.Context, w http.ResponseWriter, req llmtest.Request, a llmtest.Answer) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	event := func(name string, data any) {
		b, _ := json.Marshal(data)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, b)
		_ = rc.Flush()
	}
	event("message_start", map[string]any{"type": "message_start", "message": map[string]any{
		"id": s.id(), "type": "message", "role": "assistant", "model": req.Model,
		"content": []any{}, "stop_reason": nil, "stop_sequence": nil,
		"usage": map[string]any{"input_tokens": a.InputTokens, "output_tokens": 1},
	}})
	event("ping", map[string]any{"type": "ping"})
	for i, b := range blocks(a) {
		switch b["type"] {
		case "text":
			event("content_block_start", map[string]any{"type": "content_block_start", "index": i,
				"content_block": map[string]any{"type": "text", "text": ""}})
			for j, piece := range llmtest.Chunks(a.Text, 8) {
				if j > 0 && !llmtest.Pause(ctx, a.ChunkDelay) {
					return
				}
				event("content_block_delta", map[string]any{"type": "content_block_delta", "index": i,
					"delta": map[string]any{"type": "text_delta", "text": piece}})
				if j == 0 && a.StreamError != "" {
					event("error", errorBody(a.StreamError, "scripted stream failure"))
					return
				}
				if j == 0 && a.CutStream {
					return
				}
			}
		case "tool_use", "server_tool_use":
			event("content_block_start", map[string]any{"type": "content_block_start", "index": i,
				"content_block": map[string]any{"type": b["type"], "id": b["id"], "name": b["name"], "input": map[string]any{}}})
			for _, piece := range llmtest.Chunks(string(b["input"].(json.RawMessage)), 5) {
				event("content_block_delta", map[string]any{"type": "content_block_delta", "index": i,
					"delta": map[string]any{"type": "input_json_delta", "partial_json": piece}})
			}
		default:
			event("content_block_start", map[string]any{"type": "content_block_start", "index": i, "content_block": b})
		}
		event("content_block_stop", map[string]any{"type": "content_block_stop", "index": i})
	}
	event("message_delta", map[string]any{"type": "message_delta",
		"delta": map[string]any{"stop_reason": stopReason(a), "stop_sequence": nil},
		"usage": usage(a, a.OutputTokens)})
	event("message_stop", map[string]any{"type": "message_stop"})
}
