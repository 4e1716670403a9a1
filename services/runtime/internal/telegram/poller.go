package telegram

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/services/runtime/internal/chat"
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

// Run polls the connected bot until ctx is canceled; Connect and Disconnect
// restart it. A broken or missing channel waits for the next Connect.
func (s *Service) Run(ctx context.Context) error {
	for {
		pctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.pollChannel(pctx)
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

// pollChannel serves the channel as stored now, until ctx ends or it breaks.
func (s *Service) pollChannel(ctx context.Context) {
	ch, err := customerdb.GetTelegramChannel(ctx, s.DB)
	for err != nil && !errors.Is(err, customerdb.ErrNoTelegramChannel) {
		s.Log.Warn("telegram: read channel", "err", err)
		if !sleep(ctx, minBackoff*5) {
			return
		}
		ch, err = customerdb.GetTelegramChannel(ctx, s.DB)
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
	p := &poller{s: s, c: s.client(token), ch: ch}
	p.run(ctx)
}

// poller is one bot's polling loop.
type poller struct {
	s  *Service
	c  *client
	ch customerdb.TelegramChannel
}

func (p *poller) run(ctx context.Context) {
	log := p.s.Log.With("bot_id", p.ch.BotID)
	// Turns a restart cut short are not rerun: their owner is asked again.
	interrupted, err := customerdb.InterruptTelegramUpdates(ctx, p.s.DB, p.ch.BotID)
	if err != nil {
		log.Warn("telegram: interrupted updates", "err", err)
	}
	for _, u := range interrupted {
		if u.ChatID != 0 && u.ChatID == p.ch.OwnerChatID {
			p.send(ctx, u.ChatID, textResend)
		}
	}
	if err := customerdb.PruneTelegramUpdates(ctx, p.s.DB, p.s.Now().Add(-pruneAfter)); err != nil {
		log.Warn("telegram: prune", "err", err)
	}
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
func (p *poller) handle(ctx context.Context, u Update) {
	log := p.s.Log.With("bot_id", p.ch.BotID, "update_id", u.UpdateID)
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
	if !taken {
		return
	}
	m := u.Message
	switch {
	case m == nil || m.From == nil || m.From.IsBot || m.Chat.Type != "private":
		// Groups, channels and other bots are not the owner's chat.
	case p.ch.Paired() && m.From.ID == p.ch.OwnerUserID && strings.HasPrefix(m.Text, "/start"):
		p.send(ctx, m.Chat.ID, textAlready)
	case p.ch.Paired() && m.From.ID == p.ch.OwnerUserID:
		if !p.turn(ctx, m) {
			// The runtime is stopping mid-turn: left "started", the next
			// start asks the owner to resend.
			return
		}
	case !p.ch.Paired() && p.tryPair(ctx, m):
	default:
		p.refuse(ctx, m)
	}
	if err := customerdb.FinishTelegramUpdate(context.WithoutCancel(ctx), p.s.DB, p.ch.BotID, u.UpdateID, customerdb.TelegramUpdateDone); err != nil {
		log.Warn("telegram: finish update", "err", err)
	}
}

// tryPair pairs the sender if the message is /start with the pairing code.
func (p *poller) tryPair(ctx context.Context, m *Message) bool {
	arg, ok := strings.CutPrefix(strings.TrimSpace(m.Text), "/start")
	if !ok {
		return false
	}
	code := strings.ToUpper(strings.TrimSpace(arg))
	if code == "" {
		p.send(ctx, m.Chat.ID, textUnpaired)
		return true
	}
	paired, err := customerdb.PairTelegramOwner(ctx, p.s.DB, p.ch.BotID, pairingHash(code), m.From.ID, m.Chat.ID)
	if err != nil {
		p.s.Log.Warn("telegram: pair", "err", err)
		p.send(ctx, m.Chat.ID, textFailed)
		return true
	}
	if !paired {
		return false // a wrong code: a stranger
	}
	p.ch.OwnerUserID, p.ch.OwnerChatID, p.ch.PairingCodeHash = m.From.ID, m.Chat.ID, nil
	p.s.Log.Info("telegram: owner paired", "bot_id", p.ch.BotID)
	p.send(ctx, m.Chat.ID, textPaired)
	return true
}

// refuse tells a stranger, once, that the bot is private.
func (p *poller) refuse(ctx context.Context, m *Message) {
	first, err := customerdb.RefuseTelegramStranger(ctx, p.s.DB, p.ch.BotID, m.From.ID)
	if err != nil {
		p.s.Log.Warn("telegram: record refusal", "err", err)
		return
	}
	if first {
		p.send(ctx, m.Chat.ID, textRefusal)
	}
}

// turn answers the owner's message through the agent; it reports false
// when the runtime stopped before the reply was sent.
func (p *poller) turn(ctx context.Context, m *Message) bool {
	if strings.TrimSpace(m.Text) == "" {
		p.send(ctx, m.Chat.ID, textOnlyText)
		return true
	}
	// A turn in flight gets drainTimeout once the runtime stops.
	tctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(drainTimeout, cancel)
		context.AfterFunc(tctx, func() { t.Stop() })
	})
	defer stop()

	typing, stopTyping := context.WithCancel(tctx)
	typed := make(chan struct{})
	go func() {
		defer close(typed)
		for {
			if err := p.c.sendChatAction(typing, m.Chat.ID, "typing"); err != nil && typing.Err() == nil {
				p.s.Log.Warn("telegram: sendChatAction", "err", err)
			}
			if !sleep(typing, typingEvery) {
				return
			}
		}
	}()
	res, err := p.s.Chat.Turn(tctx, chat.Request{Message: m.Text, ConversationID: p.ch.ConversationID}, nil)
	if errors.Is(err, chat.ErrConversationNotFound) || errors.Is(err, chat.ErrAgentMismatch) {
		// The customer deleted the conversation: start another.
		res, err = p.s.Chat.Turn(tctx, chat.Request{Message: m.Text}, nil)
	}
	stopTyping()
	<-typed
	if tctx.Err() != nil {
		return false
	}
	reply := res.Reply
	var quota *chat.QuotaError
	var noModel *chat.NotConfiguredError
	var tooLong *chat.TooLongError
	switch {
	case errors.As(err, &quota), errors.As(err, &tooLong):
		reply = err.Error()
	case errors.As(err, &noModel):
		reply = textNoModel
	case err != nil:
		p.s.Log.Warn("telegram: turn failed", "err", err)
		reply = textFailed
	case strings.TrimSpace(reply) == "":
		reply = textEmpty
	}
	if res.ConversationID != "" {
		p.ch.ConversationID = res.ConversationID
	}
	if err := customerdb.SetTelegramConversation(tctx, p.s.DB, p.ch.BotID, p.ch.ConversationID, p.s.Now()); err != nil {
		p.s.Log.Warn("telegram: record conversation", "err", err)
	}
	for _, part := range Split(reply, MaxMessageLen) {
		if !p.send(tctx, m.Chat.ID, part) {
			return tctx.Err() == nil
		}
	}
	return true
}

// send sends text, logging a failure; it reports success.
func (p *poller) send(ctx context.Context, chatID int64, text string) bool {
	if err := p.c.sendMessage(ctx, chatID, text); err != nil {
		if ctx.Err() == nil {
			p.s.Log.Warn("telegram: sendMessage", "err", err)
		}
		return false
	}
	return true
}

// breakChannel records why the channel stopped.
func (s *Service) breakChannel(ctx context.Context, ch customerdb.TelegramChannel, reason string) {
	s.Log.Warn("telegram: channel broken", "bot_id", ch.BotID, "reason", reason)
	if err := customerdb.BreakTelegramChannel(context.WithoutCancel(ctx), s.DB, ch.BotID, reason, s.Now()); err != nil {
		s.Log.Error("telegram: record broken channel", "err", err)
	}
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
