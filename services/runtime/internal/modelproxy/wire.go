package modelproxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// The model APIs the proxy speaks, as OpenClaw names them
// (models.providers.<id>.api).
const (
	// Anthropic is the Anthropic Messages API: POST /v1/messages.
	Anthropic = "anthropic-messages"
	// OpenAI is an OpenAI-compatible chat completions endpoint:
	// POST /v1/chat/completions.
	OpenAI = "openai-completions"
)

// Usage is what one model call consumed, as the provider reported it.
type Usage struct {
	// Input is the prompt's tokens; for Anthropic including the tokens
	// written to and read from its prompt cache, which are billed too.
	Input int64
	// Output is the tokens generated.
	Output int64
}

// call is what the proxy needs to know of a request body.
type call struct {
	// model is the requested model.
	model string
	// stream reports a streamed answer.
	stream bool
	// startsTurn reports a call that answers a new message of the user's
	// (the last message is the user's, and no tool result came since the
	// assistant last spoke): the first model call of a turn, which counts a
	// message. The calls that follow within the turn answer tool results.
	startsTurn bool
	// body is what to send upstream: the request's, or with
	// stream_options.include_usage added.
	body []byte
	// dropUsageChunk: the client did not ask for the stream's usage chunk
	// (the proxy did, to meter), so it is not passed on.
	dropUsageChunk bool
}

// errBadBody is a request body the proxy cannot read as the API's.
var errBadBody = errors.New("request body")

// wire is one API's wire format.
type wire interface {
	// path is the one route of the API.
	path() string
	// parse reads a request body.
	parse(body []byte) (call, error)
	// usage reads the usage of a whole (not streamed) answer.
	usage(body []byte) (Usage, error)
	// event reads a stream's data line into u (the usage so far) and
	// reports whether it is the stream's last event.
	event(data []byte, u *Usage) (last bool)
	// authorize sets the upstream key on an upstream request.
	authorize(h http.Header, key string)
	// errorBody is the API's error document.
	errorBody(status int, typ, msg string) []byte
}

func wireOf(api string) (wire, error) {
	switch api {
	case Anthropic:
		return anthropicWire{}, nil
	case OpenAI:
		return openaiWire{}, nil
	}
	return nil, fmt.Errorf("model proxy: api %q: want %q or %q", api, Anthropic, OpenAI)
}

// anthropicWire is the Messages API.
type anthropicWire struct{}

func (anthropicWire) path() string { return "/v1/messages" }

func (anthropicWire) parse(body []byte) (call, error) {
	var req struct {
		Model    string `json:"model"`
		Stream   bool   `json:"stream"`
		Messages []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return call{}, fmt.Errorf("%w: %v", errBadBody, err)
	}
	if req.Model == "" || len(req.Messages) == 0 {
		return call{}, fmt.Errorf("%w: model and messages are required", errBadBody)
	}
	c := call{model: req.Model, stream: req.Stream, body: body, startsTurn: true}
	// The user's messages since the model last spoke: tool results among
	// them make the call a turn's later step (OpenClaw adds a user message
	// of its own context after the results).
	for i := len(req.Messages) - 1; i >= 0 && req.Messages[i].Role == "user"; i-- {
		var blocks []struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(req.Messages[i].Content, &blocks) == nil {
			for _, b := range blocks {
				if b.Type == "tool_result" {
					c.startsTurn = false
				}
			}
		}
	}
	if req.Messages[len(req.Messages)-1].Role != "user" {
		c.startsTurn = false
	}
	return c, nil
}

// anthropicUsage is the API's usage object: message_start carries the
// input, message_delta the output so far (and, lately, the input again).
type anthropicUsage struct {
	InputTokens              *int64 `json:"input_tokens"`
	OutputTokens             *int64 `json:"output_tokens"`
	CacheCreationInputTokens *int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     *int64 `json:"cache_read_input_tokens"`
}

// into sets u from the counts present (each count in the API is the total
// so far, so the last seen wins).
func (a *anthropicUsage) into(u *Usage) {
	if a == nil {
		return
	}
	if a.InputTokens != nil || a.CacheCreationInputTokens != nil || a.CacheReadInputTokens != nil {
		var in int64
		for _, n := range []*int64{a.InputTokens, a.CacheCreationInputTokens, a.CacheReadInputTokens} {
			if n != nil {
				in += *n
			}
		}
		u.Input = max(u.Input, in)
	}
	if a.OutputTokens != nil {
		u.Output = max(u.Output, *a.OutputTokens)
	}
}

func (anthropicWire) usage(body []byte) (Usage, error) {
	var msg struct {
		Usage *anthropicUsage `json:"usage"`
	}
	if err := json.Unmarshal(body, &msg); err != nil || msg.Usage == nil {
		return Usage{}, errors.New("the answer has no usage")
	}
	var u Usage
	msg.Usage.into(&u)
	return u, nil
}

