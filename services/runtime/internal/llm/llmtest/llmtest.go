// Package llmtest is what the providers' test servers share: the scripted
// answers a test queues, the requests a server records, and the contract
// suite every llm.Provider adapter must pass against its test server.
package llmtest

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	"clawdbot.cloud/services/runtime/internal/llm"
)

// Answer is how a test server answers one request. The zero Answer is the
// default: a successful reply echoing the customer's last message.
type Answer struct {
	// Text is the reply; empty means "Echo: " + the last user message.
	Text string
	// InputTokens and OutputTokens are the usage reported; 0 means an
	// estimate of about four characters per token.
	InputTokens, OutputTokens int64
	// Status, when not 0, makes the answer an HTTP error with that status
	// (429, 500, 529, ...).
	Status int
	// ErrorType is the provider's error type for Status or StreamError
	// ("rate_limit_error", "overloaded_error", ...); a default fits Status.
	ErrorType string
	// RetryAfter is the Retry-After header of an error answer.
	RetryAfter string
	// StreamError, when set, breaks a streamed answer after its first piece
	// of text with an error event of this type.
	StreamError string
	// CutStream ends a streamed answer after its first piece of text,
	// without an error and without the final events.
	CutStream bool
	// Hang makes the server wait until the client gives up.
	Hang bool
	// ChunkDelay paces a streamed answer: the server waits this long
	// before each piece of text after the first, like a model writing.
	ChunkDelay time.Duration
	// ToolCalls makes the answer ask for these tools (stop reason
	// tool_use / tool_calls); Text, if set, comes before them. An empty ID
	// is filled in.
	ToolCalls []llm.ToolCall
	// ServerToolUses are provider-run tool uses reported in the answer
	// (Anthropic only: server_tool_use and web_*_tool_result blocks; a
	// Failed one gets an error result).
	ServerToolUses []llm.ServerToolUse
}

// Request is what a test server received, decoded.
type Request struct {
	llm.Request
	// Stream reports whether the client asked for a streamed answer.
	Stream bool
	// Header is the request's headers.
	Header http.Header
}

// Script holds the queued answers and the recorded requests of a server.
// It is safe for concurrent use.
type Script struct {
	mu       sync.Mutex
	queue    []Answer
	requests []Request
}

// Enqueue queues answers for the next requests, in order. Requests beyond
// the queue get the default answer.
func (s *Script) Enqueue(answers ...Answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append(s.queue, answers...)
}

// Requests returns every request received so far.
func (s *Script) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Reset forgets the recorded requests (not the queue), for long benchmarks.
func (s *Script) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

// Next records req and returns its answer with Text and tokens filled in.
func (s *Script) Next(req Request) Answer {
	s.mu.Lock()
	s.requests = append(s.requests, req)
	var a Answer
	if len(s.queue) > 0 {
		a, s.queue = s.queue[0], s.queue[1:]
	}
	s.mu.Unlock()
	for i := range a.ToolCalls {
		if a.ToolCalls[i].ID == "" {
			a.ToolCalls[i].ID = fmt.Sprintf("toolu_test_%d_%d", len(s.requests), i)
		}
	}
	if a.Text == "" && len(a.ToolCalls) == 0 {
		last := ""
		for _, m := range req.Messages {
			if m.Role == llm.User {
				last = m.Content
			}
		}
		a.Text = "Echo: " + last
	}
	if a.InputTokens == 0 {
		n := utf8.RuneCountInString(req.System)
		for _, m := range req.Messages {
			n += utf8.RuneCountInString(m.Content)
			for _, r := range m.ToolResults {
				n += utf8.RuneCountInString(r.Content)
			}
		}
		a.InputTokens = tokens(n)
	}
	if a.OutputTokens == 0 {
		n := utf8.RuneCountInString(a.Text)
		for _, c := range a.ToolCalls {
			n += len(c.Input)
		}
		a.OutputTokens = tokens(n)
	}
	return a
}

func tokens(chars int) int64 { return int64(math.Ceil(float64(chars)/4)) + 1 }

// Chunks splits text into pieces of about n runes, the deltas of a stream.
func Chunks(text string, n int) []string {
	var out []string
	for text != "" {
		i, count := 0, 0
		for i < len(text) && count < n {
			_, size := utf8.DecodeRuneInString(text[i:])
			i += size
			count++
		}
		out = append(out, text[:i])
		text = text[i:]
	}
	return out
}

// LastUser returns the content of the last user message of req, for
// assertions.
func LastUser(req Request) (string, error) {
	for i := len(req.Messages) - 1; i >= 0; i-- {
		if req.Messages[i].Role == llm.User && len(req.Messages[i].ToolResults) == 0 {
			return req.Messages[i].Content, nil
		}
	}
	return "", fmt.Errorf("request without a user message")
}

// Pause waits d before the next piece of a stream, or until ctx ends; it
// reports whether to go on.
func Pause(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// ToolResults returns the tool results of the last message of req: what the
// runtime sent back for the tools the previous answer asked for.
func ToolResults(req Request) []llm.ToolResult {
	if len(req.Messages) == 0 {
		return nil
	}
	return req.Messages[len(req.Messages)-1].ToolResults
}

// ToolNames returns the names of the tools req offered, client tools first,
// then server tools.
func ToolNames(req Request) []string {
	var out []string
	for _, t := range req.Tools {
		out = append(out, t.Name)
	}
	for _, t := range req.ServerTools {
		out = append(out, string(t))
	}
	return out
}
