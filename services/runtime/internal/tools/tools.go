// Package tools is what the assistant can do during a chat turn, by skill:
// memory (save, search, forget), web search and fetch, and a browser. The
// tools offered in a turn are exactly those of the skills the plan grants
// and the customer has not switched off (pkg/plans is the one catalog);
// package chat runs only tools it offered.
//
// A tool's failure is a result the model sees (Run returns an error whose
// text is shown to it), never a failed turn.
package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/runtime/internal/llm"
)

// Call is one run of a tool.
type Call struct {
	// ConversationID is the conversation of the turn.
	ConversationID string
	// Input is the model's input, a JSON object.
	Input json.RawMessage
	// Message is the customer's own message that started the turn: what
	// the customer said, never what the model wrote (gmail_send_draft
	// looks for the customer's confirmation in it).
	Message string
	// Now is the turn's clock reading.
	Now time.Time
}

// Tool is one tool the model may ask for.
type Tool struct {
	// Spec declares it to the model.
	Spec llm.ToolSpec
	// Skill is the plan skill that grants it (plans.Skill*).
	Skill string
	// Run runs it and returns its result as text for the model.
	Run func(ctx context.Context, c Call) (string, error)
}

// Searcher looks things up on the web for the web_search tool.
type Searcher interface {
	// Search returns results for query as text for the model.
	Search(ctx context.Context, query string, limit int) ([]SearchResult, error)
}

// SearchResult is one web search hit.
type SearchResult struct {
	Title, URL, Snippet string
}

// Fetcher reads a web page for the web_fetch tool (package webfetch).
type Fetcher interface {
	// Fetch returns the page at url as readable text, with its final URL
	// and title.
	Fetch(ctx context.Context, url string) (Page, error)
}

// Page is a fetched page as text.
type Page struct {
	URL, Title, Text string
}

// Browser drives a browser for the browser tools (package browser).
type Browser interface {
	// Tools returns the browser's tools.
	Tools(db customerdb.DB) []Tool
}

// Box holds what the tools need and picks the tools of a turn.
type Box struct {
	// DB is the customer's database.
	DB customerdb.TxBeginner
	// ServerWeb reports that the provider runs web search and fetch itself
	// (Anthropic's server tools); then Search and Fetch are not used.
	ServerWeb bool
	// Search backs web_search for other providers; nil leaves it out.
	Search Searcher
	// Fetch backs web_fetch for other providers; nil leaves it out.
	Fetch Fetcher
	// Browser backs the browser tools; nil leaves them out.
	Browser Browser
	// Google backs the Gmail and Calendar tools; nil leaves them out.
	Google Google
}

// Google is the customer's connected Google account (package google).
type Google interface {
	// Tools returns the Gmail and Calendar tools, each with its skill.
	Tools() []Tool
}

// For returns the tools and the provider-run tools of the enabled skills
// (the plan's skills less those switched off), in a stable order.
func (b *Box) For(enabled []string) ([]Tool, []llm.ServerTool) {
	var out []Tool
	var server []llm.ServerTool
	if slices.Contains(enabled, plans.SkillMemory) {
		out = append(out, b.memoryTools()...)
	}
	if slices.Contains(enabled, plans.SkillWebSearch) {
		if b.ServerWeb {
			server = append(server, llm.ServerWebSearch, llm.ServerWebFetch)
		} else {
			out = append(out, b.webTools()...)
		}
	}
	if slices.Contains(enabled, plans.SkillBrowser) && b.Browser != nil {
		out = append(out, b.Browser.Tools(b.DB)...)
	}
	if b.Google != nil {
		// Offered by skill: a plan without Gmail or Calendar (a downgrade
		// to Starter, read every turn) gets none of them.
		for _, t := range b.Google.Tools() {
			if slices.Contains(enabled, t.Skill) {
				out = append(out, t)
			}
		}
	}
	return out, server
}

// Specs are the declarations of tools.
func Specs(ts []Tool) []llm.ToolSpec {
	out := make([]llm.ToolSpec, len(ts))
	for i, t := range ts {
		out[i] = t.Spec
	}
	return out
}

// ErrBadInput is an input the tool cannot use; its text tells the model
// what to send.
var ErrBadInput = errors.New("invalid input")

// Decode reads a tool's input strictly into v.
func Decode(in json.RawMessage, v any) error {
	if err := json.Unmarshal(in, v); err != nil {
		return fmt.Errorf("%w: %v", ErrBadInput, err)
	}
	return nil
}

// Schema builds a JSON Schema object from its properties and required names.
func Schema(properties string, required ...string) json.RawMessage {
	req, _ := json.Marshal(required)
	if required == nil {
		req = []byte("[]")
	}
	return json.RawMessage(`{"type":"object","properties":` + properties + `,"required":` + string(req) + `}`)
}
