// Package openaitest is a test server that speaks the OpenAI-compatible
// chat completions wire format as Ollama, vLLM and llama.cpp's server do:
// POST /v1/chat/completions answered with a completion, or streamed as
// "data: {chunk}" server-sent events ending in "data: [DONE]" (with a usage
// chunk when stream_options.include_usage is set), or with error answers in
// OpenAI's {"error":{...}} shape. It records every request.
package openaitest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
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

type request struct {
	Model    string `json:"model"`
	Messages []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"messages"`
	MaxTokens     int64 `json:"max_tokens"`
	Stream        bool  `json:"stream"`
	StreamOptions *struct {
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
	if body.Model == "" || len(body.Messages) == 0 {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "model and messages are required", "")
		return
	}
	for i, m := range body.Messages {
		switch {
		case m.Role == "system" && i == 0:
			req.System = m.Content
		case m.Role == "user" || m.Role == "assistant":
			req.Messages = append(req.Messages, llm.Message{Role: llm.Role(m.Role), Content: m.Content})
		default:
			writeError(w, http.StatusBadRequest, "invalid_request_error", fmt.Sprintf("messages[%d]: unexpected role %q", i, m.Role), "")
			return
		}
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
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id": "chatcmpl-test", "object": "chat.completion", "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "finish_reason": "stop",
				"message": map[string]any{"role": "assistant", "content": a.Text}}},
			"usage": usage(a),
		})
	}
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
	chunk(delta("", "stop"))
	if withUsage {
		chunk(map[string]any{"id": "chatcmpl-test", "object": "chat.completion.chunk", "model": req.Model,
			"choices": []any{}, "usage": usage(a)})
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
	_ = rc.Flush()
}

func writeError(w http.ResponseWriter, status int, typ, msg, retryAfter string) {
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": typ}})
}
