package domain

import (
	"fmt"
	"time"
)

// Send is a command the caller must publish after persisting the
// transition: a step's forward command, or its compensation.
type Send struct {
	Step    StepName
	Attempt int
	// Compensation marks the undo command of Step.
	Compensation bool
}

// Command is what c asks of its step service.
func (c Send) Command() Command { return CommandOf(c.Step, c.Compensation) }

// MsgID is the command's deterministic Nats-Msg-Id: saga id + step +
// attempt + "cmd", so a re-sent attempt is a new message and a republished
// one is a duplicate.
func (c Send) MsgID(sagaID string) string {
	if c.Compensation {
		return fmt.Sprintf("%s-%s-%d-compensate-cmd", sagaID, c.Step, c.Attempt)
	}
	return fmt.Sprintf("%s-%s-%d-cmd", sagaID, c.Step, c.Attempt)
}

// StartedMsgID is the Nats-Msg-Id of the saga.step_started event announcing c.
func (c Send) StartedMsgID(sagaID string) string {
	if c.Compensation {
		return fmt.Sprintf("%s-%s-%d-compensate-started", sagaID, c.Step, c.Attempt)
	}
	return fmt.Sprintf("%s-%s-%d-started", sagaID, c.Step, c.Attempt)
}

// FinishedMsgID is the Nats-Msg-Id of the event announcing that the saga
// reached final status st.
func FinishedMsgID(sagaID string, st Status) string { return sagaID + "-" + string(st) }

// Failure kinds, the reason_kind label of claw_saga_step_failures_total.
const (
	// FailReported: the step service published <domain>.failed.
	FailReported = "reported"
	// FailTimeout: an attempt passed its deadline (it may be retried).
	FailTimeout = "timeout"
	// FailCompensation: a compensation reported failure or timed out.
	FailCompensation = "compensation"
)

// Note is something that happened during a transition, for metrics and logs.
type Note struct {
	Kind NoteKind
	Step StepName
	// FailKind is one of the Fail* constants for NoteStepFailure.
	FailKind string
	// Duration is the step's duration for NoteStepDone.
	Duration time.Duration
}

// NoteKind says what a Note records.
type NoteKind int

// Note kinds.
const (
	NoteStepDone NoteKind = iota + 1
	NoteStepFailure
	NoteCompensationStarted
)

// Outcome tells the caller what a transition did.
type Outcome struct {
	// Changed is true when the saga must be saved.
	Changed bool
	// Sends are the commands to publish, in order.
	Sends []Send
	// Finished is the final status reached by this transition, "" if none.
	Finished Status
	// Notes feed metrics.
	Notes []Note
	// Ignored says why the input changed nothing ("" when it did).
	Ignored string
}

func (o *Outcome) ignore(format string, args ...any) {
	o.Ignored = fmt.Sprintf(format, args...)
}

func (o *Outcome) note(n Note) { o.Notes = append(o.Notes, n) }
