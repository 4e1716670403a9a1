package openai

import (
	"encoding/json"
	"fmt"

	"clawdbot.cloud/services/runtime/internal/llm"
)

// tool is a function the model may call.
type tool struct {
	Type     string   `json:"type"`
	Function function `json:"function"`
}

type function struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
}

// toolCall is a call in an assistant message, or a piece of one in a
// streamed delta (Index says which; id and name come in the first piece,
// the arguments in pieces).
type toolCall struct {
	Index    *int   `json:"index,omitempty"`
	ID       string `json:"id,omitempty"`
	Type     string `json:"type,omitempty"`
	Function struct {
		Name      string `json:"name,omitempty"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

// toolCalls assembles the calls of an answer from whole calls or pieces.
type toolCalls struct {
	calls []llm.ToolCall
	args  []string
	index map[int]int
}

func (t *toolCalls) add(c toolCall) {
	if t.index == nil {
		t.index = map[int]int{}
	}
	key := len(t.calls)
	if c.Index != nil {
		key = *c.Index
	}
	i, ok := t.index[key]
	if !ok || c.Index == nil {
		i = len(t.calls)
		t.index[key] = i
		t.calls = append(t.calls, llm.ToolCall{})
		t.args = append(t.args, "")
	}
	if c.ID != "" {
		t.calls[i].ID = c.ID
	}
	if c.Function.Name != "" {
		t.calls[i].Name = c.Function.Name
	}
	t.args[i] += c.Function.Arguments
}

// list returns the calls; arguments that are not a JSON object become {}
// (the tool then reports what is missing).
func (t *toolCalls) list() []llm.ToolCall {
	for i := range t.calls {
		in := json.RawMessage(t.args[i])
		var obj map[string]any
		if json.Unmarshal(in, &obj) != nil {
			in = json.RawMessage("{}")
		}
		t.calls[i].Input = in
		if t.calls[i].ID == "" {
			t.calls[i].ID = fmt.Sprintf("call_%d", i)
		}
	}
	return t.calls
}

// requestOf turns req into a chat completion request: a system message,
// the conversation with tool calls and tool messages, the tools as
// functions. Server tools are Anthropic's and are not sent.
func requestOf(req llm.Request, stream bool) request {
	body := request{Model: req.Model, MaxTokens: req.MaxTokens, Stream: stream}
	if stream {
		body.StreamOptions = &streamOptions{IncludeUsage: true}
	}
	text := func(s string) *string { return &s }
	if req.System != "" {
		body.Messages = append(body.Messages, message{Role: "system", Content: text(req.System)})
	}
	for _, m := range req.Messages {
		for _, r := range m.ToolResults {
			content := r.Content
			if r.IsError {
				content = "error: " + content
			}
			body.Messages = append(body.Messages, message{Role: "tool", ToolCallID: r.CallID, Content: text(content)})
		}
		if len(m.ToolResults) > 0 && m.Content == "" {
			continue
		}
		msg := message{Role: string(m.Role)}
		if m.Content != "" || len(m.ToolCalls) == 0 {
			msg.Content = text(m.Content)
		}
		for _, c := range m.ToolCalls {
			tc := toolCall{ID: c.ID, Type: "function"}
			tc.Function.Name, tc.Function.Arguments = c.Name, string(c.Input)
			msg.ToolCalls = append(msg.ToolCalls, tc)
		}
		body.Messages = append(body.Messages, msg)
	}
	for _, t := range req.Tools {
		body.Tools = append(body.Tools, tool{Type: "function", Function: function{Name: t.Name, Description: t.Description, Parameters: t.Schema}})
	}
	if req.NoTools && len(body.Tools) > 0 {
		body.ToolChoice = "none"
	}
	return body
}
