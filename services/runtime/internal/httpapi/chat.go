package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/services/runtime/internal/agents"
	"clawdbot.cloud/services/runtime/internal/chat"
	"clawdbot.cloud/services/runtime/internal/llm"
	"clawdbot.cloud/services/runtime/internal/respond"
)

// defaultRetryAfter is the Retry-After of an upstream rate limit that came
// without one.
const defaultRetryAfter = 30 * time.Second

// chatRequest is the body of POST /api/chat.
type chatRequest struct {
	Message        string `json:"message"`
	ConversationID string `json:"conversation_id"`
	Stream         bool   `json:"stream"`
	Agent          string `json:"agent"`
}

// ChatResponse is the answer to POST /api/chat, and the data of the final
// "done" event of a stream.
type ChatResponse struct {
	ConversationID string     `json:"conversation_id"`
	UserMessageID  int64      `json:"user_message_id"`
	MessageID      int64      `json:"message_id"`
	Reply          string     `json:"reply"`
	Model          string     `json:"model"`
	Usage          TokenUsage `json:"usage"`
	// ToolCalls is how many tools ran in the turn.
	ToolCalls int `json:"tool_calls"`
	// Agent is the named agent that answered; empty for the default.
	Agent string `json:"agent,omitempty"`
}

// TokenUsage is what a turn cost.
type TokenUsage struct {
	InputTokens  int64 `json:"input_tokens"`
	OutputTokens int64 `json:"output_tokens"`
}

// ChatError is the body of a failed chat turn. ConversationID is set when
// the customer's message was stored before the failure: send the next
// message there to continue.
type ChatError struct {
	Error          string     `json:"error"`
	ConversationID string     `json:"conversation_id,omitempty"`
	ResetAt        *time.Time `json:"reset_at,omitempty"`
	Status         int        `json:"status,omitempty"`
}

// chatHandler answers POST /api/chat. With "stream": true the answer is a
// text/event-stream of events:
//
//	start  {"conversation_id", "user_message_id"}
//	delta  {"text"}                 one per piece of the reply
//	tool   {"id","name","status","duration_ms"?,"server"?}  a tool running, done or failed
//	done   ChatResponse             the stored reply and its usage
//	error  ChatError (with status)  the model failed after streaming began
//
// Until the first piece of the reply arrives nothing is sent, so a failure
// before it (quota, provider rate limit, timeout) is an ordinary JSON error
// with its proper status.
func chatHandler(o Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req chatRequest
		if !decode(w, r, &req) {
			return
		}
		if err := chat.Check(req.Message); err != nil {
			writeChatError(w, o, err, chat.Result{})
			return
		}
		// The turn may outlast the server's write timeout.
		rc := http.NewResponseController(w)
		_ = rc.SetWriteDeadline(time.Now().Add(o.Chat.TurnTimeout + time.Minute))

		turn := chat.Request{Message: req.Message, ConversationID: req.ConversationID, Agent: req.Agent}
		if !req.Stream {
			res, err := o.Chat.Turn(r.Context(), turn, nil)
			if err != nil {
				writeChatError(w, o, err, res)
				return
			}
			respond.JSON(w, http.StatusOK, response(res))
			return
		}
		s := &sse{w: w, rc: rc}
		var started bool
		var stored chat.Result
		start := func() {
			if !started {
				started = true
				s.open()
				s.event("start", map[string]any{"conversation_id": stored.ConversationID, "user_message_id": stored.UserMessageID})
			}
		}
		res, err := o.Chat.Turn(r.Context(), turn, func(res chat.Result, e chat.Event) error {
			stored = res
			start()
			if e.Tool != nil {
				return s.event("tool", e.Tool)
			}
			return s.event("delta", map[string]string{"text": e.Text})
		})
		switch {
		case err != nil && !started:
			writeChatError(w, o, err, res)
		case err != nil:
			status, body, _ := chatError(o, err, res)
			body.Status = status
			_ = s.event("error", body)
		default:
			stored = res
			start()
			_ = s.event("done", response(res))
		}
	})
}