func (anthropicWire) event(data []byte, u *Usage) bool {
	var ev struct {
		Type    string `json:"type"`
		Message *struct {
			Usage *anthropicUsage `json:"usage"`
		} `json:"message"`
		Usage *anthropicUsage `json:"usage"`
	}
	if json.Unmarshal(data, &ev) != nil {
		return false
	}
	switch ev.Type {
	case "message_start":
		if ev.Message != nil {
			ev.Message.Usage.into(u)
		}
	case "message_delta":
		ev.Usage.into(u)
	}
	return ev.Type == "message_stop"
}

func (anthropicWire) authorize(h http.Header, key string) {
	h.Set("X-Api-Key", key)
}

func (anthropicWire) errorBody(_ int, typ, msg string) []byte {
	b, _ := json.Marshal(map[string]any{"type": "error", "error": map[string]any{"type": typ, "message": msg}})
	return b
}

// openaiWire is OpenAI's chat completions.
type openaiWire struct{}

func (openaiWire) path() string { return "/v1/chat/completions" }

func (openaiWire) parse(body []byte) (call, error) {
	var req map[string]json.RawMessage
	if err := json.Unmarshal(body, &req); err != nil {
		return call{}, fmt.Errorf("%w: %v", errBadBody, err)
	}
	var c call
	var messages []struct {
		Role string `json:"role"`
	}
	if json.Unmarshal(req["model"], &c.model) != nil || c.model == "" ||
		json.Unmarshal(req["messages"], &messages) != nil || len(messages) == 0 {
		return call{}, fmt.Errorf("%w: model and messages are required", errBadBody)
	}
	if s, ok := req["stream"]; ok && json.Unmarshal(s, &c.stream) != nil {
		return call{}, fmt.Errorf("%w: stream must be a boolean", errBadBody)
	}
	// As for Anthropic: the messages since the assistant's last; a tool
	// result among them is a turn's later step.
	c.startsTurn = messages[len(messages)-1].Role == "user"
	for i := len(messages) - 1; i >= 0 && messages[i].Role != "assistant"; i-- {
		if messages[i].Role == "tool" {
			c.startsTurn = false
		}
	}
	c.body = body
	if !c.stream {
		return c, nil
	}
	// A stream reports its usage only when asked to: ask, and keep the
	// usage chunk from a client that did not.
	var opts map[string]json.RawMessage
	if raw, ok := req["stream_options"]; ok && !bytes.Equal(raw, []byte("null")) {
		if err := json.Unmarshal(raw, &opts); err != nil {
			return call{}, fmt.Errorf("%w: stream_options must be an object", errBadBody)
		}
	}
	var asked bool
	_ = json.Unmarshal(opts["include_usage"], &asked)
	if asked {
		return c, nil
	}
	if opts == nil {
		opts = map[string]json.RawMessage{}
	}
	opts["include_usage"] = json.RawMessage("true")
	req["stream_options"], _ = json.Marshal(opts)
	b, err := json.Marshal(req)
	if err != nil {
		return call{}, fmt.Errorf("%w: %v", errBadBody, err)
	}
	c.body, c.dropUsageChunk = b, true
	return c, nil
}

// openaiUsage is a completion's (or the last chunk's) usage.
type openaiUsage struct {
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
}

func (openaiWire) usage(body []byte) (Usage, error) {
	var c struct {
		Usage *openaiUsage `json:"usage"`
	}
	if err := json.Unmarshal(body, &c); err != nil || c.Usage == nil {
		return Usage{}, errors.New("the answer has no usage")
	}
	return Usage{Input: c.Usage.PromptTokens, Output: c.Usage.CompletionTokens}, nil
}

func (openaiWire) event(data []byte, u *Usage) bool {
	if bytes.Equal(data, []byte("[DONE]")) {
		return true
	}
	var c struct {
		Usage *openaiUsage `json:"usage"`
	}
	if json.Unmarshal(data, &c) != nil || c.Usage == nil {
		return false
	}
	u.Input, u.Output = max(u.Input, c.Usage.PromptTokens), max(u.Output, c.Usage.CompletionTokens)
	return false
}

// usageChunk reports the chunk include_usage adds: usage, no choices.
func usageChunk(data []byte) bool {
	var c struct {
		Choices []json.RawMessage `json:"choices"`
		Usage   *openaiUsage      `json:"usage"`
	}
	return json.Unmarshal(data, &c) == nil && c.Usage != nil && len(c.Choices) == 0
}

func (openaiWire) authorize(h http.Header, key string) {
	if key != "" {
		h.Set("Authorization", "Bearer "+key)
	}
}

func (openaiWire) errorBody(status int, typ, msg string) []byte {
	e := map[string]any{"message": msg, "type": typ, "param": nil, "code": nil}
	switch {
	case typ == "insufficient_quota", typ == "model_not_found", typ == "invalid_api_key":
		e["code"] = typ
		if typ != "insufficient_quota" {
			e["type"] = "invalid_request_error"
		}
	case status == http.StatusTooManyRequests:
		e["code"] = "rate_limit_exceeded"
	}
	b, _ := json.Marshal(map[string]any{"error": e})
	return b
}
