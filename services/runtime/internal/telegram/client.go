package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// DefaultBaseURL is the Bot API's root (TELEGRAM_API_BASE_URL overrides it).
const DefaultBaseURL = "https://api.telegram.org"

// maxAnswerBytes bounds an API answer read (100 updates of long messages
// fit many times over).
const maxAnswerBytes = 8 << 20

// APIError is an answer with "ok": false.
type APIError struct {
	// Code is error_code, the HTTP status Telegram chose (401, 409, 429...).
	Code int
	// Description is Telegram's text.
	Description string
	// RetryAfter is parameters.retry_after in seconds (429), 0 if none.
	RetryAfter int
}

func (e *APIError) Error() string {
	return fmt.Sprintf("telegram: %d %s", e.Code, e.Description)
}

// Unauthorized reports whether err is Telegram refusing the token (revoked,
// or the bot deleted).
func Unauthorized(err error) bool {
	var e *APIError
	return errors.As(err, &e) && (e.Code == http.StatusUnauthorized || e.Code == http.StatusNotFound)
}

// client calls the Bot API with one bot's token. The token is part of every
// URL, so no URL is ever logged or put in an error.
type client struct {
	base  string
	token string
	http  *http.Client
}

// call posts params as JSON to method and decodes the result into out.
func (c *client) call(ctx context.Context, method string, params, out any) error {
	var body io.Reader = http.NoBody
	if params != nil {
		b, err := json.Marshal(params)
		if err != nil {
			return fmt.Errorf("telegram %s: %w", method, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.base, "/")+"/bot"+c.token+"/"+method, body)
	if err != nil {
		return fmt.Errorf("telegram %s: bad base URL", method)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		// url.Error carries the URL, and the URL carries the token.
		if ctx.Err() != nil {
			return fmt.Errorf("telegram %s: %w", method, ctx.Err())
		}
		return fmt.Errorf("telegram %s: request failed", method)
	}
	defer resp.Body.Close()
	var answer struct {
		OK          bool            `json:"ok"`
		Result      json.RawMessage `json:"result"`
		ErrorCode   int             `json:"error_code"`
		Description string          `json:"description"`
		Parameters  struct {
			RetryAfter int `json:"retry_after"`
		} `json:"parameters"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxAnswerBytes)).Decode(&answer); err != nil {
		return &APIError{Code: resp.StatusCode, Description: "unreadable answer (" + resp.Status + ")"}
	}
	if !answer.OK {
		code := answer.ErrorCode
		if code == 0 {
			code = resp.StatusCode
		}
		return &APIError{Code: code, Description: answer.Description, RetryAfter: answer.Parameters.RetryAfter}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(answer.Result, out); err != nil {
		return fmt.Errorf("telegram %s: decode result: %w", method, err)
	}
	return nil
}

// User is the part of Telegram's User the runtime reads.
type User struct {
	ID        int64  `json:"id"`
	IsBot     bool   `json:"is_bot"`
	FirstName string `json:"first_name"`
	Username  string `json:"username"`
}

// Chat is the part of Telegram's Chat the runtime reads.
type Chat struct {
	ID   int64  `json:"id"`
	Type string `json:"type"`
}

// Message is the part of Telegram's Message the runtime reads.
type Message struct {
	MessageID int64  `json:"message_id"`
	From      *User  `json:"from"`
	Chat      Chat   `json:"chat"`
	Date      int64  `json:"date"`
	Text      string `json:"text"`
}

// Update is one incoming update; the runtime asks only for messages.
type Update struct {
	UpdateID int64    `json:"update_id"`
	Message  *Message `json:"message"`
}

func (c *client) getMe(ctx context.Context) (User, error) {
	var u User
	err := c.call(ctx, "getMe", nil, &u)
	return u, err
}

// getUpdates long-polls for up to timeout.
func (c *client) getUpdates(ctx context.Context, offset int64, timeout time.Duration) ([]Update, error) {
	var ups []Update
	err := c.call(ctx, "getUpdates", map[string]any{
		"offset": offset, "timeout": int(timeout / time.Second), "allowed_updates": []string{"message"},
	}, &ups)
	return ups, err
}

// sendMessage sends text as plain text (no parse_mode, so nothing in a
// model's reply is taken for markup and nothing needs escaping).
func (c *client) sendMessage(ctx context.Context, chatID int64, text string) error {
	return c.call(ctx, "sendMessage", map[string]any{"chat_id": chatID, "text": text}, nil)
}

func (c *client) sendChatAction(ctx context.Context, chatID int64, action string) error {
	return c.call(ctx, "sendChatAction", map[string]any{"chat_id": chatID, "action": action}, nil)
}

// webhookConnections bounds Telegram's simultaneous deliveries (its
// default is 40): each takes one of the instance's 4 database connections
// for a moment, and one worker processes them in order anyway.
const webhookConnections = 4

// setWebhook has Telegram POST the bot's message updates to url with
// secret in the secret header.
func (c *client) setWebhook(ctx context.Context, url, secret string) error {
	return c.call(ctx, "setWebhook", map[string]any{
		"url": url, "secret_token": secret, "allowed_updates": []string{"message"},
		"max_connections": webhookConnections,
	}, nil)
}

func (c *client) deleteWebhook(ctx context.Context) error {
	return c.call(ctx, "deleteWebhook", map[string]any{"drop_pending_updates": false}, nil)
}
