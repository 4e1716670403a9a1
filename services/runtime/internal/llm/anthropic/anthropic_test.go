package anthropic_test

import (
	"strings"
	"testing"

	"clawdbot.cloud/services/runtime/internal/llm"
	"clawdbot.cloud/services/runtime/internal/llm/anthropic"
	"clawdbot.cloud/services/runtime/internal/llm/anthropictest"
	"clawdbot.cloud/services/runtime/internal/llm/llmtest"
)

func TestContract(t *testing.T) {
	llmtest.Contract(t, func(t *testing.T) (llm.Provider, llmtest.Fake) {
		srv := anthropictest.New(t)
		return anthropic.New(anthropic.Config{APIKey: anthropictest.APIKey, BaseURL: srv.URL}), srv
	})
}

func TestSendsTheAPIHeaders(t *testing.T) {
	srv := anthropictest.New(t)
	p := anthropic.New(anthropic.Config{APIKey: anthropictest.APIKey, BaseURL: srv.URL})
	if _, err := p.Chat(t.Context(), llm.Request{Model: "m", MaxTokens: 10, Messages: []llm.Message{{Role: llm.User, Content: "x"}}}, nil); err != nil {
		t.Fatal(err)
	}
	h := srv.Requests()[0].Header
	if h.Get("X-Api-Key") != anthropictest.APIKey || h.Get("Anthropic-Version") == "" {
		t.Errorf("headers = %v", h)
	}
}

func TestWrongKeyIsRejected(t *testing.T) {
	srv := anthropictest.New(t)
	p := anthropic.New(anthropic.Config{APIKey: "sk-ant-wrong", BaseURL: srv.URL})
	_, err := p.Chat(t.Context(), llm.Request{Model: "m", MaxTokens: 10, Messages: []llm.Message{{Role: llm.User, Content: "x"}}}, nil)
	e, ok := err.(*llm.Error)
	if !ok || e.Kind != llm.Rejected || e.Status != 401 {
		t.Fatalf("Chat with a wrong key = %v", err)
	}
	if got := e.Error(); got == "" || strings.Contains(got, "sk-ant-wrong") {
		t.Errorf("error text %q", got)
	}
}
