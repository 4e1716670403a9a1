-- 0004_agent: what the assistant did while answering. Every tool call of a
-- turn (which tool, its input and a bounded result, how long it took and how
-- it ended), screenshots the browser tool took, and the named agent a
-- conversation belongs to ('' is the instance's one default agent).

ALTER TABLE conversations ADD COLUMN agent text NOT NULL DEFAULT '';

-- One tool call of a chat turn, stored as it finishes: user_message_id is
-- the customer's message the turn answers, so the calls of a turn survive
-- a turn that fails afterwards.
CREATE TABLE tool_calls (
    id              bigserial   PRIMARY KEY,
    conversation_id uuid        NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    user_message_id bigint      NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    step            integer     NOT NULL CHECK (step >= 1),
    tool            text        NOT NULL,
    input           text        NOT NULL,
    result          text        NOT NULL,
    outcome         text        NOT NULL CHECK (outcome IN ('ok', 'error')),
    duration_ms     integer     NOT NULL CHECK (duration_ms >= 0),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tool_calls_by_conversation ON tool_calls (conversation_id, id);

-- Screenshots the browser tool took, linked from the tool call's result.
CREATE TABLE screenshots (
    id              bigserial   PRIMARY KEY,
    conversation_id uuid        NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    png             bytea       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- The plan the instance runs, written by the workspace service when it
-- renders a plan's skills (signup, plan change), so a running runtime
-- follows a plan change without a restart. At most one row; without one the
-- runtime uses the plan of its configuration.
CREATE TABLE instance_plan (
    id         boolean     PRIMARY KEY DEFAULT true CHECK (id),
    plan       text        NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
