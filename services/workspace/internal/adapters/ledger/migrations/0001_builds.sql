-- 0001_builds: what the workspace service has done for each saga, so a
-- replayed command changes nothing that already happened.
CREATE TABLE builds (
    -- The saga the workspace belongs to; one workspace and one key per saga.
    saga_id        text        PRIMARY KEY,
    customer_id    text        NOT NULL,
    -- What workspace.built reported, to report it again on a replay.
    files          int         NOT NULL DEFAULT 0,
    api_key_prefix text        NOT NULL DEFAULT '',
    built_at       timestamptz NULL,
    -- Set by cmd.workspace.delete; a build of a deleted saga is refused.
    deleted_at     timestamptz NULL
);

CREATE INDEX builds_customer_id_idx ON builds (customer_id);
