-- 0007_telegram: the customer's Telegram channel (their own bot) and the
-- updates it has taken. One channel per instance (the row keyed by true).
CREATE TABLE telegram_channel (
    id                   boolean     PRIMARY KEY DEFAULT true CHECK (id),
    -- bot_token_sealed is the BotFather token, AES-256-GCM with a key the
    -- runtime derives from its instance token; never stored in clear.
    bot_token_sealed     bytea       NOT NULL,
    bot_id               bigint      NOT NULL,
    bot_username         text        NOT NULL,
    -- pairing_code_hash is the SHA-256 of the one-time pairing code,
    -- cleared once the owner paired.
    pairing_code_hash    bytea,
    owner_user_id        bigint,
    owner_chat_id        bigint,
    -- conversation_id is the conversation the owner's messages continue.
    conversation_id      uuid        REFERENCES conversations (id) ON DELETE SET NULL,
    -- update_offset is the next getUpdates offset: every update below it
    -- is recorded in telegram_updates (advanced in the same transaction).
    update_offset        bigint      NOT NULL DEFAULT 0,
    last_message_at      timestamptz,
    broken_reason        text,
    broken_at            timestamptz,
    connected_at         timestamptz NOT NULL DEFAULT now()
);

-- telegram_updates records each update taken, so none is processed twice:
-- 'started' when taken (with the offset moved past it), 'done' when
-- answered, 'interrupted' when the runtime stopped mid-turn (the owner is
-- asked to resend; it is never rerun).
CREATE TABLE telegram_updates (
    bot_id      bigint      NOT NULL,
    update_id   bigint      NOT NULL,
    state       text        NOT NULL DEFAULT 'started' CHECK (state IN ('started', 'done', 'interrupted')),
    chat_id     bigint,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (bot_id, update_id)
);
CREATE INDEX telegram_updates_started ON telegram_updates (bot_id) WHERE state = 'started';

-- telegram_refusals: strangers who were told, once, that the bot is private.
CREATE TABLE telegram_refusals (
    bot_id     bigint      NOT NULL,
    user_id    bigint      NOT NULL,
    refused_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (bot_id, user_id)
);
