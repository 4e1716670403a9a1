package customerdb

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// ReceivedTelegramUpdate is an update a webhook delivery recorded and no
// one has begun yet.
type ReceivedTelegramUpdate struct {
	UpdateID int64
	// Payload is the update as Telegram sent it (JSON).
	Payload []byte
}

// InitTelegramWebhook gives bot botID's channel its webhook path id and
// sealed secret unless it has them already, and returns the ones stored:
// the first caller's win, so two starts racing agree.
func InitTelegramWebhook(ctx context.Context, db DB, botID int64, path string, secretSealed []byte) (string, []byte, error) {
	var gotPath string
	var gotSecret []byte
	err := db.QueryRow(ctx, `UPDATE telegram_channel
		SET webhook_path = COALESCE(webhook_path, $2), webhook_secret_sealed = COALESCE(webhook_secret_sealed, $3)
		WHERE bot_id = $1 RETURNING webhook_path, webhook_secret_sealed`, botID, path, secretSealed).Scan(&gotPath, &gotSecret)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil, ErrNoTelegramChannel
	}
	if err != nil {
		return "", nil, fmt.Errorf("init telegram webhook: %w", err)
	}
	return gotPath, gotSecret, nil
}

// SetTelegramWebhookURL records the URL set with setWebhook ("" once it was
// deleted).
func SetTelegramWebhookURL(ctx context.Context, db DB, botID int64, url string) error {
	_, err := db.Exec(ctx, `UPDATE telegram_channel SET webhook_url = NULLIF($2, '') WHERE bot_id = $1`, botID, url)
	if err != nil {
		return fmt.Errorf("record telegram webhook url: %w", err)
	}
	return nil
}

// ReceiveTelegramUpdate records update updateID of bot botID, delivered by
// webhook, as received with its payload, and moves the channel's offset
// past it (so a switch to polling does not ask for it again), in one
// transaction. It reports false when the update was recorded before (a
// redelivery: nothing changes), and ErrNoTelegramChannel when the channel
// is no longer this bot's.
func ReceiveTelegramUpdate(ctx context.Context, db TxBeginner, botID, updateID, chatID int64, payload []byte) (bool, error) {
	fresh := false
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE telegram_channel SET update_offset = GREATEST(update_offset, $2 + 1) WHERE bot_id = $1`, botID, updateID)
		if err != nil {
			return fmt.Errorf("advance telegram offset: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return ErrNoTelegramChannel
		}
		tag, err = tx.Exec(ctx, `INSERT INTO telegram_updates (bot_id, update_id, chat_id, state, payload)
			VALUES ($1, $2, $3, 'received', $4) ON CONFLICT DO NOTHING`, botID, updateID, chatID, payload)
		if err != nil {
			return fmt.Errorf("record telegram update: %w", err)
		}
		fresh = tag.RowsAffected() == 1
		return nil
	})
	return fresh, err
}

// BeginNextTelegramUpdate moves bot botID's oldest received update to
// started and returns it, in one statement; ok is false when none is
// received. From here on a crash leaves it started, and the next start asks
// the owner to resend rather than rerun it.
func BeginNextTelegramUpdate(ctx context.Context, db DB, botID int64) (u ReceivedTelegramUpdate, ok bool, err error) {
	err = db.QueryRow(ctx, `UPDATE telegram_updates SET state = 'started'
		WHERE bot_id = $1 AND update_id = (
			SELECT update_id FROM telegram_updates WHERE bot_id = $1 AND state = 'received'
			ORDER BY update_id LIMIT 1 FOR UPDATE SKIP LOCKED)
		RETURNING update_id, payload`, botID).Scan(&u.UpdateID, &u.Payload)
	if errors.Is(err, pgx.ErrNoRows) {
		return ReceivedTelegramUpdate{}, false, nil
	}
	if err != nil {
		return ReceivedTelegramUpdate{}, false, fmt.Errorf("begin telegram update: %w", err)
	}
	return u, true, nil
}
