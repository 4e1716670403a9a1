// Package llm is the runtime's port to a language model: one chat turn in,
// one reply out, optionally streamed as it is written. Adapters implement it
// for the Anthropic Messages API (package anthropic) and for
// OpenAI-compatible chat completion endpoints such as Ollama, vLLM or a
// llama.cpp server (package openai).
//
// Adapters classify what went wrong upstream into an *Error, so the HTTP
// layer maps it to a status once, for every provider.
package llm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"clawdbot.cloud/pkg/retry"
)

// Role says who wrote a message.
type Role string

// The roles of a conversation. The system prompt is separate (Request.System).
const (
	// User is the customer.
	User Role = "user"
	// Assistant is the model.
	Assistant Role = "assistant"
)

// Message is one turn of the conversation sent to the model.
type Message struct {
	Role Role
	// Content is the text of the message.
	Content string
	// ToolCalls are the tools an assistant message asked for.
	ToolCalls []ToolCall
	// ToolResults answer the previous assistant message's ToolCalls; a
	// message with results is sent in the user's role (Anthropic) or as
	// tool messages (OpenAI).
	ToolResults []ToolResult
	// Native is the provider's own form of an assistant message it
	// returned in this turn (Reply.Native), sent back as it was, so blocks
	// the runtime does not model (server tool results, citations) survive.
	Native any
}

// Request is one call to the model.
type Request struct {
	// Model is the provider's model id.
	Model string
	// System is the system prompt.
	System string
	// Messages is the conversation so far, oldest first, ending with the
	// customer's new message.
	Messages []Message
	// MaxTokens bounds the length of the reply.
	MaxTokens int64
	// Tools are the tools the model may ask for.
	Tools []ToolSpec
	// ServerTools are the provider-run tools to declare (Anthropic only;
	// other adapters ignore them).
	ServerTools []ServerTool
	// NoTools forbids asking for tools in this call (tool_choice none):
	// the turn's last step, which must answer.
	NoTools bool
}

// Reply is the model's answer.
type Reply struct {
	// Text is the full text of the reply.
	Text string
	// Model is the model that answered, as the provider reports it.
	Model string
	// InputTokens and OutputTokens are what the call cost, as the provider
	// reports them (0 when it does not).
	InputTokens, OutputTokens int64
	// StopReason is why the model stopped ("end_turn", "max_tokens", ...).
	StopReason string
	// ToolCalls are the tools the model asks for; none when it answered.
	ToolCalls []ToolCall
	// ServerToolUses are the provider-run tools it used in this call.
	ServerToolUses []ServerToolUse
	// Native is the reply in the provider's own form, to send back in the
	// next call of the turn (Message.Native).
	Native any
}

// Provider answers chat turns.
type Provider interface {
	// Name identifies the provider in logs and /status ("anthropic", "openai").
	Name() string
	// Chat sends req and returns the whole reply. When onText is not nil the
	// reply is streamed: onText receives each piece of text as it arrives,
	// and an error it returns aborts the call. Failures are *Error.
	Chat(ctx context.Context, req Request, onText func(string) error) (Reply, error)
}

// Metering is implemented by a provider whose model calls are counted in
// the customer's usage where they are made (the openclaw engine: its
// gateway's calls go through the runtime's metering model proxy), so a
// turn must not count their tokens, nor its message, a second time.
type Metering interface {
	// MetersUsage reports that the provider's calls are counted already.
	MetersUsage() bool
}

// MetersUsage reports whether p counts its own usage (Metering).
func MetersUsage(p Provider) bool {
	m, ok := p.(Metering)
	return ok && m.MetersUsage()
}

// Kind classifies a failed call.
type Kind int

// The kinds of failure, each with its own answer to the customer.
const (
	// Unavailable is a 5xx answer (overloaded included), a connection that
	// failed, or a stream that broke: worth retrying later.
	Unavailable Kind = iota
	// RateLimited is a 429: the platform's provider account is over its
	// rate limit. RetryAfter says when to try again, if the provider said.
	RateLimited
	// Timeout is a call that took longer than allowed.
	Timeout
	// Rejected is any other 4xx: the request or the platform's provider
	// settings (key, model name) are wrong. Retrying will not help.
	Rejected
)

func (k Kind) String() string {
	switch k {
	case RateLimited:
		return "rate limited"
	case Timeout:
		return "timed out"
	case Rejected:
		return "rejected"
	default:
		return "unavailable"
	}
}

// Error is a failed call to a provider.
type Error struct {
	// Provider is the provider's Name.
	Provider string
	// Kind classifies the failure.
	Kind Kind
	// Status is the provider's HTTP status, 0 if there was no answer.
	Status int
	// Type is the provider's error type ("overloaded_error", ...), if any.
	Type string
	// RetryAfter is the provider's advice on when to retry; 0 if none.
	RetryAfter time.Duration
	// Err is the underlying error. Its text may quote the provider's
	// answer but never the API key.
	Err error
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s %s", e.Provider, e.Kind)
	if e.Status != 0 {
		s += fmt.Sprintf(" (HTTP %d", e.Status)
		if e.Type != "" {
			s += " " + e.Type
		}
		s += ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// FromStatus classifies an HTTP error answer.
func FromStatus(status int) Kind {
	switch {
	case status == http.StatusTooManyRequests:
		return RateLimited
	case status == http.StatusRequestTimeout || status == http.StatusGatewayTimeout:
		return Timeout
	case status >= 500:
		return Unavailable
	default:
		return Rejected
	}
}

// FromTransport classifies an error without an HTTP answer: a deadline is a
// Timeout, anything else (refused connection, broken stream) Unavailable.
func FromTransport(err error) Kind {
	var te interface{ Timeout() bool }
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &te) && te.Timeout() {
		return Timeout
	}
	return Unavailable
}

// RetryAfter reads a provider's advice from response headers: retry-after-ms
// (Anthropic, OpenAI), then Retry-After (retry.After). It returns 0 when
// there is none or it is not in the future.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	if h == nil {
		return 0
	}
	if ms, err := strconv.ParseFloat(h.Get("Retry-After-Ms"), 64); err == nil && ms > 0 {
		return time.Duration(ms * float64(time.Millisecond))
	}
	d, _ := retry.After(h, now)
	return d
}
