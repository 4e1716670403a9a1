package customerdb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoTelegramChannel means no Telegram bot is connected.
var ErrNoTelegramChannel = errors.New("no telegram channel is connected")

// TelegramChannel is the customer's connected bot (table telegram_channel).
type TelegramChannel struct {
	// TokenSealed is the bot token, encrypted by the runtime.
	TokenSealed []byte
	BotID       int64
	BotUsername string
	// PairingCodeHash is the SHA-256 of the pairing code; nil once paired.
	PairingCodeHash []byte
	// OwnerUserID and OwnerChatID are the paired owner's; 0 until paired.
	OwnerUserID, OwnerChatID int64
	// ConversationID is the conversation the owner's messages continue.
	ConversationID string
	// Offset is the next getUpdates offset.
	Offset        int64
	LastMessageAt time.Time
	// BrokenReason says why the channel stopped (empty while it works).
	BrokenReason string
	BrokenAt     time.Time
	ConnectedAt  time.Time
	// WebhookPath is the random path id of the channel's webhook URL and
	// WebhookSecretSealed its secret token, sealed by the runtime; both
	// empty until the channel first runs in webhook mode.
	WebhookPath         string
	WebhookSecretSealed []byte
	// WebhookURL is the URL set with setWebhook; empty while none is.
	WebhookURL string
}

// Paired reports whether an owner has paired.
func (c TelegramChannel) Paired() bool { return c.OwnerUserID != 0 }

// TelegramUpdate is an update the channel took.
type TelegramUpdate struct {
	UpdateID, ChatID int64
}

// Telegram update states (telegram_updates.state).
const (
	TelegramUpdateReceived    = "received"
	TelegramUpdateStarted     = "started"
	TelegramUpdateDone        = "done"
	TelegramUpdateInterrupted = "interrupted"
)

// GetTelegramChannel returns the connected channel, or ErrNoTelegramChannel.
func GetTelegramChannel(ctx context.Context, db DB) (TelegramChannel, error) {
	var c TelegramChannel
	var owner, chat *int64
	var conv *string
	var last, brokenAt *time.Time
	var reason, hookPath, hookURL *string
	err := db.QueryRow(ctx, `SELECT bot_token_sealed, bot_id, bot_username, pairing_code_hash, owner_user_id,
			owner_chat_id, conversation_id::text, update_offset, last_message_at, broken_reason, broken_at, connected_at,
			webhook_path, webhook_secret_sealed, webhook_url
		FROM telegram_channel`).Scan(&c.TokenSealed, &c.BotID, &c.BotUsername, &c.PairingCodeHash, &owner, &chat,
		&conv, &c.Offset, &last, &reason, &brokenAt, &c.ConnectedAt, &hookPath, &c.WebhookSecretSealed, &hookURL)
	if errors.Is(err, pgx.ErrNoRows) {
		return TelegramChannel{}, ErrNoTelegramChannel
	}
	if err != nil {
		return TelegramChannel{}, fmt.Errorf("read telegram channel: %w", err)
	}
	c.OwnerUserID, c.OwnerChatID = deref(owner), deref(chat)
	c.ConversationID, c.BrokenReason = deref(conv), deref(reason)
	c.LastMessageAt, c.BrokenAt = deref(last), deref(brokenAt)
	c.WebhookPath, c.WebhookURL = deref(hookPath), deref(hookURL)
	return c, nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// PutTelegramChannel connects a bot, replacing any channel: the new one is
// unpaired (pairing code hash set) and not broken. Reconnecting the same
// bot keeps its update offset, so updates already taken are not asked for
// again.
func PutTelegramChannel(ctx context.Context, db TxBeginner, c TelegramChannel) error {
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		var offset int64
		err := tx.QueryRow(ctx, `SELECT update_offset FROM telegram_channel WHERE bot_id = $1 FOR UPDATE`, c.BotID).Scan(&offset)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("read telegram channel: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM telegram_channel`); err != nil {
			return fmt.Errorf("replace telegram channel: %w", err)
		}
		_, err = tx.Exec(ctx, `INSERT INTO telegram_channel (bot_token_sealed, bot_id, bot_username, pairing_code_hash, update_offset)
			VALUES ($1, $2, $3, $4, $5)`, c.TokenSealed, c.BotID, c.BotUsername, c.PairingCodeHash, offset)
		if err != nil {
			return fmt.Errorf("store telegram channel: %w", err)
		}
		return nil
	})
}

// DeleteTelegramChannel disconnects the bot; it reports whether one was
// connected.
func DeleteTelegramChannel(ctx context.Context, db DB) (bool, error) {
	tag, err := db.Exec(ctx, `DELETE FROM telegram_channel`)
	if err != nil {
		return false, fmt.Errorf("delete telegram channel: %w", err)
	}
	return tag.RowsAffected() > 0, nil
}

