-- 0006_storage: a storage cap per customer. storage_usage keeps the bytes
-- the customer's memories and conversations (their messages, tool calls
-- and screenshots) hold, kept current by an AFTER ROW trigger on each of
-- those tables; a write that would take it past the plan's cap
-- (instance_plan.storage_bytes, written with the plan) is refused with
-- SQLSTATE CL507 and a message saying so. Deleting always succeeds, so a
-- customer over the cap (a downgrade) keeps everything and can make room.
--
-- Bytes are the octet lengths of what the customer stored (texts, tags,
-- PNGs), not Postgres's on-disk size: predictable, the same on every
-- server, and what the customer can reason about.

ALTER TABLE instance_plan ADD COLUMN storage_bytes bigint NULL CHECK (storage_bytes > 0);

-- from_config marks a plan the runtime recorded from its own configuration
-- because none was recorded (customerdb.EnsurePlan): the runtime refreshes
-- it at each start (a resize restarts it with the new plan), and the
-- workspace service's record (SetPlan) replaces it for good.
ALTER TABLE instance_plan ADD COLUMN from_config boolean NOT NULL DEFAULT false;

-- Exactly one row: the running total. Every accounted write updates it, so
-- writes of one customer take turns on its row lock (per customer only).
CREATE TABLE storage_usage (
    id    boolean PRIMARY KEY DEFAULT true CHECK (id),
    bytes bigint  NOT NULL DEFAULT 0
);

-- storage_account adds the size change of one row to storage_usage and
-- refuses growth past the cap.
CREATE FUNCTION storage_account() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    new_bytes bigint := 0;
    old_bytes bigint := 0;
    delta     bigint;
    used      bigint;
    cap       bigint;
BEGIN
    -- Each branch names only its own table's columns: PL/pgSQL prepares a
    -- statement when it first runs, per table.
    IF TG_OP <> 'DELETE' THEN
        IF TG_TABLE_NAME = 'memories' THEN
            new_bytes := octet_length(NEW.content) + coalesce(octet_length(array_to_string(NEW.tags, '')), 0);
        ELSIF TG_TABLE_NAME = 'conversations' THEN
            new_bytes := octet_length(NEW.title) + octet_length(NEW.agent);
        ELSIF TG_TABLE_NAME = 'messages' THEN
            new_bytes := octet_length(NEW.content);
        ELSIF TG_TABLE_NAME = 'tool_calls' THEN
            new_bytes := octet_length(NEW.input) + octet_length(NEW.result);
        ELSIF TG_TABLE_NAME = 'screenshots' THEN
            new_bytes := octet_length(NEW.png);
        END IF;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        IF TG_TABLE_NAME = 'memories' THEN
            old_bytes := octet_length(OLD.content) + coalesce(octet_length(array_to_string(OLD.tags, '')), 0);
        ELSIF TG_TABLE_NAME = 'conversations' THEN
            old_bytes := octet_length(OLD.title) + octet_length(OLD.agent);
        ELSIF TG_TABLE_NAME = 'messages' THEN
            old_bytes := octet_length(OLD.content);
        ELSIF TG_TABLE_NAME = 'tool_calls' THEN
            old_bytes := octet_length(OLD.input) + octet_length(OLD.result);
        ELSIF TG_TABLE_NAME = 'screenshots' THEN
            old_bytes := octet_length(OLD.png);
        END IF;
    END IF;
    delta := new_bytes - old_bytes;
    IF delta = 0 THEN
        RETURN NULL;
    END IF;
    UPDATE storage_usage SET bytes = greatest(bytes + delta, 0) RETURNING bytes INTO used;
    IF delta > 0 THEN
        SELECT storage_bytes INTO cap FROM instance_plan;
        IF cap IS NOT NULL AND used > cap THEN
            RAISE EXCEPTION USING
                ERRCODE = 'CL507',
                MESSAGE = format('storage full: this write needs %s bytes and %s of the plan''s %s bytes are in use',
                                 delta, used - delta, cap),
                HINT = 'delete memories or conversations, or move to a plan with more storage';
        END IF;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER storage_account AFTER INSERT OR UPDATE OR DELETE ON memories
    FOR EACH ROW EXECUTE FUNCTION storage_account();
CREATE TRIGGER storage_account AFTER INSERT OR UPDATE OR DELETE ON conversations
    FOR EACH ROW EXECUTE FUNCTION storage_account();
CREATE TRIGGER storage_account AFTER INSERT OR UPDATE OR DELETE ON messages
    FOR EACH ROW EXECUTE FUNCTION storage_account();
CREATE TRIGGER storage_account AFTER INSERT OR UPDATE OR DELETE ON tool_calls
    FOR EACH ROW EXECUTE FUNCTION storage_account();
CREATE TRIGGER storage_account AFTER INSERT OR UPDATE OR DELETE ON screenshots
    FOR EACH ROW EXECUTE FUNCTION storage_account();

-- What is stored already counts from the start.
INSERT INTO storage_usage (bytes) SELECT
      (SELECT coalesce(sum(octet_length(content) + coalesce(octet_length(array_to_string(tags, '')), 0)), 0) FROM memories)
    + (SELECT coalesce(sum(octet_length(title) + octet_length(agent)), 0) FROM conversations)
    + (SELECT coalesce(sum(octet_length(content)), 0) FROM messages)
    + (SELECT coalesce(sum(octet_length(input) + octet_length(result)), 0) FROM tool_calls)
    + (SELECT coalesce(sum(octet_length(png)), 0) FROM screenshots);
