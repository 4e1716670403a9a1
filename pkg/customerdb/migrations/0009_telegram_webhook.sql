-- 0009_telegram_webhook: webhook mode of the Telegram channel (an instance
-- with a public https URL). Telegram POSTs each update to
-- <public URL>/telegram/webhook/<webhook_path> with the secret token in a
-- header; the update is recorded ('received', with its body) before the
-- runtime answers 200, then processed like a polled one.
ALTER TABLE telegram_channel
    -- webhook_path is the random path id of this channel's webhook URL.
    ADD COLUMN webhook_path          text,
    -- webhook_secret_sealed is the secret_token Telegram sends back in
    -- X-Telegram-Bot-Api-Secret-Token, sealed like the bot token.
    ADD COLUMN webhook_secret_sealed bytea,
    -- webhook_url is the URL set with setWebhook, NULL while none is set
    -- (polling), so a switch back to polling knows to delete it.
    ADD COLUMN webhook_url           text;

-- 'received': recorded from a webhook delivery, not yet begun; its body is
-- kept until it is processed, so a crash before that loses nothing (bytes
-- as Telegram sent them: jsonb would refuse a \u0000 Telegram may send).
ALTER TABLE telegram_updates
    DROP CONSTRAINT telegram_updates_state_check,
    ADD CONSTRAINT telegram_updates_state_check CHECK (state IN ('received', 'started', 'done', 'interrupted')),
    ADD COLUMN payload bytea;
CREATE INDEX telegram_updates_received ON telegram_updates (bot_id, update_id) WHERE state = 'received';
