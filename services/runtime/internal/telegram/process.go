package telegram

import (
	"context"
	"errors"
	"strings"
	"time"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/services/runtime/internal/chat"
)

// process answers an update taken (or begun) and marks it done, or leaves
// it started when the runtime stopped mid-turn.
func (p *channel) process(ctx context.Context, u Update) {
	log := p.log.With("update_id", u.UpdateID)
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
func (p *channel) tryPair(ctx context.Context, m *Message) bool {
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
func (p *channel) refuse(ctx context.Context, m *Message) {
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
func (p *channel) turn(ctx context.Context, m *Message) bool {
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
func (p *channel) send(ctx context.Context, chatID int64, text string) bool {
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
