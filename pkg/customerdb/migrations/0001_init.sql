-- 0001_init: the first schema of a customer's database.

-- The customer's Clawdbot workspace (config and memory files), keyed by a
-- slash-separated path relative to the workspace root.
CREATE TABLE workspace_files (
    path       text        PRIMARY KEY,
    content    text        NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- API keys that open this customer's instance. Only the SHA-256 hash of a key
-- is stored; prefix is its first characters, safe to show and log.
CREATE TABLE api_keys (
    id         bigserial   PRIMARY KEY,
    prefix     text        NOT NULL,
    hash       bytea       NOT NULL UNIQUE CHECK (octet_length(hash) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz NULL
);

-- Usage per UTC day, added to as messages are answered.
CREATE TABLE usage_tracking (
    day           date   PRIMARY KEY,
    messages      bigint NOT NULL DEFAULT 0,
    input_tokens  bigint NOT NULL DEFAULT 0,
    output_tokens bigint NOT NULL DEFAULT 0
);
