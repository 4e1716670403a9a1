-- The neon driver's record of where customers live when NEON_PLACEMENT is
-- sharded: the projects (shards) customers' branches are spread across, and
-- each customer's shard. A customer is placed (recorded) before its branch is
-- made, so a retried create, a delete, an archive or a restore find the same
-- project. capacity is how many customers a shard takes (the branches per
-- project limit less the branches that are not customers').
CREATE TABLE IF NOT EXISTS neon_shards (
    seq              integer PRIMARY KEY,
    project_id       text NOT NULL UNIQUE,
    parent_branch_id text NOT NULL,
    capacity         integer NOT NULL CHECK (capacity >= 0)
);

CREATE TABLE IF NOT EXISTS neon_placements (
    database   text PRIMARY KEY,
    project_id text NOT NULL REFERENCES neon_shards (project_id),
    placed_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS neon_placements_project ON neon_placements (project_id);
