-- The OpenClaw Control UI's own origin (docs/openclaw-engine.md, "The
-- Control UI on its own origin"). A handoff is what the signed-in web app
-- gives the browser to carry to the control origin: stored only as its
-- SHA-256, bound to the web session and the instance it was minted for,
-- single use (used_at) and short-lived. The control origin exchanges it at
-- once for a control session of its own (its own cookie, only the SHA-256
-- stored), which ends with the web session it came from (signing out ends
-- both) and never outlives it.
CREATE TABLE control_handoffs (
    token_hash   bytea PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    session_hash bytea NOT NULL REFERENCES sessions (id_hash) ON DELETE CASCADE,
    customer_id  text NOT NULL,
    instance_url text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz NULL
);
CREATE INDEX control_handoffs_expiry ON control_handoffs (expires_at);

CREATE TABLE control_sessions (
    id_hash      bytea PRIMARY KEY CHECK (octet_length(id_hash) = 32),
    session_hash bytea NOT NULL REFERENCES sessions (id_hash) ON DELETE CASCADE,
    customer_id  text NOT NULL,
    instance_url text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);
CREATE INDEX control_sessions_expiry ON control_sessions (expires_at);
