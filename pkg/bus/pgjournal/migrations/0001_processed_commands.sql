-- Commands the service has carried out, by idempotency key
-- (subject/saga/step/attempt): a replayed command is acknowledged without
-- acting again, so replaying history never brings back what a later
-- command removed. IF NOT EXISTS: services that kept this table before the
-- journal moved to pkg/bus keep their rows.
CREATE TABLE IF NOT EXISTS processed_commands (
    key          text        PRIMARY KEY,
    processed_at timestamptz NOT NULL DEFAULT now()
);
