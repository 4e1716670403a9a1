package llm

import "encoding/json"

// ToolSpec declares a tool the model may ask for: a name, what it does and
// the JSON Schema of its input.
type ToolSpec struct {
	// Name is how the model calls the tool (letters, digits, _ and -).
	Name string
	// Description tells the model when and how to use the tool.
	Description string
	// Schema is the JSON Schema of the tool's input, an object.
	Schema json.RawMessage
}

// ToolCall is the model asking for a tool to run.
type ToolCall struct {
	// ID is the provider's id of the call; its result answers to it.
	ID string
	// Name is the tool's name.
	Name string
	// Input is the tool's input, a JSON object.
	Input json.RawMessage
}

// ToolResult is what a tool returned, sent back to the model.
type ToolResult struct {
	// CallID is the ToolCall's ID.
	CallID string
	// Content is the result as text (or the error's message).
	Content string
	// IsError marks a failed tool: the model sees the failure and goes on.
	IsError bool
}

// ServerTool names a tool that the provider itself runs inside one call
// (Anthropic's web search and web fetch).
type ServerTool string

// The server tools the runtime declares.
const (
	// ServerWebSearch is Anthropic's web_search tool.
	ServerWebSearch ServerTool = "web_search"
	// ServerWebFetch is Anthropic's web_fetch tool.
	ServerWebFetch ServerTool = "web_fetch"
)

// ServerToolUse is one use of a server tool the provider reported.
type ServerToolUse struct {
	// ID is the provider's id of the use.
	ID string
	// Name is the server tool's name ("web_search").
	Name string
	// Input is what the model asked of it (e.g. {"query": ...}).
	Input json.RawMessage
	// Failed reports that the provider's result was an error.
	Failed bool
}
