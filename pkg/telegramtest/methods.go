package telegramtest

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// serve routes /bot<token>/<method>.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	rest, found := strings.CutPrefix(r.URL.Path, "/bot")
	token, method, cut := strings.Cut(rest, "/")
	if !found || !cut || token == "" || method == "" {
		fail(w, http.StatusNotFound, "Not Found")
		return
	}
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		fail(w, http.StatusMethodNotAllowed, "Method Not Allowed")
		return
	}
	s.mu.Lock()
	s.calls[method]++
	b, known := s.bots[token]
	revoked := known && b.revoked
	s.mu.Unlock()
	if !known || revoked {
		fail(w, http.StatusUnauthorized, "Unauthorized")
		return
	}
	params, err := readParams(r)
	if err != nil {
		s.reject(method, err)
		fail(w, http.StatusBadRequest, "Bad Request: "+err.Error())
		return
	}
	if _, exists := s.spec.Methods[method]; !exists {
		s.reject(method, fmt.Errorf("no such method"))
		fail(w, http.StatusNotFound, "Not Found")
		return
	}
	if err := s.spec.CheckCall(method, roundTrip(params).(map[string]any)); err != nil {
		s.reject(method, err)
		fail(w, http.StatusBadRequest, "Bad Request: "+err.Error())
		return
	}
	switch method {
	case "getMe":
		s.answer(w, "User", map[string]any{"id": b.id, "is_bot": true, "first_name": b.username,
			"username": b.username, "can_join_groups": false, "can_read_all_group_messages": false,
			"supports_inline_queries": false})
	case "getUpdates":
		s.getUpdates(w, r, token, b, params)
	case "sendMessage":
		s.sendMessage(w, b, params)
	case "sendChatAction":
		s.sendChatAction(w, b, params)
	case "setWebhook":
		s.setWebhook(w, b, params)
	case "deleteWebhook":
		drop, _ := params["drop_pending_updates"].(bool)
		s.deleteWebhook(w, b, drop)
	case "getWebhookInfo":
		s.getWebhookInfo(w, b)
	default:
		// A valid call this server does not implement: the test uses more
		// of the API than the server knows, which is the server's gap.
		s.reject(method, fmt.Errorf("valid, but not implemented by telegramtest"))
		fail(w, http.StatusNotImplemented, "telegramtest does not implement "+method)
	}
}

// reject records a call the definition refused.
func (s *Server) reject(method string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejected = append(s.rejected, method+": "+err.Error())
}

// answer checks result against the definition's type and sends it.
func (s *Server) answer(w http.ResponseWriter, typeName string, result map[string]any) {
	if err := s.spec.CheckObject(typeName, roundTrip(result)); err != nil {
		s.tb.Errorf("telegramtest: answer does not match the definition: %v", err)
	}
	ok(w, result)
}

func (s *Server) getUpdates(w http.ResponseWriter, r *http.Request, token string, b *bot, params map[string]any) {
	offset, _ := params["offset"].(float64)
	limit := 100.0
	if l, ok := params["limit"].(float64); ok && l >= 1 && l <= 100 {
		limit = l
	}
	timeout, _ := params["timeout"].(float64)
	timeout = min(max(timeout, 0), maxPollTimeout)

	s.mu.Lock()
	if b.webhook != "" {
		s.mu.Unlock()
		fail(w, http.StatusConflict, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first")
		return
	}
	// A newer request ends the one in flight, as Telegram does.
	if b.poll != nil {
		close(b.poll)
	}
	mine := make(chan struct{})
	b.poll = mine
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if b.poll == mine {
			b.poll = nil
		}
		s.mu.Unlock()
	}()

	deadline := time.After(time.Duration(timeout * float64(time.Second)))
	for {
		s.mu.Lock()
		if b.revoked {
			s.mu.Unlock()
			fail(w, http.StatusUnauthorized, "Unauthorized")
			return
		}
		// Confirm (forget) every update below offset.
		if offset > 0 {
			b.updates = slices.DeleteFunc(b.updates, func(u map[string]any) bool {
				return float64(u["update_id"].(int64)) < offset
			})
		}
		var out []any
		for _, u := range b.updates {
			if len(out) == int(limit) {
				break
			}
			out = append(out, u)
			b.received = append(b.received, u["update_id"].(int64))
		}
		arrived := b.arrived
		s.mu.Unlock()
		if len(out) > 0 || timeout == 0 {
			if out == nil {
				out = []any{}
			}
			ok(w, out)
			return
		}
		select {
		case <-arrived:
		case <-mine:
			fail(w, http.StatusConflict, "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running")
			return
		case <-deadline:
			ok(w, []any{})
			return
		case <-r.Context().Done():
			return
		}
	}
}

