-- Google connections in progress (Connect Google on the dashboard): the
-- OAuth state, stored only as its SHA-256, bound to the browser session
-- that started it, single use (used_at) and short-lived (expires_at), with
-- the PKCE code verifier the callback needs for the exchange. The tokens
-- themselves never rest here: the callback hands them to the customer's
-- instance.
CREATE TABLE google_oauth_states (
    state_hash   bytea PRIMARY KEY CHECK (octet_length(state_hash) = 32),
    session_hash bytea NOT NULL CHECK (octet_length(session_hash) = 32),
    customer_id  text NOT NULL,
    verifier     text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz NULL
);
CREATE INDEX google_oauth_states_expiry ON google_oauth_states (expires_at);
