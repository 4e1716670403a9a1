package openclaw

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"clawdbot.cloud/services/runtime/internal/llm"
	"clawdbot.cloud/services/runtime/internal/llm/openai"
)

// ProviderName is the name the gateway's provider reports in logs and
// /status.
const ProviderName = "openclaw"

// agentTarget is the gateway's default agent, as its OpenAI-compatible API
// names it (the model field selects an agent, not a provider model).
const agentTarget = "openclaw/default"

// Provider returns the gateway as an llm.Provider: a chat turn is sent to
// the gateway's /v1/chat/completions with the gateway token, and the usage
// the gateway reports is the turn's usage. Before each call ws (if not nil)
// brings the agent's workspace up to date (memories written through the
// runtime's API), and after it stores the memory the agent wrote.
func (g *Gateway) Provider(ws *WorkspaceSync) llm.Provider {
	return &provider{g: g, ws: ws, api: openai.New(openai.Config{
		BaseURL:    g.BaseURL() + "/v1",
		APIKey:     g.token,
		HTTPClient: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()},
	})}
}

type provider struct {
	g   *Gateway
	ws  *WorkspaceSync
	api *openai.Provider
}

func (p *provider) Name() string { return ProviderName }

// MetersUsage implements llm.Metering: every model call the gateway makes
// goes through the runtime's metering model proxy (its only provider),
// which counts it, so a turn through the front door is not counted again
// from the usage the gateway reports.
func (p *provider) MetersUsage() bool { return true }

// Chat forwards the conversation's text to the gateway. The runtime's own
// system prompt and tools are left out: OpenClaw builds its prompt from the
// workspace it reads and runs its own tools. Earlier tool steps of the
// runtime engine (a conversation begun before an engine change) are sent
// as their text only.
func (p *provider) Chat(ctx context.Context, req llm.Request, onText func(string) error) (llm.Reply, error) {
	if err := p.g.Ready(); err != nil {
		return llm.Reply{}, &llm.Error{Provider: ProviderName, Kind: llm.Unavailable, Err: errors.New("the OpenClaw gateway is starting; try again in a few seconds")}
	}
	if p.ws != nil {
		if err := p.ws.Sync(ctx); err != nil {
			p.g.o.Log.Warn("openclaw: workspace sync before chat failed", "err", err)
		}
		defer func() {
			// The turn's context may be over; the agent's memory is
			// stored regardless, within a bound.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if err := p.ws.Collect(cctx); err != nil {
				p.g.o.Log.Warn("openclaw: storing the agent's memory failed", "err", err)
			}
		}()
	}
	fwd := llm.Request{Model: agentTarget, MaxTokens: req.MaxTokens}
	for _, m := range req.Messages {
		if strings.TrimSpace(m.Content) == "" {
			continue
		}
		fwd.Messages = append(fwd.Messages, llm.Message{Role: m.Role, Content: m.Content})
	}
	reply, err := p.api.Chat(ctx, fwd, onText)
	var le *llm.Error
	if errors.As(err, &le) {
		le.Provider = ProviderName
	}
	reply.ToolCalls, reply.Native = nil, nil
	return reply, err
}
