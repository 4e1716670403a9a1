-- One row per customer's compute instance under the process driver. A
-- deleted instance keeps its row as a tombstone (desired_state 'deleted'),
-- so a replayed delete is a no-op and a new provision reuses the row.
CREATE TABLE instances (
    customer_id   text PRIMARY KEY,
    service_name  text NOT NULL,
    port          integer NOT NULL CHECK (port BETWEEN 1 AND 65535),
    plan          text NOT NULL,
    database_ref  text NOT NULL,
    -- The plan's limits as recorded at provisioning (see the process driver
    -- for which of them a child process can honour).
    vcpus         double precision NOT NULL,
    memory_mb     integer NOT NULL,
    desired_state text NOT NULL CHECK (desired_state IN ('running', 'deleted')),
    -- The live child process, if any; NULL once it has exited.
    pid           integer,
    started_at    timestamptz,
    restarts      integer NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Two running instances never share a port.
CREATE UNIQUE INDEX instances_running_port ON instances (port) WHERE desired_state = 'running';
