-- A stopped instance (suspended or canceled customer) keeps its row and its
-- port: the process driver answers there with a small responder that tells
-- API callers why (stop_reason), until the instance is started or deleted.
ALTER TABLE instances DROP CONSTRAINT instances_desired_state_check;
ALTER TABLE instances ADD CONSTRAINT instances_desired_state_check
    CHECK (desired_state IN ('running', 'stopped', 'deleted'));
ALTER TABLE instances ADD COLUMN stop_reason text NOT NULL DEFAULT '';

-- A stopped instance's responder holds the port too.
DROP INDEX instances_running_port;
CREATE UNIQUE INDEX instances_running_port ON instances (port) WHERE desired_state IN ('running', 'stopped');
