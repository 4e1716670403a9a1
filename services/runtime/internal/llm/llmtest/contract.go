package llmtest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"clawdbot.cloud/services/runtime/internal/llm"
)

// Fake is a provider's test server as the contract suite drives it.
type Fake interface {
	Enqueue(answers ...Answer)
	Requests() []Request
}

// Contract is the behaviour every llm.Provider adapter must have, run
// against the adapter's own test server: replies with usage, streaming,
// and each upstream failure classified the same way whatever the provider.
// newProvider returns an adapter talking to a fresh fake.
func Contract(t *testing.T, newProvider func(t *testing.T) (llm.Provider, Fake)) {
	req := llm.Request{
		Model:     "test-model",
		System:    "You are a test.",
		Messages:  []llm.Message{{Role: llm.User, Content: "hi"}, {Role: llm.Assistant, Content: "hello"}, {Role: llm.User, Content: "how are you?"}},
		MaxTokens: 256,
	}
	const text = "Très bien, merci — and you? 🙂 A longer answer, so it streams in several pieces."

	for _, stream := range []bool{false, true} {
		mode := map[bool]string{false: "whole", true: "streamed"}[stream]
		t.Run("reply "+mode, func(t *testing.T) {
			p, fake := newProvider(t)
			fake.Enqueue(Answer{Text: text, InputTokens: 42, OutputTokens: 17})
			var pieces []string
			var onText func(string) error
			if stream {
				onText = func(s string) error { pieces = append(pieces, s); return nil }
			}
			r, err := p.Chat(t.Context(), req, onText)
			if err != nil {
				t.Fatalf("Chat: %v", err)
			}
			if r.Text != text || r.InputTokens != 42 || r.OutputTokens != 17 || r.Model != "test-model" {
				t.Errorf("reply = %+v", r)
			}
			if stream && (len(pieces) < 2 || strings.Join(pieces, "") != text) {
				t.Errorf("streamed pieces %q do not make up the text", pieces)
			}
			got := fake.Requests()
			if len(got) != 1 {
				t.Fatalf("server got %d requests", len(got))
			}
			sent := got[0]
			if sent.Stream != stream || sent.Model != req.Model || sent.System != req.System || sent.MaxTokens != req.MaxTokens {
				t.Errorf("sent %+v", sent)
			}
			if len(sent.Messages) != 3 || sent.Messages[2].Content != req.Messages[2].Content || sent.Messages[2].Role != req.Messages[2].Role || sent.Messages[1].Role != llm.Assistant {
				t.Errorf("sent messages %+v", sent.Messages)
			}
		})

		for _, tc := range []struct {
			name       string
			answer     Answer
			kind       llm.Kind
			status     int
			retryAfter time.Duration
		}{
			{"rate limited", Answer{Status: 429, RetryAfter: "7"}, llm.RateLimited, 429, 7 * time.Second},
			{"server error", Answer{Status: 500}, llm.Unavailable, 500, 0},
			{"overloaded", Answer{Status: 529, ErrorType: "overloaded_error", RetryAfter: "2"}, llm.Unavailable, 529, 2 * time.Second},
			{"bad gateway", Answer{Status: 502}, llm.Unavailable, 502, 0},
			{"rejected", Answer{Status: 400, ErrorType: "invalid_request_error"}, llm.Rejected, 400, 0},
		} {
			t.Run(tc.name+" "+mode, func(t *testing.T) {
				p, fake := newProvider(t)
				fake.Enqueue(tc.answer)
				var onText func(string) error
				if stream {
					onText = func(string) error { return nil }
				}
				_, err := p.Chat(t.Context(), req, onText)
				var e *llm.Error
				if !errors.As(err, &e) {
					t.Fatalf("Chat = %v, want *llm.Error", err)
				}
				if e.Kind != tc.kind || e.Status != tc.status || e.RetryAfter != tc.retryAfter {
					t.Errorf("error = %+v (%v), want kind %v status %d retry after %v", e, e, tc.kind, tc.status, tc.retryAfter)
				}
			})
		}

		t.Run("timeout "+mode, func(t *testing.T) {
			p, fake := newProvider(t)
			fake.Enqueue(Answer{Hang: true})
			ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
			defer cancel()
			var onText func(string) error
			if stream {
				onText = func(string) error { return nil }
			}
			_, err := p.Chat(ctx, req, onText)
			var e *llm.Error
			if !errors.As(err, &e) || e.Kind != llm.Timeout {
				t.Fatalf("Chat past its deadline = %v, want a Timeout *llm.Error", err)
			}
		})
	}

	for _, tc := range []struct {
		name   string
		answer Answer
	}{
		{"error event mid-stream", Answer{Text: text, StreamError: "overloaded_error"}},
		{"stream cut short", Answer{Text: text, CutStream: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, fake := newProvider(t)
			fake.Enqueue(tc.answer)
			var got string
			_, err := p.Chat(t.Context(), req, func(s string) error { got += s; return nil })
			var e *llm.Error
			if !errors.As(err, &e) || e.Kind != llm.Unavailable {
				t.Fatalf("Chat = %v, want an Unavailable *llm.Error", err)
			}
			if got == "" {
				t.Error("no text before the failure")
			}
		})
	}

	t.Run("onText error aborts", func(t *testing.T) {
		p, fake := newProvider(t)
		fake.Enqueue(Answer{Text: text})
		stop := errors.New("client went away")
		_, err := p.Chat(t.Context(), req, func(string) error { return stop })
		if !errors.Is(err, stop) {
			t.Fatalf("Chat = %v, want the onText error", err)
		}
	})

	contractTools(t, newProvider)

	t.Run("caller cancels", func(t *testing.T) {
		p, fake := newProvider(t)
		fake.Enqueue(Answer{Hang: true})
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(50*time.Millisecond, cancel)
		_, err := p.Chat(ctx, req, nil)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Chat after cancel = %v, want context.Canceled", err)
		}
	})
}
