package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"clawdbot.cloud/services/runtime/internal/agents"
	"clawdbot.cloud/services/runtime/internal/chat"
	"clawdbot.cloud/services/runtime/internal/llm"
	"clawdbot.cloud/services/runtime/internal/respond"
	"clawdbot.cloud/services/runtime/internal/skills"
)

// The OpenAI-compatible API: POST /v1/chat/completions and GET /v1/models,
// answering as the assistant (workspace, memories, tools, quota and usage
// all apply), in the shapes of OpenAI's published OpenAPI definition, so
// the official SDKs work against the instance unchanged.
//
// A completion request carries the whole conversation; the runtime keeps
// each request as a new conversation holding the last user message and
// the reply (the earlier messages are sent to the model, not stored).
// System and developer messages are added to the system prompt. The
// request's model does not choose the model: the instance answers with
// its plan's model and names it in the answer. On Team, a model naming
// one of the instance's agents talks to that agent (GET /v1/models lists
// them).

// completionRequest is the part of CreateChatCompletionRequest the runtime
// reads; other fields (sampling parameters and the like) are accepted and
// ignored.
type completionRequest struct {
	Model         string              `json:"model"`
	Messages      []completionMessage `json:"messages"`
	Stream        bool                `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	N     *int            `json:"n"`
	Tools json.RawMessage `json:"tools"`
}

// completionMessage is a message of the request; content is a string or
// an array of text parts.
type completionMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// text returns a message's content as text.
func (m completionMessage) text() (string, error) {
	var s string
	if json.Unmarshal(m.Content, &s) == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(m.Content, &parts); err != nil {
		return "", errors.New("content must be a string or an array of text parts")
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Type != "text" {
			return "", fmt.Errorf("content parts of type %q are not supported; send text", p.Type)
		}
		b.WriteString(p.Text)
	}
	return b.String(), nil
}

// openAIError writes an error in OpenAI's shape (ErrorResponse).
func openAIError(w http.ResponseWriter, status int, typ, param, msg string) {
	var p any
	if param != "" {
		p = param
	}
	respond.JSON(w, status, map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": p, "code": nil}})
}

// completions answers POST /v1/chat/completions.
func completions(o Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req completionRequest
		if !decodeOpenAI(w, r, &req) {
			return
		}
		turn, param, err := turnOf(req)
		if err != nil {
			openAIError(w, http.StatusBadRequest, "invalid_request_error", param, err.Error())
			return
		}
		if err := chat.Check(turn.Message); err != nil {
			status, body, _ := chatError(o, err, chat.Result{})
			openAIError(w, status, "invalid_request_error", "messages", body.Error)
			return
		}
		turn.Agent = agentOf(r, o, req.Model)
		rc := http.NewResponseController(w)
		_ = rc.SetWriteDeadline(time.Now().Add(o.Chat.TurnTimeout + time.Minute))
		if !req.Stream {
			res, err := o.Chat.Turn(r.Context(), turn, nil)
			if err != nil {
				writeCompletionError(w, o, err, res)
				return
			}
			respond.JSON(w, http.StatusOK, completion(res, o.Now()))
			return
		}
		streamCompletion(w, r, o, rc, turn, req.StreamOptions != nil && req.StreamOptions.IncludeUsage)
	})
}

// turnOf maps a completion request to a chat turn: the last message is
// the customer's, the ones before it the history. It names the offending
// parameter on failure.
func turnOf(req completionRequest) (chat.Request, string, error) {
	switch {
	case req.Model == "":
		return chat.Request{}, "model", errors.New("model is required")
	case len(req.Messages) == 0:
		return chat.Request{}, "messages", errors.New("messages must hold at least one message")
	case req.N != nil && *req.N != 1:
		return chat.Request{}, "n", errors.New("only n=1 is supported")
	case len(req.Tools) > 0 && string(req.Tools) != "null" && string(req.Tools) != "[]":
		return chat.Request{}, "tools", errors.New("client-defined tools are not supported: the assistant uses the tools of its plan")
	}
	var turn chat.Request
	var instructions []string
	history := []llm.Message{}
	for i, m := range req.Messages {
		text, err := m.text()
		if err != nil {
			return turn, fmt.Sprintf("messages[%d].content", i), err
		}
		switch m.Role {
		case "system", "developer":
			instructions = append(instructions, text)
		case "user", "assistant":
			if strings.TrimSpace(text) != "" {
				history = append(history, llm.Message{Role: llm.Role(m.Role), Content: text})
			}
		case "tool", "function":
			return turn, fmt.Sprintf("messages[%d].role", i), errors.New("tool messages are not supported: the assistant runs its own tools")
		default:
			return turn, fmt.Sprintf("messages[%d].role", i), fmt.Errorf("unknown role %q", m.Role)
		}
	}
	if len(history) == 0 || history[len(history)-1].Role != llm.User {
		return turn, "messages", errors.New("the last message must be the user's")
	}
	turn.Message = history[len(history)-1].Content
	turn.History = history[:len(history)-1]
	turn.Instructions = strings.Join(instructions, "\n\n")
	return turn, "", nil
}

// completionID names a completion by its stored reply (or, in a stream
// before the reply is stored, by the customer's message).
func completionID(res chat.Result) string {
	return "chatcmpl-" + strings.ReplaceAll(res.ConversationID, "-", "") + "-" + strconv.FormatInt(res.UserMessageID, 10)
}

func usageOf(res chat.Result) map[string]any {
	return map[string]any{"prompt_tokens": res.InputTokens, "completion_tokens": res.OutputTokens,
		"total_tokens": res.InputTokens + res.OutputTokens}
}

// finishReason maps the model's stop reason to OpenAI's.
func finishReason(res chat.Result) string {
	switch res.StopReason {
	case "max_tokens", "length":
		return "length"
	default:
		return "stop"
	}
}

// completion is a CreateChatCompletionResponse.
func completion(res chat.Result, now time.Time) map[string]any {
	return map[string]any{
		"id": completionID(res), "object": "chat.completion", "created": now.Unix(), "model": res.Model,
		"choices": []any{map[string]any{
			"index": 0, "finish_reason": finishReason(res), "logprobs": nil,
			"message": map[string]any{"role": "assistant", "content": res.Reply, "refusal": nil},
		}},
		"usage": usageOf(res),
	}
}

// writeCompletionError maps a failed turn as /api/chat does, in OpenAI's
// error shape; the type says whose fault it is.
func writeCompletionError(w http.ResponseWriter, o Options, err error, res chat.Result) {
	status, body, retryAfter := chatError(o, err, res)
	if retryAfter > 0 {
		w.Header().Set("Retry-After", seconds(retryAfter))
	}
	typ := "server_error"
	switch {
	case status == http.StatusTooManyRequests:
		typ = "rate_limit_exceeded"
		var q *chat.QuotaError
		if errors.As(err, &q) {
			typ = "insufficient_quota"
		}
	case status < 500:
		typ = "invalid_request_error"
	}
	openAIError(w, status, typ, "", body.Error)
}

// decodeOpenAI reads a JSON body like decode, but lets unknown fields
// through (the SDKs send parameters the runtime does not use) and answers
// in OpenAI's error shape.
func decodeOpenAI(w http.ResponseWriter, r *http.Request, v any) bool {
	if !jsonContentType(r) {
		openAIError(w, http.StatusUnsupportedMediaType, "invalid_request_error", "", "send the body as JSON with Content-Type: application/json")
		return false
	}
	dec := json.NewDecoder(r.Body)
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("unexpected data after the JSON object")
		}
	}
	if err == nil {
		return true
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		openAIError(w, http.StatusRequestEntityTooLarge, "invalid_request_error", "", fmt.Sprintf("request body is over %d bytes", MaxBodyBytes))
		return false
	}
	openAIError(w, http.StatusBadRequest, "invalid_request_error", "", "request body is not a valid JSON object: "+err.Error())
	return false
}

// agentOf is the agent a completion's model names, on a plan with named
// agents; "" (the default agent) otherwise.
func agentOf(r *http.Request, o Options, model string) string {
	if !agents.ValidName(model) {
		return ""
	}
	plan, err := skills.CurrentPlan(r.Context(), o.DB, o.Plan)
	if err != nil || !agents.Allowed(plan) {
		return ""
	}
	if ok, err := agents.Exists(r.Context(), o.DB, model); err != nil || !ok {
		return ""
	}
	return model
}

// models answers GET /v1/models: the instance's model, then its named
// agents (Team), each usable as a completion's model.
func models(o Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		created := o.Now().Unix()
		data := []any{map[string]any{"id": o.Chat.Model, "object": "model", "created": created, "owned_by": "clawdbot"}}
		plan, err := skills.CurrentPlan(r.Context(), o.DB, o.Plan)
		if err != nil {
			openAIError(w, http.StatusInternalServerError, "server_error", "", "internal error")
			return
		}
		if agents.Allowed(plan) {
			list, err := agents.List(r.Context(), o.DB)
			if err != nil {
				openAIError(w, http.StatusInternalServerError, "server_error", "", "internal error")
				return
			}
			for _, a := range list {
				data = append(data, map[string]any{"id": a.Name, "object": "model", "created": created, "owned_by": "agent"})
			}
		}
		respond.JSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
	})
}
