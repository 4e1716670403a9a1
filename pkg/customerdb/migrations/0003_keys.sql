-- 0003_keys: customers manage their own API keys (dashboard and runtime API).

-- name is the customer's label for a key; last_used_at is when it last
-- opened the instance, recorded at most once a minute per key.
ALTER TABLE api_keys
    ADD COLUMN name         text        NOT NULL DEFAULT '' CHECK (char_length(name) <= 64),
    ADD COLUMN last_used_at timestamptz NULL;
