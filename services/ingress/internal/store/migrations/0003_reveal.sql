-- The one-time key reveal is bound to the browser that started checkout, and
-- expires: a key nobody revealed in time is deleted.

-- Lowercase hex SHA-256 of the nonce the starting browser holds
-- (metadata.reveal_hash of the Checkout Session); '' when none was bound,
-- and then nobody can reveal the key.
ALTER TABLE provisioning ADD COLUMN reveal_hash text NOT NULL DEFAULT '';
-- When the signup became ready; the reveal expires INGRESS_REVEAL_TTL later.
ALTER TABLE provisioning ADD COLUMN ready_at timestamptz;
-- The sweeper deleted the unrevealed key's secret.
ALTER TABLE provisioning ADD COLUMN api_key_expired boolean NOT NULL DEFAULT false;

-- Rows that were ready before this migration count from their last change.
UPDATE provisioning SET ready_at = updated_at WHERE status = 'ready' AND ready_at IS NULL;

-- The projector finds a row by its saga (saga ids no longer contain the
-- session id). Deliberately not UNIQUE: see saga_id in 0001.
CREATE INDEX provisioning_saga_id ON provisioning (saga_id);

-- The sweeper's work list: ready, unrevealed, not yet expired.
CREATE INDEX provisioning_reveal_pending ON provisioning (ready_at)
    WHERE status = 'ready' AND NOT api_key_revealed AND NOT api_key_expired;
