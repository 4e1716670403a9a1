-- The W3C trace context (traceparent and tracestate, as a small JSON object)
-- each record was made in, so that what the coordinator publishes later —
-- from the outbox, after a deadline, after a restart, or when a pending
-- customer event is finally applied — continues the same trace. Empty when
-- the cause carried no trace.
ALTER TABLE sagas ADD COLUMN trace_context text NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN trace_context text NOT NULL DEFAULT '';
ALTER TABLE customer_events ADD COLUMN trace_context text NOT NULL DEFAULT '';
