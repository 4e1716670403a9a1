package httpapi

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/services/runtime/internal/respond"
)

// maxMessagesShown bounds the messages GET /api/conversations/{id} returns:
// the latest ones.
const maxMessagesShown = 1000

// ConversationBody is a conversation in lists.
type ConversationBody struct {
	ID        string    `json:"id"`
	Title     string    `json:"title"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// Agent is the named agent of the conversation; empty for the default.
	Agent string `json:"agent,omitempty"`
}

// ToolCallBody is a tool the assistant ran in a conversation.
type ToolCallBody struct {
	ID            int64     `json:"id"`
	UserMessageID int64     `json:"user_message_id"`
	Step          int       `json:"step"`
	Tool          string    `json:"tool"`
	Input         string    `json:"input"`
	Result        string    `json:"result"`
	Outcome       string    `json:"outcome"`
	DurationMS    int64     `json:"duration_ms"`
	CreatedAt     time.Time `json:"created_at"`
}

// MessageBody is one message of a conversation.
type MessageBody struct {
	ID           int64     `json:"id"`
	Role         string    `json:"role"`
	Content      string    `json:"content"`
	Model        string    `json:"model,omitempty"`
	InputTokens  int64     `json:"input_tokens,omitempty"`
	OutputTokens int64     `json:"output_tokens,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
}

// ConversationDetail is a conversation with its (latest) messages.
type ConversationDetail struct {
	ConversationBody
	Messages []MessageBody `json:"messages"`
	// ToolCalls are the tools run in the conversation, oldest first
	// (bounded inputs and results).
	ToolCalls []ToolCallBody `json:"tool_calls"`
}

// ConversationList is a page of conversations. NextCursor, when set, is the
// cursor of the next page.
type ConversationList struct {
	Conversations []ConversationBody `json:"conversations"`
	NextCursor    string             `json:"next_cursor,omitempty"`
}

func conversationBody(c customerdb.Conversation) ConversationBody {
	return ConversationBody{ID: c.ID, Title: c.Title, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt, Agent: c.Agent}
}

// listConversations answers GET /api/conversations?limit=&cursor=.
func listConversations(o Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit, ok := limitParam(w, r)
		if !ok {
			return
		}
		var after *customerdb.ConversationCursor
		if v := r.URL.Query().Get("cursor"); v != "" {
			c, err := parseConversationCursor(v)
			if err != nil {
				respond.Error(w, http.StatusBadRequest, "cursor is not one this API returned")
				return
			}
			after = &c
		}
		cs, err := customerdb.ListConversations(r.Context(), o.DB, limit+1, after)
		if err != nil {
			internalError(w, o, "list conversations", err)
			return
		}
		out := ConversationList{Conversations: []ConversationBody{}}
		for i, c := range cs {
			if i == limit {
				last := cs[limit-1]
				out.NextCursor = conversationCursor(last.UpdatedAt, last.ID)
				break
			}
			out.Conversations = append(out.Conversations, conversationBody(c))
		}
		respond.JSON(w, http.StatusOK, out)
	})
}

// conversationCursor encodes a position in the list: the last item's
// update time (nanoseconds) and id.
func conversationCursor(at time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at.UnixNano(), 10) + "." + id))
}

func parseConversationCursor(s string) (customerdb.ConversationCursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return customerdb.ConversationCursor{}, err
	}
	ns, id, ok := strings.Cut(string(b), ".")
	n, err := strconv.ParseInt(ns, 10, 64)
	if !ok || err != nil || len(id) != 36 {
		return customerdb.ConversationCursor{}, errors.New("malformed cursor")
	}
	return customerdb.ConversationCursor{UpdatedAt: time.Unix(0, n), ID: id}, nil
}

// getConversation answers GET /api/conversations/{id}.
func getConversation(o Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := customerdb.GetConversation(r.Context(), o.DB, r.PathValue("id"))
		if errors.Is(err, customerdb.ErrNotFound) {
			respond.Error(w, http.StatusNotFound, "conversation not found")
			return
		}
		if err != nil {
			internalError(w, o, "get conversation", err)
			return
		}
		ms, err := customerdb.Messages(r.Context(), o.DB, c.ID, maxMessagesShown)
		if err != nil {
			internalError(w, o, "read messages", err)
			return
		}
		calls, err := customerdb.ToolCalls(r.Context(), o.DB, c.ID, maxMessagesShown)
		if err != nil {
			internalError(w, o, "read tool calls", err)
			return
		}
		out := ConversationDetail{ConversationBody: conversationBody(c), Messages: make([]MessageBody, len(ms)),
			ToolCalls: make([]ToolCallBody, len(calls))}
		for i, m := range ms {
			out.Messages[i] = MessageBody{ID: m.ID, Role: m.Role, Content: m.Content, Model: m.Model,
				InputTokens: m.InputTokens, OutputTokens: m.OutputTokens, CreatedAt: m.CreatedAt}
		}
		for i, tc := range calls {
			out.ToolCalls[i] = ToolCallBody{ID: tc.ID, UserMessageID: tc.UserMessageID, Step: tc.Step, Tool: tc.Tool,
				Input: tc.Input, Result: tc.Result, Outcome: tc.Outcome, DurationMS: tc.Duration.Milliseconds(), CreatedAt: tc.CreatedAt}
		}
		respond.JSON(w, http.StatusOK, out)
	})
}

// deleteConversation answers DELETE /api/conversations/{id} with 204.
func deleteConversation(o Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := customerdb.DeleteConversation(r.Context(), o.DB, r.PathValue("id"))
		switch {
		case errors.Is(err, customerdb.ErrNotFound):
			respond.Error(w, http.StatusNotFound, "conversation not found")
		case err != nil:
			internalError(w, o, "delete conversation", err)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	})
}

// internalError logs err and answers 500 without details.
func internalError(w http.ResponseWriter, o Options, what string, err error) {
	o.Log.Error(what, "err", err)
	respond.Error(w, http.StatusInternalServerError, "internal error")
}
