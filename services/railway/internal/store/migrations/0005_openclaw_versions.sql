-- Side-by-side OpenClaw installs (OPENCLAW_INSTALLS/<version>/): the version
-- each instance on the openclaw engine runs, '' until it first starts on
-- that engine (it then gets the pinned version), and the pinned version
-- itself, which a successful rollout moves (one row).
ALTER TABLE instances ADD COLUMN openclaw_version text NOT NULL DEFAULT '';

CREATE TABLE openclaw_pin (
    one        boolean PRIMARY KEY DEFAULT true CHECK (one),
    version    text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
