-- Commands the service has carried out, by idempotency key
-- (subject/saga/step/attempt): a replayed command is acknowledged without
-- acting again, so replaying history never brings back a deleted database.
CREATE TABLE processed_commands (
    key          text        PRIMARY KEY,
    processed_at timestamptz NOT NULL DEFAULT now()
);
