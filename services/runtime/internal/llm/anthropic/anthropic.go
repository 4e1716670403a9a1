// Package anthropic is the llm.Provider for the Anthropic Messages API,
// through the official Go SDK (github.com/anthropics/anthropic-sdk-go).
//
// The SDK's own retries are off: a rate limit or an overload is reported at
// once as an *llm.Error with the provider's Retry-After, and the customer's
// client decides when to try again, rather than a request hanging in
// backoff while the customer waits. The SDK's environment defaults are off
// too: the key and base URL come only from Config, so what the runtime uses
// is what its configuration says.
package anthropic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	sdk "github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"

	"clawdbot.cloud/services/runtime/internal/llm"
)

// Name is the provider's name in logs and errors.
const Name = "anthropic"

// Config is how to reach the Messages API.
type Config struct {
	// APIKey is the platform's Anthropic API key (ANTHROPIC_API_KEY). It is
	// sent as the x-api-key header and nowhere else.
	APIKey string
	// BaseURL overrides https://api.anthropic.com (ANTHROPIC_BASE_URL), for
	// a proxy or a test server.
	BaseURL string
	// HTTPClient makes the calls; http.DefaultClient's transport when nil.
	HTTPClient *http.Client
}

// Provider calls the Messages API.
type Provider struct {
	client sdk.Client
}

// New returns a Provider for c.
func New(c Config) *Provider {
	opts := []option.RequestOption{
		option.WithoutEnvironmentDefaults(),
		option.WithAPIKey(c.APIKey),
		option.WithMaxRetries(0),
	}
	if c.BaseURL != "" {
		opts = append(opts, option.WithBaseURL(c.BaseURL))
	}
	if c.HTTPClient != nil {
		opts = append(opts, option.WithHTTPClient(c.HTTPClient))
	}
	return &Provider{client: sdk.NewClient(opts...)}
}

// Name returns "anthropic".
func (*Provider) Name() string { return Name }

// Chat sends req to POST /v1/messages, streaming when onText is not nil.
func (p *Provider) Chat(ctx context.Context, req llm.Request, onText func(string) error) (llm.Reply, error) {
	params, err := paramsOf(req)
	if err != nil {
		return llm.Reply{}, &llm.Error{Provider: Name, Kind: llm.Rejected, Err: err}
	}
	if onText == nil {
		msg, err := p.client.Messages.New(ctx, params)
		if err != nil {
			return llm.Reply{}, classify(ctx, err)
		}
		return replyOf(msg), nil
	}
	return p.stream(ctx, params, onText)
}

// stream reads the server-sent events of a streamed message: message_start
// (model, input tokens), content_block_start/delta/stop (text, tool_use
// with its input as partial JSON, server tool blocks), message_delta (stop
// reason, final output tokens), message_stop. A stream that ends before
// message_stop is a broken one.
func (p *Provider) stream(ctx context.Context, params sdk.MessageNewParams, onText func(string) error) (llm.Reply, error) {
	s := p.client.Messages.NewStreaming(ctx, params)
	defer s.Close()
	var acc sdk.Message
	stopped := false
	for s.Next() {
		ev := s.Current()
		if err := acc.Accumulate(ev); err != nil {
			return llm.Reply{}, &llm.Error{Provider: Name, Kind: llm.Unavailable, Err: fmt.Errorf("stream: %w", err)}
		}
		switch ev.Type {
		case "content_block_delta":
			if ev.Delta.Type != "text_delta" || ev.Delta.Text == "" {
				continue
			}
			if err := onText(ev.Delta.Text); err != nil {
				return llm.Reply{}, err
			}
		case "message_stop":
			stopped = true
		}
	}
	if err := s.Err(); err != nil {
		return llm.Reply{}, classify(ctx, err)
	}
	if !stopped {
		return llm.Reply{}, &llm.Error{Provider: Name, Kind: llm.Unavailable, Err: errors.New("stream ended before message_stop")}
	}
	return replyOf(&acc), nil
}

// replyOf collects the text, the tool calls and the server tool uses of a
// complete message.
func replyOf(msg *sdk.Message) llm.Reply {
	var text strings.Builder
	r := llm.Reply{
		Model:        string(msg.Model),
		InputTokens:  msg.Usage.InputTokens,
		OutputTokens: msg.Usage.OutputTokens,
		StopReason:   string(msg.StopReason),
	}
	failed := map[string]bool{}
	for _, b := range msg.Content {
		switch b.Type {
		case "web_search_tool_result", "web_fetch_tool_result":
			failed[b.ToolUseID] = strings.HasSuffix(contentType(b.RawJSON()), "_error")
		}
	}
	for _, b := range msg.Content {
		switch b.Type {
		case "text":
			text.WriteString(b.Text)
		case "tool_use":
			input := b.Input
			if len(input) == 0 {
				input = json.RawMessage("{}")
			}
			r.ToolCalls = append(r.ToolCalls, llm.ToolCall{ID: b.ID, Name: b.Name, Input: input})
		case "server_tool_use":
			input, _ := json.Marshal(b.Input)
			r.ServerToolUses = append(r.ServerToolUses, llm.ServerToolUse{ID: b.ID, Name: b.Name, Input: input, Failed: failed[b.ID]})
		}
	}
	r.Text = text.String()
	r.Native = msg.ToParam()
	return r
}

// contentType is the "type" of a server tool result's "content": an error
// object's type ends in "_error"; a list of results has none.
func contentType(raw string) string {
	var b struct {
		Content json.RawMessage `json:"content"`
	}
	var c struct {
		Type string `json:"type"`
	}
	if json.Unmarshal([]byte(raw), &b) == nil {
		_ = json.Unmarshal(b.Content, &c)
	}
	return c.Type
}

// classify turns an SDK error into an *llm.Error. A caller that went away
// (ctx canceled) gets its context error back unchanged.
func classify(ctx context.Context, err error) error {
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return ctx.Err()
	}
	var apiErr *sdk.Error
	if !errors.As(err, &apiErr) {
		return &llm.Error{Provider: Name, Kind: llm.FromTransport(err), Err: err}
	}
	e := &llm.Error{Provider: Name, Status: apiErr.StatusCode, Type: string(apiErr.Type())}
	e.Kind = llm.FromStatus(e.Status)
	switch e.Type {
	// An error event inside a stream arrives with the stream's 200.
	case "rate_limit_error":
		e.Kind = llm.RateLimited
	case "overloaded_error", "api_error":
		e.Kind = llm.Unavailable
	case "timeout_error":
		e.Kind = llm.Timeout
	}
	if apiErr.Response != nil {
		e.RetryAfter = llm.RetryAfter(apiErr.Response.Header, time.Now())
	}
	e.Err = errors.New(message(apiErr.RawJSON(), e.Status))
	return e
}

// message is the provider's own explanation from an error body
// {"type":"error","error":{"type":...,"message":...}}, or the status text.
func message(raw string, status int) string {
	var body struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal([]byte(raw), &body) == nil && body.Error.Message != "" {
		return body.Error.Message
	}
	if status != 0 {
		return fmt.Sprintf("HTTP %d %s", status, http.StatusText(status))
	}
	return "error without details"
}
