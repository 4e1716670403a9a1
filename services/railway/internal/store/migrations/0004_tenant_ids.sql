-- The operating-system identity of each customer's runtime under the process
-- driver: a uid (and the gid of the same number) from the configured range,
-- held while the customer's compute exists and freed only when it is
-- deleted, so no two customers ever share one and a restart of the service
-- gives each customer back the one its files are owned by.
CREATE TABLE tenant_ids (
    customer_id  text PRIMARY KEY,
    uid          integer NOT NULL UNIQUE CHECK (uid > 0),
    allocated_at timestamptz NOT NULL DEFAULT now()
);
