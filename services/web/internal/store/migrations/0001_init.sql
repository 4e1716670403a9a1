-- The web app's own tables (schema "web"): the customers it may sign in,
-- projected from the bus; browser sessions; one-time sign-in links; the
-- checkouts it started; and, in dev mode only, the mail it kept.

-- One row per Stripe customer, projected from customer.signed_up,
-- saga.completed, customer.state_changed and instance health events.
CREATE TABLE accounts (
    customer_id         text PRIMARY KEY,
    email               text NOT NULL,
    name                text NOT NULL DEFAULT '',
    plan                text NOT NULL DEFAULT '',
    subscription_id     text NOT NULL DEFAULT '',
    checkout_session_id text NOT NULL DEFAULT '',
    instance_url        text NOT NULL DEFAULT '',
    -- provisioning until the signup saga completes; then the lifecycle
    -- state the saga reports (active, past_due, suspended, canceled, ...).
    state               text NOT NULL DEFAULT 'provisioning',
    -- The saga's time of the state, so stale reports change nothing.
    state_at            timestamptz NOT NULL DEFAULT '-infinity',
    -- healthy, unhealthy, or '' while unknown (from instance.* events).
    health              text NOT NULL DEFAULT '',
    health_at           timestamptz NOT NULL DEFAULT '-infinity',
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX accounts_email ON accounts (lower(email), created_at DESC);
CREATE INDEX accounts_checkout ON accounts (checkout_session_id);

-- Browser sessions. Only the SHA-256 of the cookie value is stored.
CREATE TABLE sessions (
    id_hash      bytea PRIMARY KEY CHECK (octet_length(id_hash) = 32),
    customer_id  text NOT NULL,
    -- The CSRF token the session's pages carry (synchronizer token).
    csrf         text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);

-- One-time sign-in links. Only the SHA-256 of the token is stored.
CREATE TABLE login_tokens (
    token_hash  bytea PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    customer_id text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz NULL
);
CREATE INDEX login_tokens_expiry ON login_tokens (expires_at);

-- Checkouts this app started: which browser nonce (by hash) may follow and
-- reveal which Checkout Session. The session id is as sensitive as a
-- password until the key is revealed; rows go after a day.
CREATE TABLE checkouts (
    checkout_session_id text PRIMARY KEY,
    reveal_hash         text NOT NULL,
    plan                text NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now()
);

-- Mail kept instead of sent (dev mode without SMTP), shown at /dev/mail.
CREATE TABLE dev_mail (
    id         bigserial PRIMARY KEY,
    to_addr    text NOT NULL,
    subject    text NOT NULL,
    body       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
