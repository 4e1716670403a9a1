-- Customers and their instances as the health service knows them, built
-- from events (customer.signed_up, compute.*, customer.state_changed), and
-- each instance's health (hysteresis counters, open incident).
CREATE TABLE customers (
    customer_id    text PRIMARY KEY,
    email          text NOT NULL DEFAULT '',
    name           text NOT NULL DEFAULT '',
    plan           text NOT NULL DEFAULT '',
    lifecycle      text NOT NULL DEFAULT '',
    lifecycle_at   timestamptz,
    instance_url   text NOT NULL DEFAULT '',
    running        boolean NOT NULL DEFAULT false,
    -- Stream sequence of the last compute.* event applied: a redelivered or
    -- replayed older event never undoes a newer one.
    compute_seq    bigint NOT NULL DEFAULT 0,
    health         text NOT NULL DEFAULT 'healthy',
    failures       integer NOT NULL DEFAULT 0,
    successes      integer NOT NULL DEFAULT 0,
    incident_id    text NOT NULL DEFAULT '',
    incident_since timestamptz,
    restarts       integer NOT NULL DEFAULT 0,
    last_error     text NOT NULL DEFAULT '',
    last_probe_at  timestamptz
);

-- Customer emails sent, once per notice id.
CREATE TABLE notices_sent (
    notice_id   text PRIMARY KEY,
    kind        text NOT NULL,
    customer_id text NOT NULL,
    result      text NOT NULL,
    sent_at     timestamptz NOT NULL
);

-- Quota notices already published (customer.notice), once per id.
CREATE TABLE quota_notices (
    notice_id    text PRIMARY KEY,
    published_at timestamptz NOT NULL
);

-- Operator alerts: the rate limiter's decision for each alert key, made once.
CREATE TABLE alerts (
    alert_key  text PRIMARY KEY,
    kind       text NOT NULL,
    decision   text NOT NULL,
    created_at timestamptz NOT NULL
);

-- Alert deliveries per channel, so a retried alert is not sent twice.
CREATE TABLE alert_deliveries (
    alert_key text NOT NULL,
    channel   text NOT NULL,
    sent_at   timestamptz NOT NULL,
    PRIMARY KEY (alert_key, channel)
);