func response(res chat.Result) ChatResponse {
	return ChatResponse{
		ConversationID: res.ConversationID, UserMessageID: res.UserMessageID, MessageID: res.MessageID,
		Reply: res.Reply, Model: res.Model, ToolCalls: res.ToolCalls, Agent: res.Agent,
		Usage: TokenUsage{InputTokens: res.InputTokens, OutputTokens: res.OutputTokens},
	}
}

func writeChatError(w http.ResponseWriter, o Options, err error, res chat.Result) {
	status, body, retryAfter := chatError(o, err, res)
	if retryAfter > 0 {
		w.Header().Set("Retry-After", seconds(retryAfter))
	}
	respond.JSON(w, status, body)
}

// storageFullMessage answers a write the storage cap refused (507).
const storageFullMessage = "storage full: your memories and conversations have reached your plan's storage limit; " +
	"nothing was stored and nothing already stored was lost. Delete memories or conversations, or upgrade your plan"

// chatError maps a failed turn to its answer: client mistakes to 4xx, the
// quota to 429 with its reset date, a full storage to 507, a missing provider to 503, the
// provider's rate limit to 429, its failures and timeouts to 502.
func chatError(o Options, err error, res chat.Result) (int, ChatError, time.Duration) {
	body := ChatError{Error: err.Error(), ConversationID: res.ConversationID}
	var tooLong *chat.TooLongError
	var quota *chat.QuotaError
	var none *chat.NotConfiguredError
	var up *llm.Error
	switch {
	case errors.Is(err, chat.ErrEmptyMessage), errors.Is(err, chat.ErrInvalidMessage):
		return http.StatusBadRequest, body, 0
	case errors.As(err, &tooLong):
		return http.StatusRequestEntityTooLarge, body, 0
	case errors.Is(err, chat.ErrConversationNotFound), errors.Is(err, agents.ErrNotFound):
		return http.StatusNotFound, body, 0
	case errors.Is(err, agents.ErrNotInPlan):
		return http.StatusForbidden, body, 0
	case errors.Is(err, agents.ErrInvalidName):
		return http.StatusBadRequest, body, 0
	case errors.Is(err, chat.ErrAgentMismatch):
		return http.StatusConflict, body, 0
	case errors.As(err, &quota):
		reset := quota.Status.ResetAt
		body.ResetAt = &reset
		return http.StatusTooManyRequests, body, reset.Sub(o.Now())
	case errors.As(err, &none):
		return http.StatusServiceUnavailable, body, 0
	case errors.As(err, &up):
		o.Log.Warn("chat: model call failed", "provider", up.Provider, "kind", up.Kind.String(),
			"upstream_status", up.Status, "upstream_type", up.Type, "err", up.Err)
		switch up.Kind {
		case llm.RateLimited:
			body.Error = "the model provider is rate limiting this platform; try again later"
			return http.StatusTooManyRequests, body, cmpOr(up.RetryAfter, defaultRetryAfter)
		case llm.Timeout:
			body.Error = fmt.Sprintf("the model did not answer within %s; try again", o.Chat.Timeout)
			var turn *chat.TurnTimeoutError
			if errors.As(err, &turn) {
				body.Error = turn.Error() + "; try a smaller request"
			}
			return http.StatusBadGateway, body, 0
		case llm.Rejected:
			body.Error = fmt.Sprintf("the model provider rejected the request (HTTP %d): %v", up.Status, up.Err)
			return http.StatusBadGateway, body, 0
		default:
			body.Error = "the model provider is unavailable; try again later"
			return http.StatusBadGateway, body, up.RetryAfter
		}
	case customerdb.IsStorageFull(err):
		body.Error = storageFullMessage
		return http.StatusInsufficientStorage, body, 0
	case errors.Is(err, context.Canceled):
		return 499, body, 0 // the client went away; nobody reads this
	default:
		o.Log.Error("chat turn failed", "err", err)
		body.Error = "internal error"
		return http.StatusInternalServerError, body, 0
	}
}

func cmpOr(d, fallback time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return fallback
}

// sse writes server-sent events.
type sse struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (s *sse) open() {
	h := s.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // proxies: do not buffer the stream
	s.w.WriteHeader(http.StatusOK)
}

func (s *sse) event(name string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(s.w, "event: %s\ndata: %s\n\n", name, b); err != nil {
		return err
	}
	return s.rc.Flush()
}
