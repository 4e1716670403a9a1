-- Lifecycle sagas share the sagas table with the signup saga.
ALTER TABLE sagas DROP CONSTRAINT sagas_kind_check;
ALTER TABLE sagas ADD CONSTRAINT sagas_kind_check
    CHECK (kind IN ('signup', 'reactivate', 'plan_change', 'suspend', 'resume', 'cancel', 'archive', 'delete', 'deprovision'));
-- Only sagas started by a checkout carry a checkout session.
ALTER TABLE sagas ALTER COLUMN checkout_session_id DROP NOT NULL;
ALTER TABLE sagas ADD COLUMN previous_plan text NOT NULL DEFAULT '';
ALTER TABLE sagas ADD COLUMN cause text NOT NULL DEFAULT '';
ALTER TABLE sagas ADD COLUMN archive_ref text NOT NULL DEFAULT '';
CREATE INDEX sagas_created ON sagas (created_at DESC);

-- Customers: the lifecycle record, one row per Stripe customer. active_saga
-- is the saga running for the customer ('' when idle); the timers are
-- persisted due times the sweeper fires by the coordinator's clock.
CREATE TABLE customers (
    customer_id     text PRIMARY KEY,
    plan            text NOT NULL DEFAULT '',
    state           text NOT NULL CHECK (state IN ('provisioning', 'active', 'past_due', 'suspended', 'canceled', 'archived', 'deleted')),
    subscription_id text NOT NULL DEFAULT '',
    email           text NOT NULL DEFAULT '',
    name            text NOT NULL DEFAULT '',
    timezone        text NOT NULL DEFAULT '',
    database_ref    text NOT NULL DEFAULT '',
    instance_url    text NOT NULL DEFAULT '',
    archive_ref     text NOT NULL DEFAULT '',
    active_saga     text NOT NULL DEFAULT '',
    last_event_at   timestamptz,
    grace_until     timestamptz,
    archive_at      timestamptz,
    delete_at       timestamptz,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX customers_busy ON customers (customer_id) WHERE active_saga <> '';
CREATE INDEX customers_grace ON customers (grace_until) WHERE grace_until IS NOT NULL;
CREATE INDEX customers_archive ON customers (archive_at) WHERE archive_at IS NOT NULL;
CREATE INDEX customers_delete ON customers (delete_at) WHERE delete_at IS NOT NULL;

-- Every customer.* event the coordinator received, by Stripe event id: the
-- processed-event record (a duplicate or replay finds its id) and the
-- pending queue (status 'pending': the customer is unknown or busy; applied
-- in Stripe created order when it is idle, or dropped with a reason after
-- the retention window).
CREATE TABLE customer_events (
    event_id    text PRIMARY KEY,
    customer_id text NOT NULL,
    subject     text NOT NULL,
    created     timestamptz,
    payload     jsonb NOT NULL,
    status      text NOT NULL CHECK (status IN ('pending', 'applied', 'ignored', 'dropped')),
    reason      text NOT NULL DEFAULT '',
    received_at timestamptz NOT NULL,
    decided_at  timestamptz
);
CREATE INDEX customer_events_pending ON customer_events (customer_id, created, received_at) WHERE status = 'pending';

-- Customers signed up before this migration: their latest signup saga
-- says where they are (subscription unknown: its events are then ordered
-- by time only). A signup still running keeps the customer busy until it
-- ends, as a new one would.
INSERT INTO customers (customer_id, plan, state, email, name, timezone, database_ref, instance_url, active_saga, created_at, updated_at)
SELECT DISTINCT ON (customer_id) customer_id, plan,
    CASE status WHEN 'completed' THEN 'active' WHEN 'compensated' THEN 'deleted' ELSE 'provisioning' END,
    email, name, timezone, database_ref, instance_url,
    CASE WHEN status IN ('running', 'compensating') THEN id ELSE '' END,
    created_at, updated_at
FROM sagas WHERE kind = 'signup'
ORDER BY customer_id, created_at DESC
ON CONFLICT (customer_id) DO NOTHING;
