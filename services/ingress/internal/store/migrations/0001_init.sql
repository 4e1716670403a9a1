-- The ingress read model. Written by the webhook handler (provisioning rows,
-- processed and rejected events) and by the projector (status, steps).

-- One row per signup, keyed by the Checkout Session id the customer holds.
-- The webhook handler and the projector both upsert it, each filling only its
-- own columns, so whichever arrives first creates it.
CREATE TABLE provisioning (
    checkout_session_id text PRIMARY KEY,
    -- names.SignupSagaID(checkout_session_id). Deliberately not UNIQUE: a
    -- second unique index would make concurrent upserts on the primary key
    -- fail on it instead of resolving their conflict.
    saga_id             text NOT NULL,
    customer_id         text NOT NULL DEFAULT '',
    plan                text NOT NULL DEFAULT '',
    stripe_event_id     text NOT NULL DEFAULT '',
    -- provisioning until the saga ends; ready and failed are final.
    status              text NOT NULL DEFAULT 'provisioning'
                        CHECK (status IN ('provisioning', 'ready', 'failed')),
    instance_url        text NOT NULL DEFAULT '',
    -- Reference of the one-time key reveal in secrets.secrets; never the key.
    api_key_ref         text NOT NULL DEFAULT '',
    api_key_revealed    boolean NOT NULL DEFAULT false,
    failure_reason      text NOT NULL DEFAULT '',
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- Every step state a saga reported. A replayed event hits the primary key
-- and changes nothing; seq (the stream sequence) orders the list.
CREATE TABLE provisioning_steps (
    saga_id      text NOT NULL,
    name         text NOT NULL,
    compensation boolean NOT NULL,
    status       text NOT NULL CHECK (status IN ('started', 'done', 'failed')),
    seq          bigint NOT NULL,
    at           timestamptz NOT NULL,
    PRIMARY KEY (saga_id, name, compensation, status)
);

-- Stripe events whose domain event is durably on the stream. A redelivery
-- (Stripe retries for three days) is answered without publishing again.
CREATE TABLE processed_events (
    event_id     text PRIMARY KEY,
    event_type   text NOT NULL,
    saga_id      text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now()
);

-- Authentic events the platform refused (unknown plan): what an operator
-- looks at after the alert, with how often Stripe has retried them.
CREATE TABLE rejected_events (
    event_id   text PRIMARY KEY,
    event_type text NOT NULL,
    reason     text NOT NULL,
    deliveries integer NOT NULL DEFAULT 1,
    first_seen timestamptz NOT NULL DEFAULT now(),
    last_seen  timestamptz NOT NULL DEFAULT now()
);
