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

// block is a content block: a string content is also accepted.
type block struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// content is a message content or system prompt: a string or text blocks.
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
	for i, m := range body.Messages {
		if m.Role != "user" && m.Role != "assistant" {
			return out, fmt.Errorf("messages.%d.role: unexpected role %q", i, m.Role)
		}
		text, err := m.Content.text()
		if err != nil {
			return out, fmt.Errorf("messages.%d.content: %w", i, err)
		}
		if text == "" {
			return out, fmt.Errorf("messages.%d: text content blocks must be non-empty", i)
		}
		out.Messages = append(out.Messages, llm.Message{Role: llm.Role(m.Role), Content: text})
	}
	return out, nil
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

// message writes a complete (non-streamed) message.
func (s *Server) message(w http.ResponseWriter, req llmtest.Request, a llmtest.Answer) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"id":            s.id(),
		"type":          "message",
		"role":          "assistant",
		"model":         req.Model,
		"content":       []map[string]any{{"type": "text", "text": a.Text}},
		"stop_reason":   "end_turn",
		"stop_sequence": nil,
		"usage":         map[string]any{"input_tokens": a.InputTokens, "output_tokens": a.OutputTokens},
	})
}

// stream writes the message as server-sent events, in the API's order.
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
	event("content_block_start", map[string]any{"type": "content_block_start", "index": 0,
		"content_block": map[string]any{"type": "text", "text": ""}})
	event("ping", map[string]any{"type": "ping"})
	for i, piece := range llmtest.Chunks(a.Text, 8) {
		if i > 0 && !llmtest.Pause(ctx, a.ChunkDelay) {
			return
		}
		event("content_block_delta", map[string]any{"type": "content_block_delta", "index": 0,
			"delta": map[string]any{"type": "text_delta", "text": piece}})
		if i == 0 && a.StreamError != "" {
			event("error", errorBody(a.StreamError, "scripted stream failure"))
			return
		}
		if i == 0 && a.CutStream {
			return
		}
	}
	event("content_block_stop", map[string]any{"type": "content_block_stop", "index": 0})
	event("message_delta", map[string]any{"type": "message_delta",
		"delta": map[string]any{"stop_reason": "end_turn", "stop_sequence": nil},
		"usage": map[string]any{"output_tokens": a.OutputTokens}})
	event("message_stop", map[string]any{"type": "message_stop"})
}
