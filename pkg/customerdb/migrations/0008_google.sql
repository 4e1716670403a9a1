-- 0008_google: the customer's connected Google account (Gmail and Calendar,
-- Pro and Team) and the mail drafts waiting for the customer's "send".
-- Tokens are stored sealed (AES-256-GCM under a key the runtime derives
-- from its instance secret, services/runtime/internal/google): a copy of
-- this database alone does not open the customer's mailbox.
CREATE TABLE google_account (
    id            boolean     PRIMARY KEY DEFAULT true CHECK (id),
    email         text        NOT NULL,
    scopes        text[]      NOT NULL,
    access_token  bytea       NOT NULL,
    refresh_token bytea       NOT NULL,
    expires_at    timestamptz NOT NULL,
    connected_at  timestamptz NOT NULL DEFAULT now(),
    refreshed_at  timestamptz
);

-- A draft the assistant made that only the customer may send: the tool
-- that sends it needs the customer's own message "send <code>" in the
-- same conversation before expires_at.
CREATE TABLE google_pending_sends (
    code            text        PRIMARY KEY,
    conversation_id uuid        NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    draft_id        text        NOT NULL,
    recipients      text        NOT NULL,
    subject         text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    sent_at         timestamptz
);
