package openai_test

import (
	"testing"

	"clawdbot.cloud/services/runtime/internal/llm"
	"clawdbot.cloud/services/runtime/internal/llm/llmtest"
	"clawdbot.cloud/services/runtime/internal/llm/openai"
	"clawdbot.cloud/services/runtime/internal/llm/openaitest"
)

func TestContract(t *testing.T) {
	llmtest.Contract(t, func(t *testing.T) (llm.Provider, llmtest.Fake) {
		srv := openaitest.New(t)
		return openai.New(openai.Config{APIKey: openaitest.APIKey, BaseURL: srv.URL}), srv
	})
}