// PairTelegramOwner makes userID (writing from chatID) the owner of bot
// botID if codeHash is the unused pairing code's hash; it reports whether
// it did. The code works once.
func PairTelegramOwner(ctx context.Context, db DB, botID int64, codeHash []byte, userID, chatID int64) (bool, error) {
	tag, err := db.Exec(ctx, `UPDATE telegram_channel SET owner_user_id = $3, owner_chat_id = $4, pairing_code_hash = NULL
		WHERE bot_id = $1 AND owner_user_id IS NULL AND pairing_code_hash = $2`, botID, codeHash, userID, chatID)
	if err != nil {
		return false, fmt.Errorf("pair telegram owner: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// TakeTelegramUpdate records update updateID of bot botID as started and
// moves the channel's offset past it, in one transaction, so a restart
// neither repeats nor loses it. It reports false (and changes nothing) when
// the update was taken before or the channel is no longer this bot's.
func TakeTelegramUpdate(ctx context.Context, db TxBeginner, botID, updateID, chatID int64) (bool, error) {
	taken := false
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE telegram_channel SET update_offset = GREATEST(update_offset, $2 + 1) WHERE bot_id = $1`, botID, updateID)
		if err != nil {
			return fmt.Errorf("advance telegram offset: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return nil
		}
		tag, err = tx.Exec(ctx, `INSERT INTO telegram_updates (bot_id, update_id, chat_id) VALUES ($1, $2, $3)
			ON CONFLICT DO NOTHING`, botID, updateID, chatID)
		if err != nil {
			return fmt.Errorf("record telegram update: %w", err)
		}
		taken = tag.RowsAffected() == 1
		return nil
	})
	return taken, err
}

// FinishTelegramUpdate sets a taken update's state (TelegramUpdateDone)
// and forgets its body.
func FinishTelegramUpdate(ctx context.Context, db DB, botID, updateID int64, state string) error {
	_, err := db.Exec(ctx, `UPDATE telegram_updates SET state = $3, payload = NULL WHERE bot_id = $1 AND update_id = $2`, botID, updateID, state)
	if err != nil {
		return fmt.Errorf("finish telegram update: %w", err)
	}
	return nil
}

// InterruptTelegramUpdates marks the updates of botID still started (their
// runtime stopped mid-turn) as interrupted and returns them; they are never
// rerun.
func InterruptTelegramUpdates(ctx context.Context, db DB, botID int64) ([]TelegramUpdate, error) {
	rows, err := db.Query(ctx, `UPDATE telegram_updates SET state = 'interrupted'
		WHERE bot_id = $1 AND state = 'started' RETURNING update_id, COALESCE(chat_id, 0)`, botID)
	if err != nil {
		return nil, fmt.Errorf("interrupt telegram updates: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (TelegramUpdate, error) {
		var u TelegramUpdate
		err := r.Scan(&u.UpdateID, &u.ChatID)
		return u, err
	})
}

// PruneTelegramUpdates forgets finished updates received before before:
// the offset already keeps them from coming back, and Telegram stops
// redelivering a webhook update long before (24 hours).
func PruneTelegramUpdates(ctx context.Context, db DB, before time.Time) error {
	_, err := db.Exec(ctx, `DELETE FROM telegram_updates WHERE state IN ('done', 'interrupted') AND received_at < $1`, before)
	if err != nil {
		return fmt.Errorf("prune telegram updates: %w", err)
	}
	return nil
}

// SetTelegramConversation records the conversation the owner's messages
// continue, and when the last one came.
func SetTelegramConversation(ctx context.Context, db DB, botID int64, conversationID string, at time.Time) error {
	_, err := db.Exec(ctx, `UPDATE telegram_channel SET conversation_id = NULLIF($2, '')::uuid, last_message_at = $3 WHERE bot_id = $1`,
		botID, conversationID, at)
	if err != nil {
		return fmt.Errorf("set telegram conversation: %w", err)
	}
	return nil
}

// BreakTelegramChannel records why bot botID's channel stopped working.
func BreakTelegramChannel(ctx context.Context, db DB, botID int64, reason string, at time.Time) error {
	_, err := db.Exec(ctx, `UPDATE telegram_channel SET broken_reason = $2, broken_at = $3 WHERE bot_id = $1`, botID, reason, at)
	if err != nil {
		return fmt.Errorf("mark telegram channel broken: %w", err)
	}
	return nil
}

// RefuseTelegramStranger records that userID was told the bot is private;
// it reports whether this is the first time (only then is the refusal sent).
func RefuseTelegramStranger(ctx context.Context, db DB, botID, userID int64) (bool, error) {
	tag, err := db.Exec(ctx, `INSERT INTO telegram_refusals (bot_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, botID, userID)
	if err != nil {
		return false, fmt.Errorf("record telegram refusal: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}
