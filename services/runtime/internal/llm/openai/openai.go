// Package openai is the llm.Provider for OpenAI-compatible chat completion
// endpoints (POST {base}/chat/completions), the API that Ollama, vLLM,
// llama.cpp's server, LiteLLM and OpenAI itself speak. It is plain
// net/http: the subset the runtime needs is small, and a self-hosted model
// server is exactly where an SDK's assumptions about OpenAI's own service
// (retries, organisation headers) do not hold.
package openai

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"clawdbot.cloud/services/runtime/internal/llm"
)

// Name is the provider's name in logs and errors.
const Name = "openai"

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 64 << 10

// Config is how to reach the endpoint.
type Config struct {
	// BaseURL is the API root including its version, e.g.
	// http://127.0.0.1:11434/v1 for Ollama (OPENAI_BASE_URL).
	BaseURL string
	// APIKey is sent as a Bearer token when set (OPENAI_API_KEY); local
	// servers usually need none.
	APIKey string
	// HTTPClient makes the calls; http.DefaultClient when nil.
	HTTPClient *http.Client
}

// Provider calls an OpenAI-compatible endpoint.
type Provider struct {
	url    string
	key    string
	client *http.Client
}

// New returns a Provider for c.
func New(c Config) *Provider {
	client := c.HTTPClient
	if client == nil {
		client = http.DefaultClient
	}
	return &Provider{url: strings.TrimSuffix(c.BaseURL, "/") + "/chat/completions", key: c.APIKey, client: client}
}

// Name returns "openai".
func (*Provider) Name() string { return Name }

// message is a chat message as sent: content is null on an assistant
// message of only tool calls.
type message struct {
	Role       string     `json:"role"`
	Content    *string    `json:"content"`
	ToolCalls  []toolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
}

type request struct {
	Model         string         `json:"model"`
	Messages      []message      `json:"messages"`
	MaxTokens     int64          `json:"max_tokens,omitempty"`
	Stream        bool           `json:"stream"`
	StreamOptions *streamOptions `json:"stream_options,omitempty"`
	Tools         []tool         `json:"tools,omitempty"`
	ToolChoice    string         `json:"tool_choice,omitempty"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

type usage struct {
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
}

// answer is a completion's message or a chunk's delta.
type answer struct {
	Content   string     `json:"content"`
	ToolCalls []toolCall `json:"tool_calls"`
}

// response is a completion or one chunk of a streamed completion.
type response struct {
	Model   string `json:"model"`
	Choices []struct {
		Message      answer `json:"message"`
		Delta        answer `json:"delta"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage *usage `json:"usage"`
	Error *struct {
		Message string `json:"message"`
		Type    string `json:"type"`
	} `json:"error"`
}

// Chat sends req, streaming when onText is not nil. Streams ask for usage
// (stream_options.include_usage); servers that ignore it report 0 tokens.
func (p *Provider) Chat(ctx context.Context, req llm.Request, onText func(string) error) (llm.Reply, error) {
	body := requestOf(req, onText != nil)
	b, err := json.Marshal(body)
	if err != nil {
		return llm.Reply{}, fmt.Errorf("encode chat request: %w", err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(b))
	if err != nil {
		return llm.Reply{}, &llm.Error{Provider: Name, Kind: llm.Rejected, Err: err}
	}
	hreq.Header.Set("Content-Type", "application/json")
	if p.key != "" {
		hreq.Header.Set("Authorization", "Bearer "+p.key)
	}
	if body.Stream {
		hreq.Header.Set("Accept", "text/event-stream")
	}
	resp, err := p.client.Do(hreq)
	if err != nil {
		return llm.Reply{}, transportError(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return llm.Reply{}, statusError(resp)
	}
	if !body.Stream {
		var r response
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			return llm.Reply{}, transportError(ctx, fmt.Errorf("decode completion: %w", err))
		}
		if len(r.Choices) == 0 {
			return llm.Reply{}, &llm.Error{Provider: Name, Kind: llm.Unavailable, Err: errors.New("completion without choices")}
		}
		c := r.Choices[0]
		reply := llm.Reply{Text: c.Message.Content, Model: r.Model, StopReason: c.FinishReason}
		var calls toolCalls
		for _, tc := range c.Message.ToolCalls {
			calls.add(tc)
		}
		reply.ToolCalls = calls.list()
		if r.Usage != nil {
			reply.InputTokens, reply.OutputTokens = r.Usage.PromptTokens, r.Usage.CompletionTokens
		}
		return reply, nil
	}
	return readStream(ctx, resp.Body, onText)
}

// readStream reads "data: {chunk}" lines up to "data: [DONE]".
func readStream(ctx context.Context, body io.Reader, onText func(string) error) (llm.Reply, error) {
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var reply llm.Reply
	var text strings.Builder
	var calls toolCalls
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data:")
		if !ok {
			continue // comments, event names, blank separators
		}
		data = strings.TrimSpace(data)
		if data == "[DONE]" {
			reply.Text = text.String()
			reply.ToolCalls = calls.list()
			return reply, nil
		}
		var chunk response
		if err := json.Unmarshal([]byte(data), &chunk); err != nil {
			return llm.Reply{}, &llm.Error{Provider: Name, Kind: llm.Unavailable, Err: fmt.Errorf("undecodable stream chunk: %w", err)}
		}
		if chunk.Error != nil {
			return llm.Reply{}, &llm.Error{Provider: Name, Kind: llm.Unavailable, Type: chunk.Error.Type, Err: errors.New(chunk.Error.Message)}
		}
		if chunk.Model != "" {
			reply.Model = chunk.Model
		}
		if chunk.Usage != nil {
			reply.InputTokens, reply.OutputTokens = chunk.Usage.PromptTokens, chunk.Usage.CompletionTokens
		}
		for _, c := range chunk.Choices {
			if c.FinishReason != "" {
				reply.StopReason = c.FinishReason
			}
			for _, tc := range c.Delta.ToolCalls {
				calls.add(tc)
			}
			if c.Delta.Content == "" {
				continue
			}
			text.WriteString(c.Delta.Content)
			if err := onText(c.Delta.Content); err != nil {
				return llm.Reply{}, err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return llm.Reply{}, transportError(ctx, err)
	}
	return llm.Reply{}, &llm.Error{Provider: Name, Kind: llm.Unavailable, Err: errors.New("stream ended before [DONE]")}
}

func transportError(ctx context.Context, err error) error {
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return ctx.Err()
	}
	return &llm.Error{Provider: Name, Kind: llm.FromTransport(err), Err: err}
}

// statusError reads an error answer: {"error":{"message","type"}} in
// OpenAI's shape, or any text.
func statusError(resp *http.Response) error {
	e := &llm.Error{
		Provider:   Name,
		Kind:       llm.FromStatus(resp.StatusCode),
		Status:     resp.StatusCode,
		RetryAfter: llm.RetryAfter(resp.Header, time.Now()),
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var body response
	switch {
	case json.Unmarshal(raw, &body) == nil && body.Error != nil:
		e.Type, e.Err = body.Error.Type, errors.New(body.Error.Message)
	case len(bytes.TrimSpace(raw)) > 0:
		e.Err = errors.New(strings.TrimSpace(string(raw[:min(len(raw), 300)])))
	default:
		e.Err = errors.New(http.StatusText(resp.StatusCode))
	}
	return e
}
