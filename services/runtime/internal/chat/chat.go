// Package chat is the runtime's chat turn: check the message and the quota,
// store the customer's message, build the prompt from the workspace, the
// relevant memories and the conversation's history, ask the model, and
// store the reply together with its usage.
//
// The customer's message is stored before the model is called, so a failed
// call loses nothing: the conversation keeps the message, and the error
// names the conversation to continue. The model call is detached from the
// client's request: a client that goes away mid-stream still finds the whole
// reply in the conversation, and its tokens are counted.
package chat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/runtime/internal/agents"
	"clawdbot.cloud/services/runtime/internal/llm"
	"clawdbot.cloud/services/runtime/internal/quota"
	"clawdbot.cloud/services/runtime/internal/skills"
	"clawdbot.cloud/services/runtime/internal/tools"
)

// Limits of a turn.
const (
	// MaxMessageChars bounds the customer's message, in characters.
	MaxMessageChars = 32_000
	// historyMessages is how many earlier messages are sent at most.
	historyMessages = 40
	// historyChars bounds the history sent, in characters; the oldest
	// messages go first.
	historyChars = 100_000
	// relevantMemories is how many memories the prompt carries.
	relevantMemories = 5
	// titleChars bounds a conversation title taken from its first message.
	titleChars = 80
	// storeTimeout bounds storing a reply after the model answered.
	storeTimeout = 10 * time.Second
)

// Errors of a turn that the client caused; each maps to a 4xx.
var (
	// ErrEmptyMessage is a message of only white space.
	ErrEmptyMessage = errors.New("message is empty")
	// ErrInvalidMessage is a message that is not valid UTF-8 or holds NUL.
	ErrInvalidMessage = errors.New("message is not valid UTF-8 text")
	// ErrConversationNotFound is a conversation_id that names nothing.
	ErrConversationNotFound = errors.New("conversation not found")
	// ErrAgentMismatch is a conversation continued with another agent.
	ErrAgentMismatch = errors.New("this conversation is with another agent")
)

// TooLongError is a message over MaxMessageChars.
type TooLongError struct{ Chars, Limit int }

func (e *TooLongError) Error() string {
	return fmt.Sprintf("message is %d characters, the limit is %d", e.Chars, e.Limit)
}

// QuotaError is a turn refused because the plan's messages for the month
// are used up (turns in flight included), or its tokens (Tokens).
type QuotaError struct {
	Status quota.Status
	// Tokens reports that the token budget, not the messages, ran out.
	Tokens bool
}

func (e *QuotaError) Error() string {
	if e.Tokens {
		return fmt.Sprintf("monthly token budget reached (%d of %d tokens); it resets on %s",
			e.Status.Tokens(), e.Status.TokenLimit, e.Status.ResetAt.Format(time.DateOnly))
	}
	return fmt.Sprintf("monthly message quota reached (%d of %d); it resets on %s",
		e.Status.Used.Messages, e.Status.Limit, e.Status.ResetAt.Format(time.DateOnly))
}

// NotConfiguredError is a turn refused because no model provider is set up.
type NotConfiguredError struct{ Hint string }

func (e *NotConfiguredError) Error() string { return "no model provider is configured: " + e.Hint }

// Service runs chat turns for one customer.
type Service struct {
	// DB is the customer's database.
	DB customerdb.TxBeginner
	// Plan is the customer's plan as configured: quota and skills. A plan
	// the workspace service recorded since (skills.CurrentPlan) wins.
	Plan plans.Plan
	// Model is the model id sent to the provider.
	Model string
	// Provider answers; nil when none is configured.
	Provider llm.Provider
	// Lender takes the turn's reservation while a metering provider
	// (llm.Metering) answers, so the provider's calls count the turn's
	// message against it instead of reserving another (the openclaw
	// engine's model proxy, modelproxy.Turns). nil: not lent.
	Lender Lender
	// Hint says what to set when Provider is nil.
	Hint string
	// Timeout bounds one model call.
	Timeout time.Duration
	// TurnTimeout bounds a whole turn: every model call and tool run.
	TurnTimeout time.Duration
	// MaxSteps bounds the model calls of a turn; the last one may not ask
	// for tools, so the turn ends with an answer.
	MaxSteps int
	// ToolTimeout bounds one tool run.
	ToolTimeout time.Duration
	// Tools picks and backs the tools of a turn; nil offers none.
	Tools *tools.Box
	// MaxTokens bounds one reply.
	MaxTokens int64
	// Now is the clock.
	Now func() time.Time
	// Log receives errors; never message content.
	Log *slog.Logger
	// Background is what model calls and the storing of their replies run
	// under instead of the client's request (see the package comment): the
	// instance's lifetime, canceled when it stops. context.Background()
	// when nil.
	Background context.Context
}

// Lender is where a metering provider's calls are counted. Lend offers r
// until giveBack is called; giveBack reports whether r is still the
// turn's to settle or release (false: a model call took it over, and
// settles or releases it itself).
type Lender interface {
	Lend(r customerdb.Reservation) (giveBack func() (kept bool))
}