// chatOf returns the chat a call names, or answers 400 "chat not found".
func (s *Server) chatOf(w http.ResponseWriter, b *bot, params map[string]any) (int64, bool) {
	id, isNum := params["chat_id"].(float64)
	s.mu.Lock()
	_, known := b.chats[int64(id)]
	s.mu.Unlock()
	if !isNum || !known {
		fail(w, http.StatusBadRequest, "Bad Request: chat not found")
		return 0, false
	}
	return int64(id), true
}

func (s *Server) sendMessage(w http.ResponseWriter, b *bot, params map[string]any) {
	chatID, found := s.chatOf(w, b, params)
	if !found {
		return
	}
	text := params["text"].(string)
	mode, _ := params["parse_mode"].(string)
	switch {
	case strings.TrimSpace(text) == "":
		fail(w, http.StatusBadRequest, "Bad Request: message text is empty")
		return
	case utf16Len(text) > MaxMessageLen:
		fail(w, http.StatusBadRequest, "Bad Request: message is too long")
		return
	case mode == "MarkdownV2":
		if err := checkMarkdownV2(text); err != nil {
			fail(w, http.StatusBadRequest, "Bad Request: can't parse entities: "+err.Error())
			return
		}
	case mode != "":
		s.reject("sendMessage", fmt.Errorf("parse_mode %q: telegramtest checks only MarkdownV2", mode))
		fail(w, http.StatusBadRequest, "Bad Request: unsupported parse_mode")
		return
	}
	s.mu.Lock()
	msgID := b.nextMsg
	b.nextMsg++
	user := b.chats[chatID]
	b.sent = append(b.sent, Message{ChatID: chatID, MessageID: msgID, Text: text, ParseMode: mode, Time: time.Now()})
	s.mu.Unlock()
	s.answer(w, "Message", map[string]any{
		"message_id": msgID,
		"from":       map[string]any{"id": b.id, "is_bot": true, "first_name": b.username, "username": b.username},
		"chat":       map[string]any{"id": chatID, "type": "private", "first_name": user.FirstName},
		"date":       time.Now().Unix(),
		"text":       text,
	})
}

func (s *Server) sendChatAction(w http.ResponseWriter, b *bot, params map[string]any) {
	chatID, found := s.chatOf(w, b, params)
	if !found {
		return
	}
	action := params["action"].(string)
	if !slices.Contains(chatActions, action) {
		fail(w, http.StatusBadRequest, "Bad Request: wrong parameter action in request")
		return
	}
	s.mu.Lock()
	b.actions = append(b.actions, Action{ChatID: chatID, Action: action, Time: time.Now()})
	s.mu.Unlock()
	ok(w, true)
}

// markdownV2Reserved are the characters MarkdownV2 reserves outside entities.
const markdownV2Reserved = "_*[]()~`>#+-=|{}.!"

// checkMarkdownV2 is Telegram's rule for text without entities: every
// reserved character is escaped with a preceding backslash. (Text that uses
// formatting is beyond this server; a bot escaping a model's reply sends
// none.)
func checkMarkdownV2(text string) error {
	escaped := false
	for i, c := range text {
		switch {
		case escaped:
			escaped = false
		case c == '\\':
			escaped = true
		case strings.ContainsRune(markdownV2Reserved, c):
			return fmt.Errorf("character '%c' is reserved and must be escaped with the preceding '\\' (byte offset %d)", c, i)
		}
	}
	return nil
}
