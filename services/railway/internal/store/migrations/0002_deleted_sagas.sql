-- Sagas whose compute was deleted (compensated or deprovisioned). A provision
-- command of such a saga — redelivered, still in flight when the delete ran,
-- or replayed by an operator — must not bring the runtime back.
CREATE TABLE deleted_sagas (
    saga_id    text PRIMARY KEY,
    deleted_at timestamptz NOT NULL DEFAULT now()
);