// Request is a turn as the client asks for it.
type Request struct {
	// Message is the customer's message.
	Message string
	// ConversationID continues a conversation; empty starts one.
	ConversationID string
	// History, when not nil, is the conversation so far as the client
	// sends it (the OpenAI-compatible API), used instead of the stored
	// history; only Message and the reply are stored.
	History []llm.Message
	// Instructions are the client's own system messages, added to the
	// system prompt.
	Instructions string
	// Agent names the agent to talk to (Team); empty is the default one,
	// or the agent of the conversation continued.
	Agent string
}

// Result is a turn's outcome. ConversationID and UserMessageID are set as
// soon as the customer's message is stored, also when the turn then fails.
type Result struct {
	ConversationID string
	UserMessageID  int64
	// MessageID is the stored reply.
	MessageID int64
	Reply     string
	Model     string
	// InputTokens and OutputTokens are the sums over every model call of
	// the turn.
	InputTokens, OutputTokens int64
	// ToolCalls is how many tools ran (server tools included).
	ToolCalls int
	// StopReason is the last model call's ("end_turn", "stop", ...).
	StopReason string
	// Agent is the agent that answered ("" the default one).
	Agent string
}

// Check validates a message without storing anything.
func Check(message string) error {
	switch n := utf8.RuneCountInString(message); {
	case !utf8.ValidString(message) || strings.ContainsRune(message, 0):
		return ErrInvalidMessage
	case strings.TrimSpace(message) == "":
		return ErrEmptyMessage
	case n > MaxMessageChars:
		return &TooLongError{Chars: n, Limit: MaxMessageChars}
	}
	return nil
}

// Turn answers req. When onEvent is not nil the turn is streamed to it as
// it happens (pieces of text, tool activity), with the turn's Result so
// far (conversation and stored message); an error from onEvent stops the
// streaming but not the turn.
func (s *Service) Turn(ctx context.Context, req Request, onEvent func(Result, Event) error) (Result, error) {
	if err := Check(req.Message); err != nil {
		return Result{}, err
	}
	if s.Provider == nil {
		return Result{}, &NotConfiguredError{Hint: s.Hint}
	}
	now := s.Now()
	plan, err := skills.CurrentPlan(ctx, s.DB, s.Plan)
	if err != nil {
		return Result{}, err
	}
	r, q, err := quota.Reserve(ctx, s.DB, plan, now)
	switch {
	case errors.Is(err, customerdb.ErrMessagesSpent):
		return Result{}, &QuotaError{Status: q}
	case errors.Is(err, customerdb.ErrTokensSpent):
		return Result{}, &QuotaError{Status: q, Tokens: true}
	case err != nil:
		return Result{}, err
	}
	t := &turn{s: s, r: r}
	defer t.release()
	return t.run(ctx, plan, now, req, onEvent)
}

func (s *Service) background() context.Context {
	if s.Background == nil {
		return context.Background()
	}
	return s.Background
}

// forward passes events to onEvent until it first fails (the client went
// away), then drops the rest: the turn goes on without it.
func forward(onEvent func(Result, Event) error) func(Result, Event) {
	if onEvent == nil {
		return nil
	}
	var failed bool
	return func(res Result, e Event) {
		if !failed && onEvent(res, e) != nil {
			failed = true
		}
	}
}

// agent checks the requested agent and returns the turn's: the one asked
// for, else the continued conversation's, else the default ("").
func (s *Service) agent(ctx context.Context, plan plans.Plan, req Request) (string, error) {
	if req.Agent != "" {
		if !agents.Allowed(plan) {
			return "", agents.ErrNotInPlan
		}
		if !agents.ValidName(req.Agent) {
			return "", agents.ErrInvalidName
		}
		ok, err := agents.Exists(ctx, s.DB, req.Agent)
		if err != nil {
			return "", err
		}
		if !ok {
			return "", fmt.Errorf("%w: %s", agents.ErrNotFound, req.Agent)
		}
	}
	if req.ConversationID == "" {
		return req.Agent, nil
	}
	c, err := customerdb.GetConversation(ctx, s.DB, req.ConversationID)
	if errors.Is(err, customerdb.ErrNotFound) {
		return "", ErrConversationNotFound
	}
	if err != nil {
		return "", err
	}
	if req.Agent != "" && c.Agent != req.Agent {
		return "", ErrAgentMismatch
	}
	return c.Agent, nil
}

// storeMessage stores the customer's message, in a new conversation unless
// req continues one. Either way it is a single statement.
func (s *Service) storeMessage(ctx context.Context, req Request) (Result, error) {
	if req.ConversationID == "" {
		c, m, err := customerdb.StartAgentConversation(ctx, s.DB, req.Agent, title(req.Message), req.Message)
		if err != nil {
			return Result{}, err
		}
		return Result{ConversationID: c.ID, UserMessageID: m.ID}, nil
	}
	m, err := customerdb.AddMessage(ctx, s.DB, customerdb.Message{ConversationID: req.ConversationID, Role: customerdb.RoleUser, Content: req.Message})
	if errors.Is(err, customerdb.ErrNotFound) {
		return Result{}, ErrConversationNotFound
	}
	if err != nil {
		return Result{}, err
	}
	return Result{ConversationID: req.ConversationID, UserMessageID: m.ID}, nil
}

// title is the first line of a message, cut to titleChars.
func title(message string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(message), "\n")
	line = strings.Join(strings.Fields(line), " ")
	if utf8.RuneCountInString(line) <= titleChars {
		return line
	}
	r := []rune(line)
	return string(r[:titleChars-1]) + "…"
}
