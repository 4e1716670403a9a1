package customerdb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNotFound reports that a conversation, memory or other record does not
// exist (or, for ids, is not even well-formed: no record can have it).
var ErrNotFound = errors.New("customerdb: not found")

// Message roles.
const (
	// RoleUser marks what the customer wrote.
	RoleUser = "user"
	// RoleAssistant marks what the model answered.
	RoleAssistant = "assistant"
)

// Conversation is one chat thread.
type Conversation struct {
	// ID is a random UUID in its canonical text form.
	ID string
	// Title is a short label, taken from the first message.
	Title string
	// CreatedAt is when the conversation started.
	CreatedAt time.Time
	// UpdatedAt is when its last message was stored.
	UpdatedAt time.Time
	// Agent is the named agent the conversation is with; "" is the
	// instance's default agent.
	Agent string
}

// Message is one turn of a conversation.
type Message struct {
	// ID orders the messages of a conversation.
	ID int64
	// ConversationID is the conversation the message belongs to.
	ConversationID string
	// Role is RoleUser or RoleAssistant.
	Role string
	// Content is the message text.
	Content string
	// Model is the model that wrote an assistant message; empty for the user.
	Model string
	// InputTokens and OutputTokens are what an assistant message cost.
	InputTokens, OutputTokens int64
	// CreatedAt is when the message was stored.
	CreatedAt time.Time
}

// ConversationCursor is the position after which ListConversations
// continues: the last conversation of the previous page.
type ConversationCursor struct {
	UpdatedAt time.Time
	ID        string
}

// validID reports whether id is a UUID in canonical text form
// (8-4-4-4-12 hex digits), so a malformed id is ErrNotFound rather than a
// database error.
func validID(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
		default:
			return false
		}
	}
	return true
}

// CreateConversation starts a conversation with the given title.
func CreateConversation(ctx context.Context, db DB, title string) (Conversation, error) {
	const q = `INSERT INTO conversations (title) VALUES ($1) RETURNING id::text, title, created_at, updated_at`
	var c Conversation
	if err := db.QueryRow(ctx, q, title).Scan(&c.ID, &c.Title, &c.CreatedAt, &c.UpdatedAt); err != nil {
		return Conversation{}, fmt.Errorf("create conversation: %w", err)
	}
	return c, nil
}

// GetConversation returns the conversation with the given id, or
// ErrNotFound.
func GetConversation(ctx context.Context, db DB, id string) (Conversation, error) {
	if !validID(id) {
		return Conversation{}, fmt.Errorf("conversation %q: %w", id, ErrNotFound)
	}
	const q = `SELECT id::text, title, created_at, updated_at, agent FROM conversations WHERE id = $1::uuid`
	var c Conversation
	err := db.QueryRow(ctx, q, id).Scan(&c.ID, &c.Title, &c.CreatedAt, &c.UpdatedAt, &c.Agent)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return Conversation{}, fmt.Errorf("conversation %s: %w", id, ErrNotFound)
	case err != nil:
		return Conversation{}, fmt.Errorf("get conversation %s: %w", id, err)
	}
	return c, nil
}

// ListConversations returns up to limit conversations, most recently active
// first, starting after cursor (nil for the first page).
func ListConversations(ctx context.Context, db DB, limit int, after *ConversationCursor) ([]Conversation, error) {
	q := `SELECT id::text, title, created_at, updated_at, agent FROM conversations`
	args := []any{limit}
	if after != nil {
		q += ` WHERE (updated_at, id) < ($2, $3::uuid)`
		args = append(args, after.UpdatedAt, after.ID)
	}
	q += ` ORDER BY updated_at DESC, id DESC LIMIT $1`
	rows, err := db.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list conversations: %w", err)
	}
	cs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Conversation, error) {
		var c Conversation
		err := r.Scan(&c.ID, &c.Title, &c.CreatedAt, &c.UpdatedAt, &c.Agent)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("list conversations: %w", err)
	}
	return cs, nil
}

// DeleteConversation deletes a conversation and its messages, or returns
// ErrNotFound.
func DeleteConversation(ctx context.Context, db DB, id string) error {
	if !validID(id) {
		return fmt.Errorf("conversation %q: %w", id, ErrNotFound)
	}
	tag, err := db.Exec(ctx, `DELETE FROM conversations WHERE id = $1::uuid`, id)
	if err != nil {
		return fmt.Errorf("delete conversation %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("conversation %s: %w", id, ErrNotFound)
	}
	return nil
}

// AddMessage stores m in its conversation and marks the conversation as
// active; it returns m with its id and time. A conversation that does not
// exist (deleted meanwhile) yields ErrNotFound.
func AddMessage(ctx context.Context, db DB, m Message) (Message, error) {
	if !validID(m.ConversationID) {
		return Message{}, fmt.Errorf("conversation %q: %w", m.ConversationID, ErrNotFound)
	}
	// One statement: the conversation's update and the insert happen
	// together, and a missing conversation inserts nothing.
	const q = `
WITH c AS (
    UPDATE conversations SET updated_at = now() WHERE id = $1::uuid RETURNING id
)
INSERT INTO messages (conversation_id, role, content, model, input_tokens, output_tokens)
SELECT c.id, $2, $3, $4, $5, $6 FROM c
RETURNING id, created_at`
	err := db.QueryRow(ctx, q, m.ConversationID, m.Role, m.Content, m.Model, m.InputTokens, m.OutputTokens).
		Scan(&m.ID, &m.CreatedAt)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return Message{}, fmt.Errorf("conversation %s: %w", m.ConversationID, ErrNotFound)
	case err != nil:
		return Message{}, fmt.Errorf("add %s message to conversation %s: %w", m.Role, m.ConversationID, err)
	}
	return m, nil
}

