-- The customer's lifecycle state as the saga last reported it
-- (customer.state_changed), shown beside the provisioning status. The saga
-- stays the source of truth; this is a cache the projector keeps.
CREATE TABLE customer_states (
    customer_id    text PRIMARY KEY,
    state          text NOT NULL,
    previous_state text NOT NULL DEFAULT '',
    plan           text NOT NULL DEFAULT '',
    cause          text NOT NULL DEFAULT '',
    -- When the saga changed the state; a report older than the row's is
    -- stale (redelivery, replay) and changes nothing.
    at             timestamptz NOT NULL,
    -- Stream sequence of the report, the tie-break for equal times.
    seq            bigint NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
