package customerdb

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// Bounds of a stored tool call: inputs and results are cut to these many
// characters (a marker says so), so a tool that returns a whole web page
// does not grow the conversation without bound.
const (
	MaxToolInputChars  = 4_000
	MaxToolResultChars = 8_000
)

// Tool call outcomes.
const (
	// OutcomeOK is a tool that returned a result.
	OutcomeOK = "ok"
	// OutcomeError is a tool that failed; its result is the error the
	// model was shown.
	OutcomeError = "error"
)

// ToolCall is one tool the assistant ran during a turn.
type ToolCall struct {
	// ID orders the calls of a conversation.
	ID int64
	// ConversationID and UserMessageID locate the turn.
	ConversationID string
	UserMessageID  int64
	// Step is the model call (1, 2, ...) of the turn that asked for it.
	Step int
	// Tool is the tool's name.
	Tool string
	// Input is the tool's JSON input and Result what it returned, each
	// bounded (MaxToolInputChars, MaxToolResultChars).
	Input, Result string
	// Outcome is OutcomeOK or OutcomeError.
	Outcome string
	// Duration is how long the tool ran.
	Duration time.Duration
	// CreatedAt is when it was stored.
	CreatedAt time.Time
}

// Bound cuts s to at most n characters, marking the cut.
func Bound(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + fmt.Sprintf("… [cut: %d characters in all]", len(r))
}

// AddToolCall stores c, bounding its input and result.
func AddToolCall(ctx context.Context, db DB, c ToolCall) (ToolCall, error) {
	c.Input, c.Result = Bound(c.Input, MaxToolInputChars), Bound(c.Result, MaxToolResultChars)
	const q = `
INSERT INTO tool_calls (conversation_id, user_message_id, step, tool, input, result, outcome, duration_ms)
VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, $8)
RETURNING id, created_at`
	err := db.QueryRow(ctx, q, c.ConversationID, c.UserMessageID, c.Step, c.Tool, c.Input, c.Result, c.Outcome,
		c.Duration.Milliseconds()).Scan(&c.ID, &c.CreatedAt)
	if err != nil {
		return ToolCall{}, fmt.Errorf("add tool call: %w", err)
	}
	return c, nil
}

// ToolCalls returns the last limit tool calls of a conversation, oldest first.
func ToolCalls(ctx context.Context, db DB, conversationID string, limit int) ([]ToolCall, error) {
	if !validID(conversationID) {
		return nil, fmt.Errorf("conversation %q: %w", conversationID, ErrNotFound)
	}
	const q = `
SELECT * FROM (
    SELECT id, conversation_id::text, user_message_id, step, tool, input, result, outcome, duration_ms, created_at
    FROM tool_calls WHERE conversation_id = $1::uuid ORDER BY id DESC LIMIT $2
) t ORDER BY id`
	rows, err := db.Query(ctx, q, conversationID, limit)
	if err != nil {
		return nil, fmt.Errorf("tool calls: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (ToolCall, error) {
		var c ToolCall
		var ms int64
		err := r.Scan(&c.ID, &c.ConversationID, &c.UserMessageID, &c.Step, &c.Tool, &c.Input, &c.Result, &c.Outcome, &ms, &c.CreatedAt)
		c.Duration = time.Duration(ms) * time.Millisecond
		return c, err
	})
}

// AddScreenshot stores a PNG taken in a conversation and returns its id.
func AddScreenshot(ctx context.Context, db DB, conversationID string, png []byte) (int64, error) {
	var id int64
	err := db.QueryRow(ctx, `INSERT INTO screenshots (conversation_id, png) VALUES ($1::uuid, $2) RETURNING id`,
		conversationID, png).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("add screenshot: %w", err)
	}
	return id, nil
}

// Screenshot returns a stored PNG, or ErrNotFound.
func Screenshot(ctx context.Context, db DB, id int64) ([]byte, error) {
	var png []byte
	err := db.QueryRow(ctx, `SELECT png FROM screenshots WHERE id = $1`, id).Scan(&png)
	if err == pgx.ErrNoRows {
		return nil, fmt.Errorf("screenshot %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("screenshot %d: %w", id, err)
	}
	return png, nil
}
