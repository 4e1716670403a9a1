package chat

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/services/runtime/internal/llm"
	"clawdbot.cloud/services/runtime/internal/tools"
	"clawdbot.cloud/services/runtime/internal/webfetch"
)

// Defaults of a turn's limits.
const (
	// DefaultMaxSteps is the model calls a turn may make.
	DefaultMaxSteps = 8
	// DefaultTurnTimeout bounds a whole turn.
	DefaultTurnTimeout = 5 * time.Minute
	// DefaultToolTimeout bounds one tool run.
	DefaultToolTimeout = time.Minute
	// maxResultChars bounds a tool result sent to the model.
	maxResultChars = 24_000
	// maxCallsPerStep bounds the tools run for one model call; further
	// calls get an error result without running.
	maxCallsPerStep = 10
)

// Tool statuses in a ToolEvent.
const (
	// ToolRunning is sent when a tool starts.
	ToolRunning = "running"
	// ToolDone is sent when it returned a result.
	ToolDone = "done"
	// ToolFailed is sent when it failed; the model is told why.
	ToolFailed = "failed"
)

// Event is something a streamed turn reports: a piece of the reply's text
// or tool activity.
type Event struct {
	// Text is a piece of the reply.
	Text string
	// Tool is tool activity.
	Tool *ToolEvent
}

// ToolEvent is a tool starting or ending.
type ToolEvent struct {
	// CallID is the model's id of the call.
	CallID string `json:"id"`
	// Name is the tool's name.
	Name string `json:"name"`
	// Status is ToolRunning, ToolDone or ToolFailed.
	Status string `json:"status"`
	// DurationMS is how long it ran, once it ended.
	DurationMS int64 `json:"duration_ms,omitempty"`
	// Server marks a tool the provider ran (Anthropic's web search).
	Server bool `json:"server,omitempty"`
}

// TurnTimeoutError is a turn that ran out of its time (TurnTimeout) with
// its tools and model calls.
type TurnTimeoutError struct{ Limit time.Duration }

func (e *TurnTimeoutError) Error() string {
	return fmt.Sprintf("the turn took longer than its limit of %s", e.Limit)
}

// agent is one turn's loop: call the model, run the tools it asks for,
// send their results back, until it answers or a limit is reached.
type agent struct {
	s       *Service
	res     Result
	offered []tools.Tool
	// message is the customer's message of the turn.
	message string
	emit    func(Result, Event)
	// text is the reply: the text of every step.
	text strings.Builder
	// in and out sum the tokens of every model call.
	in, out   int64
	toolCalls int
}

func (s *Service) turnTimeout() time.Duration {
	if s.TurnTimeout > 0 {
		return s.TurnTimeout
	}
	return DefaultTurnTimeout
}

func (s *Service) maxSteps() int {
	if s.MaxSteps > 0 {
		return s.MaxSteps
	}
	return DefaultMaxSteps
}

// run is the loop. The last step forbids tools, so the turn ends with an
// answer; a model that asks anyway ends it with what it wrote.
func (a *agent) run(ctx context.Context, req llm.Request) (llm.Reply, error) {
	for step := 1; ; step++ {
		last := step >= a.s.maxSteps()
		req.NoTools = last && (len(req.Tools) > 0 || len(req.ServerTools) > 0)
		reply, err := a.call(ctx, req)
		if err != nil {
			return reply, err
		}
		a.in += reply.InputTokens
		a.out += reply.OutputTokens
		a.serverTools(step, reply.ServerToolUses)
		if len(reply.ToolCalls) == 0 || last {
			if a.text.Len() == 0 && len(reply.ToolCalls) > 0 {
				a.write(fmt.Sprintf("(I stopped here: this turn reached its limit of %d steps.)", a.s.maxSteps()))
			}
			return reply, nil
		}
		req.Messages = append(req.Messages, llm.Message{Role: llm.Assistant, Content: reply.Text, ToolCalls: reply.ToolCalls, Native: reply.Native})
		results := make([]llm.ToolResult, len(reply.ToolCalls))
		for i, c := range reply.ToolCalls {
			if i >= maxCallsPerStep {
				results[i] = llm.ToolResult{CallID: c.ID, IsError: true,
					Content: fmt.Sprintf("not run: at most %d tool calls per step", maxCallsPerStep)}
				continue
			}
			results[i] = a.runTool(ctx, step, c)
		}
		req.Messages = append(req.Messages, llm.Message{Role: llm.User, ToolResults: results})
	}
}

