package telegram

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/services/runtime/internal/observe"
)

// Texts the bot sends besides the assistant's replies.
const (
	textRefusal  = "Hello! This is a private assistant: it answers only its owner, so I cannot help you here. Sorry!"
	textPaired   = "Paired: I now answer you here, as in the web app. Send me a message."
	textAlready  = "You are already paired: just send me a message."
	textUnpaired = "This assistant is not paired yet. Its owner pairs it by sending /start followed by the pairing code shown when the bot was connected."
	textResend   = "Sorry, I was restarted while answering your last message and could not finish it. Please send it again."
	textFailed   = "Sorry, something went wrong while answering. Please try again."
	textNoModel  = "The assistant has no model configured yet, so it cannot answer."
	textEmpty    = "(no reply)"
	textOnlyText = "I can read text messages only, for now."
)

// Poller timing.
const (
	// typingEvery renews the typing indicator, which Telegram shows for 5 s.
	typingEvery = 4 * time.Second
	// drainTimeout bounds a turn in flight once the runtime stops.
	drainTimeout = 10 * time.Second
	// pruneAfter is how long finished updates are kept.
	pruneAfter = 7 * 24 * time.Hour
	// minBackoff and maxBackoff bound the wait after a failed poll.
	minBackoff = time.Second
	maxBackoff = time.Minute
)

// Run serves the connected bot — long polling, or its webhook when the
// instance has a public https URL — until ctx is canceled; Connect and
// Disconnect restart it. A broken or missing channel waits for the next
// Connect.
func (s *Service) Run(ctx context.Context) error {
	for {
		pctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.serveChannel(pctx)
		}()
		select {
		case <-ctx.Done():
			cancel()
			<-done
			return nil
		case <-s.reload:
			cancel()
			<-done
		}
	}
}

// serveChannel serves the channel as stored now, until ctx ends or it breaks.
func (s *Service) serveChannel(ctx context.Context) {
	// Reading the settings is the channel starting, not the instance's
	// activity (an instance with no bot would otherwise move its activity
	// token once after every start, whenever this read happens to run).
	ch, err := customerdb.GetTelegramChannel(observe.Mark(ctx), s.DB)
	for err != nil && !errors.Is(err, customerdb.ErrNoTelegramChannel) {
		s.Log.Warn("telegram: read channel", "err", err)
		if !sleep(ctx, minBackoff*5) {
			return
		}
		ch, err = customerdb.GetTelegramChannel(observe.Mark(ctx), s.DB)
	}
	if err != nil || ch.BrokenReason != "" || s.Sealer == nil {
		<-ctx.Done()
		return
	}
	token, err := s.Sealer.Open(ch.TokenSealed)
	if err != nil {
		s.breakChannel(ctx, ch, "the stored bot token cannot be decrypted (the instance token changed): connect the bot again")
		<-ctx.Done()
		return
	}
	p := &channel{s: s, c: s.client(token), ch: ch, log: s.Log.With("bot_id", ch.BotID)}
	p.resume(ctx)
	if s.PublicURL != "" {
		p.runWebhook(ctx)
		return
	}
	p.runPolling(ctx)
}

// channel is one bot's channel while it is served: its polling loop or
// its webhook's worker, and the processing of its updates, one at a time.
type channel struct {
	s   *Service
	c   *client
	ch  customerdb.TelegramChannel
	log *slog.Logger
}

// resume settles what the last run left: turns a restart cut short are not
// rerun (their owner is asked again), and old updates are forgotten.
func (p *channel) resume(ctx context.Context) {
	interrupted, err := customerdb.InterruptTelegramUpdates(ctx, p.s.DB, p.ch.BotID)
	if err != nil {
		p.log.Warn("telegram: interrupted updates", "err", err)
	}
	for _, u := range interrupted {
		if u.ChatID != 0 && u.ChatID == p.ch.OwnerChatID {
			p.send(ctx, u.ChatID, textResend)
		}
	}
	if err := customerdb.PruneTelegramUpdates(ctx, p.s.DB, p.s.Now().Add(-pruneAfter)); err != nil {
		p.log.Warn("telegram: prune", "err", err)
	}
}

// runPolling takes updates with getUpdates until ctx ends or the token is
// refused. A webhook this instance set before (it had a public URL then)
// is deleted first, and the updates its deliveries recorded but did not
// process yet are processed before the first poll.
func (p *channel) runPolling(ctx context.Context) {
	log := p.log
	if p.ch.WebhookURL != "" {
		if err := p.c.deleteWebhook(ctx); err != nil && !Unauthorized(err) {
			log.Warn("telegram: delete webhook", "err", err)
		} else if err := customerdb.SetTelegramWebhookURL(ctx, p.s.DB, p.ch.BotID, ""); err != nil {
			log.Warn("telegram: record webhook deleted", "err", err)
		}
	}
	p.processReceived(ctx)
	log.Info("telegram: polling", "bot_username", p.ch.BotUsername, "offset", p.ch.Offset)
	backoff := minBackoff
	webhookCleared := false
	for ctx.Err() == nil {
		ups, err := p.c.getUpdates(ctx, p.ch.Offset, p.s.PollTimeout)
		var apiErr *APIError
		switch {
		case ctx.Err() != nil:
			return
		case Unauthorized(err):
			p.s.breakChannel(ctx, p.ch, "Telegram refused the bot token (401 Unauthorized): it was revoked in BotFather or the bot was deleted. Connect the bot again with a new token.")
			return
		case errors.As(err, &apiErr) && apiErr.Code == http.StatusConflict && !webhookCleared &&
			strings.Contains(apiErr.Description, "webhook"):
			// A webhook set elsewhere blocks polling; the customer chose
			// this runtime for the bot by connecting it.
			webhookCleared = true
			if err := p.c.deleteWebhook(ctx); err != nil {
				log.Warn("telegram: delete webhook", "err", err)
			}
			continue
		case err != nil:
			wait := backoff
			if errors.As(err, &apiErr) && apiErr.RetryAfter > 0 {
				wait = time.Duration(apiErr.RetryAfter) * time.Second
			}
			log.Warn("telegram: getUpdates", "err", err, "retry_in", wait)
			if !sleep(ctx, wait) {
				return
			}
			backoff = min(backoff*2, maxBackoff)
			continue
		}
		backoff = minBackoff
		for _, u := range ups {
			if u.UpdateID < p.ch.Offset {
				continue // confirmed already; Telegram should not resend it
			}
			p.handle(ctx, u)
			p.ch.Offset = u.UpdateID + 1
			if ctx.Err() != nil {
				return
			}
		}
	}
}

// handle takes one update and answers it.
func (p *channel) handle(ctx context.Context, u Update) {
	log := p.log.With("update_id", u.UpdateID)
	var chatID int64
	if u.Message != nil {
		chatID = u.Message.Chat.ID
	}
	taken, err := customerdb.TakeTelegramUpdate(ctx, p.s.DB, p.ch.BotID, u.UpdateID, chatID)
	if err != nil {
		log.Warn("telegram: take update", "err", err)
		// Not taken: the next poll asks from the stored offset again.
		sleep(ctx, minBackoff)
		return
	}
	if taken {
		p.process(ctx, u)
	}
}
