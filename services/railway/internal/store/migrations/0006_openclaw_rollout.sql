-- The OpenClaw rollout in progress (at most one, across restarts of the
-- compute service): what it moves to and how, whether it is rolling out or
-- back, and every instance it moved with the version it ran before and
-- whether it was found healthy on the new one. A compute service that
-- starts and finds a row here resumes the rollout (process.Driver); the row
-- is deleted when the rollout ends, whatever its outcome.
CREATE TABLE openclaw_rollout (
    one        boolean PRIMARY KEY DEFAULT true CHECK (one),
    to_version text NOT NULL,
    batch      integer NOT NULL CHECK (batch > 0),
    timeout_ms bigint NOT NULL CHECK (timeout_ms > 0),
    phase      text NOT NULL CHECK (phase IN ('rolling_out', 'rolling_back')),
    failure    text NOT NULL DEFAULT '',
    started_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE openclaw_rollout_moves (
    customer_id  text PRIMARY KEY,
    from_version text NOT NULL,
    healthy      boolean NOT NULL DEFAULT false,
    moved_at     timestamptz NOT NULL DEFAULT now()
);