// call makes one model call, bounded by the model timeout within the
// turn's. Text is streamed when the turn is; steps are separated by a
// blank line in the reply.
func (a *agent) call(ctx context.Context, req llm.Request) (llm.Reply, error) {
	mctx, cancel := context.WithTimeout(ctx, a.s.Timeout)
	defer cancel()
	sep := a.text.Len() > 0
	var onText func(string) error
	if a.emit != nil {
		onText = func(t string) error {
			if sep {
				a.emit(a.res, Event{Text: "\n\n"})
				sep = false
			}
			a.emit(a.res, Event{Text: t})
			return nil
		}
	}
	reply, err := a.s.Provider.Chat(mctx, req, onText)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return reply, &llm.Error{Provider: a.s.Provider.Name(), Kind: llm.Timeout, Err: &TurnTimeoutError{Limit: a.s.turnTimeout()}}
		}
		return reply, err
	}
	if reply.Text != "" {
		if a.text.Len() > 0 {
			a.text.WriteString("\n\n")
		}
		a.text.WriteString(reply.Text)
	}
	return reply, nil
}

// write adds text of the runtime's own to the reply.
func (a *agent) write(t string) {
	if a.emit != nil {
		a.emit(a.res, Event{Text: t})
	}
	a.text.WriteString(t)
}

// runTool runs one call, if it was offered, and stores it. Whatever
// happens, the model gets a result.
func (a *agent) runTool(ctx context.Context, step int, c llm.ToolCall) llm.ToolResult {
	a.toolCalls++
	a.event(ToolEvent{CallID: c.ID, Name: c.Name, Status: ToolRunning})
	start := time.Now()
	var out string
	var err error
	if t, ok := a.find(c.Name); ok {
		tctx, cancel := context.WithTimeout(ctx, a.s.toolTimeout())
		out, err = t.Run(tctx, tools.Call{ConversationID: a.res.ConversationID, Input: c.Input, Message: a.message, Now: a.s.Now()})
		cancel()
	} else {
		err = fmt.Errorf("tool %q is not available in this chat", c.Name)
	}
	d := time.Since(start)
	r := llm.ToolResult{CallID: c.ID, Content: customerdb.Bound(out, maxResultChars)}
	outcome, status := customerdb.OutcomeOK, ToolDone
	if err != nil {
		// The error's text may quote what the model sent (a selector, a
		// URL): the log names the tool only.
		a.s.Log.Warn("chat: tool failed", "tool", customerdb.Bound(c.Name, 64), "refused", errors.Is(err, webfetch.ErrRefused))
		r.Content, r.IsError = customerdb.Bound(err.Error(), 2_000), true
		outcome, status = customerdb.OutcomeError, ToolFailed
	}
	if r.Content == "" {
		r.Content = "(no output)"
	}
	a.store(step, c.Name, string(c.Input), r.Content, outcome, d)
	a.event(ToolEvent{CallID: c.ID, Name: c.Name, Status: status, DurationMS: d.Milliseconds()})
	return r
}

// serverTools reports and stores the provider-run tools of a call.
func (a *agent) serverTools(step int, uses []llm.ServerToolUse) {
	for _, u := range uses {
		a.toolCalls++
		status, outcome, result := ToolDone, customerdb.OutcomeOK, "(run by the provider)"
		if u.Failed {
			status, outcome, result = ToolFailed, customerdb.OutcomeError, "(the provider reported an error)"
		}
		a.event(ToolEvent{CallID: u.ID, Name: u.Name, Status: status, Server: true})
		a.store(step, u.Name, string(u.Input), result, outcome, 0)
	}
}

func (a *agent) find(name string) (tools.Tool, bool) {
	for _, t := range a.offered {
		if t.Spec.Name == name {
			return t, true
		}
	}
	return tools.Tool{}, false
}

func (a *agent) event(e ToolEvent) {
	if a.emit != nil {
		a.emit(a.res, Event{Tool: &e})
	}
}

// store records a tool call; a failure to store is logged, not fatal.
func (a *agent) store(step int, name, input, result, outcome string, d time.Duration) {
	ctx, cancel := context.WithTimeout(a.s.background(), storeTimeout)
	defer cancel()
	_, err := customerdb.AddToolCall(ctx, a.s.DB, customerdb.ToolCall{
		ConversationID: a.res.ConversationID, UserMessageID: a.res.UserMessageID, Step: step,
		Tool: name, Input: input, Result: result, Outcome: outcome, Duration: d,
	})
	if err != nil {
		a.s.Log.Error("chat: store tool call", "tool", name, "err", err)
	}
}

func (s *Service) toolTimeout() time.Duration {
	if s.ToolTimeout > 0 {
		return s.ToolTimeout
	}
	return DefaultToolTimeout
}
