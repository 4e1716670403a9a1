// Package bus is the platform's one way onto NATS JetStream: idempotent
// stream setup, publishing protobuf messages as protojson with a
// deterministic Nats-Msg-Id, durable consumers whose handler results map to
// the JetStream ack vocabulary, and the step-worker kit every step service
// answers the saga with.
//
// # Delivery: at least once
//
// Every service reads the stream CLAW through one durable pull consumer
// (replicas share it) with explicit acks. A message is delivered until a
// handler settles it, so a handler may see the same message more than once:
// after a crash, after AckWait passes without an ack, or when an operator
// re-publishes history. Nothing is ever delivered exactly once; every
// handler must be idempotent.
//
// # The ack table
//
// Run maps what a handler returns onto the server's vocabulary:
//
//	handler returns                          consumer does
//	nil                                      Ack: done, never delivered to this consumer again
//	Permanent(err), or an undecodable payload copy to deadletter.<consumer>, then Term
//	any other error                          NakWithDelay: redeliver after the error's own
//	                                         delay (RetryAfter, Delayed) or Backoff
//	any error on delivery MaxDeliver         copy to deadletter.<consumer>, then Term
//	(still running at AckWait/3)             InProgress, so the server does not redeliver it
//
// If the dead-letter copy cannot be stored the message is Nak'ed instead:
// nothing is terminated without its copy.
//
// # The duplicate window and the journal
//
// Publish sets Nats-Msg-Id, and the stream drops a second message with the
// same id within its duplicate window (2 minutes). That makes a redelivered
// handler's republish harmless, but only for two minutes. Idempotency beyond
// the window rests on state: the saga keys sagas by checkout session and
// ignores results of attempts not in flight; step services find by name
// before they create; and a StepWorker with a Journal records every command
// it carried out (by JournalKey), so a command replayed days later is
// acknowledged without acting again.
//
// # Step workers
//
// StepWorker is the protocol between the saga and a step service: a handler
// registered with HandleStep gets the command and returns its answer or an
// error, and the worker checks the command, publishes the answer under
// StepEnvelope's message id, consults and writes the Journal, turns a
// permanent error or a failure on the last delivery (Delivery.Last) into
// <domain>.failed before the command is terminated, and counts everything in
// claw_step_commands_total.
//
// # Dead letters and re-drive
//
// A terminated message is first copied to the stream CLAW_DLQ on
// deadletter.<consumer>, with headers saying why (Claw-Dead-Reason), where
// from (Claw-Dead-Subject, Claw-Dead-Sequence) and who gave up
// (Claw-Dead-Consumer). Operators inspect dead letters and re-drive them
// (clawctl deadletters, docs/runbooks/replay.md): a re-driven message is
// published again on its original subject with message id
// redrive-<dead-letter sequence>, so re-driving the same dead letter twice
// within the window is dropped by the stream, and after it the handlers'
// state makes the second one change nothing.
package bus
