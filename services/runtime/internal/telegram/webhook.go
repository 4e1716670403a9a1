package telegram

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"clawdbot.cloud/pkg/customerdb"
)

// WebhookPathPrefix is where the runtime takes Telegram's deliveries:
// POST <public URL>/telegram/webhook/<path id>.
const WebhookPathPrefix = "/telegram/webhook/"

// SecretHeader carries the webhook's secret_token in every delivery.
const SecretHeader = "X-Telegram-Bot-Api-Secret-Token"

// MaxUpdateBytes bounds a delivery's body: the runtime asks only for
// messages, whose text is at most 4,096 characters.
const MaxUpdateBytes = 256 << 10

// Errors of Deliver: the delivery was refused and nothing was recorded.
var (
	// ErrWebhookUnknown is a path that is not this channel's webhook
	// (or no webhook is served now: polling, no bot, or starting).
	ErrWebhookUnknown = errors.New("no telegram webhook here")
	// ErrWebhookNoSecret is a delivery without the secret token header.
	ErrWebhookNoSecret = errors.New("missing " + SecretHeader)
	// ErrWebhookBadSecret is a delivery with a wrong secret token.
	ErrWebhookBadSecret = errors.New("wrong " + SecretHeader)
	// ErrBadUpdate is a body that is not an Update.
	ErrBadUpdate = errors.New("the body is not a Telegram update")
	// ErrUpdateTooLarge is a body over MaxUpdateBytes.
	ErrUpdateTooLarge = errors.New("the update is larger than 256 KiB")
)

// webhookTarget is what a delivery is checked against, published by the
// channel's webhook loop while it serves.
type webhookTarget struct {
	path, secret string
	botID        int64
	// wake tells the worker an update was recorded.
	wake chan struct{}
}