// StartConversation creates a conversation with the given title and its
// first message, the customer's, in one statement (hence atomically).
func StartConversation(ctx context.Context, db DB, title, content string) (Conversation, Message, error) {
	return StartAgentConversation(ctx, db, "", title, content)
}

// StartAgentConversation is StartConversation with a named agent.
func StartAgentConversation(ctx context.Context, db DB, agent, title, content string) (Conversation, Message, error) {
	const q = `
WITH c AS (
    INSERT INTO conversations (title, agent) VALUES ($1, $3) RETURNING id, title, created_at, updated_at
), m AS (
    INSERT INTO messages (conversation_id, role, content) SELECT c.id, 'user', $2 FROM c RETURNING id, created_at
)
SELECT c.id::text, c.title, c.created_at, c.updated_at, m.id, m.created_at FROM c, m`
	c := Conversation{Agent: agent}
	m := Message{Role: RoleUser, Content: content}
	err := db.QueryRow(ctx, q, title, content, agent).Scan(&c.ID, &c.Title, &c.CreatedAt, &c.UpdatedAt, &m.ID, &m.CreatedAt)
	if err != nil {
		return Conversation{}, Message{}, fmt.Errorf("start conversation: %w", err)
	}
	m.ConversationID = c.ID
	return c, m, nil
}

// RecordReply stores the assistant's reply m and counts the turn in the
// usage of the UTC day containing at — one message and m's tokens — in one
// statement, hence one transaction, so usage never disagrees with the
// stored replies. A conversation deleted meanwhile yields ErrNotFound and
// counts nothing.
func RecordReply(ctx context.Context, db DB, m Message, at time.Time) (Message, error) {
	m.Role = RoleAssistant
	if !validID(m.ConversationID) {
		return Message{}, fmt.Errorf("record reply: conversation %q: %w", m.ConversationID, ErrNotFound)
	}
	const q = `
WITH c AS (
    UPDATE conversations SET updated_at = now() WHERE id = $1::uuid RETURNING id
), m AS (
    INSERT INTO messages (conversation_id, role, content, model, input_tokens, output_tokens)
    SELECT c.id, 'assistant', $2, $3, $4, $5 FROM c
    RETURNING id, created_at, input_tokens, output_tokens
), u AS (
    INSERT INTO usage_tracking (day, messages, input_tokens, output_tokens)
    SELECT $6::date, 1, m.input_tokens, m.output_tokens FROM m
    ON CONFLICT (day) DO UPDATE SET
        messages      = usage_tracking.messages      + excluded.messages,
        input_tokens  = usage_tracking.input_tokens  + excluded.input_tokens,
        output_tokens = usage_tracking.output_tokens + excluded.output_tokens
    RETURNING day
)
SELECT m.id, m.created_at FROM m, u`
	err := db.QueryRow(ctx, q, m.ConversationID, m.Content, m.Model, m.InputTokens, m.OutputTokens, day(at)).Scan(&m.ID, &m.CreatedAt)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return Message{}, fmt.Errorf("record reply: conversation %s: %w", m.ConversationID, ErrNotFound)
	case err != nil:
		return Message{}, fmt.Errorf("record reply: %w", err)
	}
	return m, nil
}

// Messages returns the last limit messages of a conversation in the order
// they were written.
func Messages(ctx context.Context, db DB, conversationID string, limit int) ([]Message, error) {
	if !validID(conversationID) {
		return nil, fmt.Errorf("conversation %q: %w", conversationID, ErrNotFound)
	}
	const q = `
SELECT id, conversation_id::text, role, content, model, input_tokens, output_tokens, created_at FROM (
    SELECT * FROM messages WHERE conversation_id = $1::uuid ORDER BY id DESC LIMIT $2
) last ORDER BY id`
	rows, err := db.Query(ctx, q, conversationID, limit)
	if err != nil {
		return nil, fmt.Errorf("read messages of %s: %w", conversationID, err)
	}
	ms, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Message, error) {
		var m Message
		err := r.Scan(&m.ID, &m.ConversationID, &m.Role, &m.Content, &m.Model, &m.InputTokens, &m.OutputTokens, &m.CreatedAt)
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("read messages of %s: %w", conversationID, err)
	}
	return ms, nil
}
