-- Sagas: one row per saga, the source of truth of a customer's signup.
CREATE TABLE sagas (
    id                  text PRIMARY KEY,
    kind                text NOT NULL CHECK (kind IN ('signup')),
    customer_id         text NOT NULL,
    checkout_session_id text NOT NULL UNIQUE,
    plan                text NOT NULL,
    email               text NOT NULL DEFAULT '',
    name                text NOT NULL DEFAULT '',
    timezone            text NOT NULL DEFAULT '',
    status              text NOT NULL CHECK (status IN ('running', 'completed', 'compensating', 'compensated', 'failed')),
    failed_step         text NOT NULL DEFAULT '',
    reason              text NOT NULL DEFAULT '',
    database_ref        text NOT NULL DEFAULT '',
    instance_url        text NOT NULL DEFAULT '',
    api_key_ref         text NOT NULL DEFAULT '',
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    completed_at        timestamptz
);
CREATE INDEX sagas_active ON sagas (status) WHERE status IN ('running', 'compensating');
CREATE INDEX sagas_customer ON sagas (customer_id);

-- Steps of each saga. deadline is set while a command is in flight; the
-- sweeper scans it. done_order is the order steps settled in, which
-- compensations reverse.
CREATE TABLE saga_steps (
    saga_id              text NOT NULL REFERENCES sagas (id) ON DELETE CASCADE,
    name                 text NOT NULL,
    position             int NOT NULL,
    status               text NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed', 'compensating', 'compensated')),
    attempt              int NOT NULL DEFAULT 0,
    compensation_attempt int NOT NULL DEFAULT 0,
    done_order           int NOT NULL DEFAULT 0,
    started_at           timestamptz,
    finished_at          timestamptz,
    deadline             timestamptz,
    error                text NOT NULL DEFAULT '',
    PRIMARY KEY (saga_id, name)
);
CREATE INDEX saga_steps_deadline ON saga_steps (deadline) WHERE deadline IS NOT NULL;

-- Transactional outbox: messages written in the same transaction as the
-- transition that caused them, published by the relay, then marked sent.
CREATE TABLE outbox (
    id          bigserial PRIMARY KEY,
    saga_id     text NOT NULL,
    customer_id text NOT NULL,
    subject     text NOT NULL,
    msg_id      text NOT NULL UNIQUE,
    payload     jsonb NOT NULL,
    created_at  timestamptz NOT NULL,
    sent_at     timestamptz
);
CREATE INDEX outbox_unsent ON outbox (id) WHERE sent_at IS NULL;
CREATE INDEX outbox_sent ON outbox (sent_at) WHERE sent_at IS NOT NULL;