// Deliver takes one webhook delivery: the path id of the URL, the secret
// token header and the body. It checks path and secret in constant time
// before anything else (a refused delivery's body is not even read, and
// nothing of it reaches the database), then records the update by update_id — a redelivery records
// nothing — and returns; the channel's worker processes it. A nil error is
// Telegram's 200: the update is durable.
func (s *Service) Deliver(ctx context.Context, path, secret string, r io.Reader) error {
	t := s.hook.target.Load()
	switch {
	case t == nil || subtle.ConstantTimeCompare([]byte(path), []byte(t.path)) != 1:
		s.hook.refused.Add(1)
		return ErrWebhookUnknown
	case secret == "":
		s.hook.refused.Add(1)
		return ErrWebhookNoSecret
	case subtle.ConstantTimeCompare([]byte(secret), []byte(t.secret)) != 1:
		s.hook.refused.Add(1)
		return ErrWebhookBadSecret
	}
	body, err := io.ReadAll(io.LimitReader(r, MaxUpdateBytes+1))
	if err != nil || len(body) > MaxUpdateBytes {
		s.hook.refused.Add(1)
		return ErrUpdateTooLarge
	}
	u, err := parseUpdate(body)
	if err != nil {
		s.hook.refused.Add(1)
		return err
	}
	var chatID int64
	if u.Message != nil {
		chatID = u.Message.Chat.ID
	}
	fresh, err := customerdb.ReceiveTelegramUpdate(ctx, s.DB, t.botID, u.UpdateID, chatID, body)
	if errors.Is(err, customerdb.ErrNoTelegramChannel) {
		// Disconnected or replaced since the target was published.
		return ErrWebhookUnknown
	}
	if err != nil {
		return err
	}
	s.hook.delivered.Add(1)
	if fresh {
		select {
		case t.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// parseUpdate reads a delivery's body: one JSON object with a positive
// update_id (and, if any, a message of the shape the runtime reads).
func parseUpdate(body []byte) (Update, error) {
	var u Update
	if err := json.Unmarshal(body, &u); err != nil || u.UpdateID <= 0 {
		return Update{}, ErrBadUpdate
	}
	return u, nil
}

// runWebhook serves the channel by webhook: it publishes the target
// deliveries are checked against, sets the webhook at Telegram (again at
// every start: it costs one call and repairs a webhook changed elsewhere),
// and processes recorded updates, oldest first, until ctx ends.
func (p *channel) runWebhook(ctx context.Context) {
	path, secret, ok := p.webhookCredentials(ctx)
	if !ok {
		return
	}
	t := &webhookTarget{path: path, secret: secret, botID: p.ch.BotID, wake: make(chan struct{}, 1)}
	p.s.hook.target.Store(t)
	defer p.s.hook.target.CompareAndSwap(t, nil)

	url := strings.TrimRight(p.s.PublicURL, "/") + WebhookPathPrefix + path
	for backoff := minBackoff; ; backoff = min(backoff*2, maxBackoff) {
		err := p.c.setWebhook(ctx, url, secret)
		if err == nil {
			break
		}
		if Unauthorized(err) {
			p.s.breakChannel(ctx, p.ch, "Telegram refused the bot token (401 Unauthorized): it was revoked in BotFather or the bot was deleted. Connect the bot again with a new token.")
			<-ctx.Done()
			return
		}
		var apiErr *APIError
		wait := backoff
		if errors.As(err, &apiErr) && apiErr.RetryAfter > 0 {
			wait = time.Duration(apiErr.RetryAfter) * time.Second
		}
		if ctx.Err() == nil {
			p.log.Warn("telegram: setWebhook", "err", err, "retry_in", wait)
		}
		if !sleep(ctx, wait) {
			return
		}
	}
	if err := customerdb.SetTelegramWebhookURL(ctx, p.s.DB, p.ch.BotID, url); err != nil {
		p.log.Warn("telegram: record webhook", "err", err)
	}
	p.log.Info("telegram: webhook set", "bot_username", p.ch.BotUsername)
	for {
		p.processReceived(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.wake:
		}
	}
}

// webhookCredentials returns the channel's webhook path id and secret
// token, made (random) and stored on its first webhook start.
func (p *channel) webhookCredentials(ctx context.Context) (path, secret string, ok bool) {
	path, sealed := p.ch.WebhookPath, p.ch.WebhookSecretSealed
	for path == "" || sealed == nil {
		var err error
		path, sealed, err = customerdb.InitTelegramWebhook(ctx, p.s.DB, p.ch.BotID,
			randomHex(16), p.s.Sealer.SealWebhookSecret(randomSecret()))
		if err == nil {
			break
		}
		p.log.Warn("telegram: store webhook credentials", "err", err)
		if !sleep(ctx, minBackoff*5) {
			return "", "", false
		}
	}
	secret, err := p.s.Sealer.OpenWebhookSecret(sealed)
	if err != nil {
		p.s.breakChannel(ctx, p.ch, "the stored webhook secret cannot be decrypted (the instance token changed): connect the bot again")
		<-ctx.Done()
		return "", "", false
	}
	return path, secret, true
}

// processReceived processes the updates deliveries recorded, oldest first,
// until none is left or ctx ends. Each is begun (started) as it is taken,
// so a crash mid-turn is never rerun, while one recorded but not begun is
// processed at the next start.
func (p *channel) processReceived(ctx context.Context) {
	for ctx.Err() == nil {
		r, ok, err := customerdb.BeginNextTelegramUpdate(ctx, p.s.DB, p.ch.BotID)
		if err != nil {
			if ctx.Err() == nil {
				p.log.Warn("telegram: begin received update", "err", err)
			}
			if !sleep(ctx, minBackoff) {
				return
			}
			continue
		}
		if !ok {
			return
		}
		u, err := parseUpdate(r.Payload)
		if err != nil {
			u = Update{} // checked by Deliver; processed as nothing
		}
		u.UpdateID = r.UpdateID
		p.process(ctx, u)
	}
}

// randomHex is n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// randomSecret is a secret_token: 32 random bytes in base64url, 43 of the
// characters Telegram allows (A-Z, a-z, 0-9, _ and -).
func randomSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// WebhookStatus maps Deliver's error to the answer's status.
func WebhookStatus(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrWebhookUnknown):
		return http.StatusNotFound
	case errors.Is(err, ErrWebhookNoSecret):
		return http.StatusUnauthorized
	case errors.Is(err, ErrWebhookBadSecret):
		return http.StatusForbidden
	case errors.Is(err, ErrBadUpdate):
		return http.StatusBadRequest
	case errors.Is(err, ErrUpdateTooLarge):
		return http.StatusRequestEntityTooLarge
	default:
		return http.StatusInternalServerError
	}
}
