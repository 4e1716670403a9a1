package httpapi

import (
	"errors"
	"net/http"
	"strings"

	"clawdbot.cloud/services/runtime/internal/respond"
	"clawdbot.cloud/services/runtime/internal/telegram"
)

// TelegramConnected is the answer to PUT /api/channels/telegram: the
// channel's state and the one-time pairing code.
type TelegramConnected struct {
	telegram.State
	PairingCode string `json:"pairing_code"`
}

// telegramReady answers 503 and returns false when the instance runs no
// Telegram channel.
func telegramReady(w http.ResponseWriter, o Options) bool {
	if o.Telegram == nil {
		respond.Error(w, http.StatusServiceUnavailable, "telegram is not available on this instance")
		return false
	}
	return true
}

// putTelegram answers PUT /api/channels/telegram {"bot_token"}: checks the
// token with Telegram, stores it sealed (replacing any bot) and answers the
// state with a pairing code, shown this once.
func putTelegram(o Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			BotToken string `json:"bot_token"`
		}
		if !decode(w, r, &req) || !telegramReady(w, o) {
			return
		}
		st, code, err := o.Telegram.Connect(r.Context(), strings.TrimSpace(req.BotToken))
		switch {
		case errors.Is(err, telegram.ErrBadToken):
			respond.Error(w, http.StatusBadRequest, err.Error())
		case errors.Is(err, telegram.ErrTokenRefused):
			respond.Error(w, http.StatusUnprocessableEntity, err.Error())
		case errors.Is(err, telegram.ErrUnavailable):
			respond.Error(w, http.StatusBadGateway, err.Error())
		case errors.Is(err, telegram.ErrNoKey):
			respond.Error(w, http.StatusServiceUnavailable, err.Error())
		case err != nil:
			internalError(w, o, "connect telegram", err)
		default:
			respond.JSON(w, http.StatusOK, TelegramConnected{State: st, PairingCode: code})
		}
	})
}

// getTelegram answers GET /api/channels/telegram: the state, never the
// token.
func getTelegram(o Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !telegramReady(w, o) {
			return
		}
		st, err := o.Telegram.State(r.Context())
		if err != nil {
			internalError(w, o, "read telegram channel", err)
			return
		}
		respond.JSON(w, http.StatusOK, st)
	})
}

// deleteTelegram answers DELETE /api/channels/telegram with 204, or 404
// when no bot is connected.
func deleteTelegram(o Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !telegramReady(w, o) {
			return
		}
		ok, err := o.Telegram.Disconnect(r.Context())
		switch {
		case err != nil:
			internalError(w, o, "disconnect telegram", err)
		case !ok:
			respond.Error(w, http.StatusNotFound, "no telegram bot is connected")
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	})
}

// telegramWebhook answers POST /telegram/webhook/{path_id}, Telegram's
// deliveries in webhook mode. It needs no API key: the random path id and
// the secret token header are the credential (checked by Deliver in
// constant time). 200 means the update is recorded; the turn runs after.
func telegramWebhook(o Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o.Telegram == nil {
			respond.Error(w, http.StatusNotFound, "not found")
			return
		}
		err := o.Telegram.Deliver(r.Context(), r.PathValue("path_id"), r.Header.Get(telegram.SecretHeader), r.Body)
		switch status := telegram.WebhookStatus(err); status {
		case http.StatusOK:
			w.WriteHeader(http.StatusOK)
		case http.StatusInternalServerError:
			internalError(w, o, "record telegram update", err)
		default:
			respond.Error(w, status, err.Error())
		}
	})
}
