-- 0002_runtime: what the customer's runtime keeps besides the workspace:
-- conversations and their messages, searchable memories, and the customer's
-- choice of enabled skills.

-- One chat conversation. Ids are random UUIDs, so they can be handed to
-- clients without revealing how many conversations exist.
CREATE TABLE conversations (
    id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    title      text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- Conversations are listed most recently active first.
CREATE INDEX conversations_recent ON conversations (updated_at DESC, id DESC);

-- The turns of a conversation. The customer's message is stored before the
-- model is called; the assistant's reply, with the tokens it cost, after.
CREATE TABLE messages (
    id              bigserial   PRIMARY KEY,
    conversation_id uuid        NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    role            text        NOT NULL CHECK (role IN ('user', 'assistant')),
    content         text        NOT NULL,
    model           text        NOT NULL DEFAULT '',
    input_tokens    bigint      NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
    output_tokens   bigint      NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX messages_by_conversation ON messages (conversation_id, id);

-- memory_search_vector is the full-text document of a memory: its tags
-- (weight A, so a tag match outranks a passing mention) and its content
-- (weight B), with English stemming. It is IMMUTABLE so that a generated
-- column can use it: array_to_string is only STABLE in general, but text[]
-- renders the same way whatever the session settings.
CREATE FUNCTION memory_search_vector(content text, tags text[]) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT setweight(to_tsvector('pg_catalog.english', coalesce(array_to_string(tags, ' '), '')), 'A')
        || setweight(to_tsvector('pg_catalog.english', content), 'B')
$$;

-- Memories the customer (or their assistant) chose to keep. note_path and
-- note_entry locate the same memory in the workspace's daily note
-- (memory/YYYY-MM-DD.md), so deleting a memory removes it there too.
CREATE TABLE memories (
    id         bigserial   PRIMARY KEY,
    content    text        NOT NULL CHECK (content <> ''),
    tags       text[]      NOT NULL DEFAULT '{}',
    note_path  text        NOT NULL DEFAULT '',
    note_entry text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    search     tsvector    GENERATED ALWAYS AS (memory_search_vector(content, tags)) STORED
);
CREATE INDEX memories_search ON memories USING gin (search);

-- The customer's skill switches. A skill of the plan without a row is
-- enabled; skills outside the plan are off whatever is stored here.
CREATE TABLE skill_settings (
    name       text        PRIMARY KEY,
    enabled    boolean     NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
